"""The real ``rung`` executable: happy paths, JSON output, and every bad input named in #2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from conftest import rung_cli

PIPELINE = textwrap.dedent(
    """
    import rung
    from rung import pipeline, step

    @step
    def load(scale: float = 1.0):
        import pandas as pd
        return pd.DataFrame({"x": [1.0, 2.0, 3.0]}) * scale

    @step
    def summarise(frame):
        rung.log_metric("mean", float(frame["x"].mean()))
        return {"mean": float(frame["x"].mean())}

    @step
    def opaque(summary):
        return object()

    @pipeline
    def main(scale: float = 1.0):
        return summarise(load(scale))

    @pipeline
    def bad_output():
        return opaque(summarise(load()))
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    assert rung_cli("init", str(root), cwd=tmp_path).returncode == 0
    (root / "pipe.py").write_text(PIPELINE)
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]}).to_csv(root / "d.csv", index=False)
    return root


def ok(*args: str, cwd: Path) -> str:
    result = rung_cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command that must fail with one clear line and no traceback."""
    result = rung_cli(*args, cwd=cwd, env=env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # progress lines may precede
    assert "Traceback" not in result.stderr
    return errors[0]


def test_a_full_tour_with_json(project: Path) -> None:
    added = json.loads(ok("data", "add", "d.csv", "--name", "d", "--json", cwd=project))
    assert added["version"] == 1 and added["rows"] == 3 and added["new"]
    assert "unchanged" in ok("data", "add", "d.csv", "--name", "d", cwd=project)
    listed = json.loads(ok("data", "list", "--json", cwd=project))
    assert [d["ref"] for d in listed] == ["d@1"]
    shown = json.loads(ok("data", "show", "d@1", "--json", cwd=project))
    assert shown["schema"]["columns"]["b"]["kind"] == "categorical"
    pd.DataFrame({"a": [1, 2, 3, 4], "c": [0, 0, 0, 0]}).to_csv(project / "d.csv", index=False)
    ok("data", "add", "d.csv", "--name", "d", cwd=project)
    diff = json.loads(ok("data", "diff", "d@1", "d@2", "--json", cwd=project))
    assert diff["columns_added"] == ["c"] and diff["columns_removed"] == ["b"]

    first = json.loads(ok("run", "pipe.py:main", "-p", "scale=2", "--json", cwd=project))
    assert first["executed"] == 2
    second = ok("run", "pipe.py:main", "-p", "scale=2", cwd=project)
    assert "all 2 steps cached — nothing executed" in second
    runs = json.loads(ok("runs", "--json", cwd=project))
    assert [r["id"] for r in runs] == [2, 1] and runs[0]["cached"] == 2
    detail = json.loads(ok("show", "1", "--json", cwd=project))
    assert detail["params"] == {"scale": 2.0} and detail["metrics"] == {"mean": 4.0}
    assert "metrics" in ok("show", "1", cwd=project)
    tree = json.loads(ok("lineage", "1", "--json", cwd=project))
    assert tree["children"][0]["step"]["name"] == "summarise"
    assert "summarise" in ok("lineage", "1", cwd=project)
    report = json.loads(ok("reproduce", "1", "--json", cwd=project))
    assert report["reproduced"] is True


def test_no_workspace(tmp_path: Path) -> None:
    line = fails("runs", cwd=tmp_path)
    assert "no rung workspace" in line and "rung init" in line


def test_unknown_dataset_version_and_run(project: Path) -> None:
    assert "unknown dataset 'nope'" in fails("data", "show", "nope", cwd=project)
    ok("data", "add", "d.csv", "--name", "d", cwd=project)
    assert "has no version 9" in fails("data", "show", "d@9", cwd=project)
    assert "unknown run '42'" in fails("show", "42", cwd=project)
    assert "run id 'abc' is not a whole number" in fails("show", "abc", cwd=project)


def test_malformed_parameter_changes_nothing(project: Path) -> None:
    line = fails("run", "pipe.py:main", "-p", "scale", cwd=project)
    assert "malformed parameter 'scale'" in line and "key=value" in line
    assert "no parameter 'scal'" in fails("run", "pipe.py:main", "-p", "scal=2", cwd=project)
    assert json.loads(ok("runs", "--json", cwd=project)) == []


def test_a_step_returning_an_unstorable_type(project: Path) -> None:
    line = fails("run", "pipe.py:bad_output", cwd=project)
    assert "step 'opaque' returned a builtins.object" in line and "pickle=True" in line
    runs = json.loads(ok("runs", "--json", cwd=project))
    assert runs[0]["status"] == "failed"


def test_a_corrupted_artifact(project: Path) -> None:
    ok("data", "add", "d.csv", "--name", "d", cwd=project)
    digest = json.loads(ok("data", "show", "d", "--json", cwd=project))["hash"]
    obj = project / ".rung" / "artifacts" / "objects" / digest[:2] / digest[2:]
    obj.write_bytes(b"rotten")
    (project / "load.py").write_text(
        "import rung\nws = rung.Workspace.open()\nprint(ws.data.get('d@1').load())\n"
    )
    result = rung_cli("data", "diff", "d@1", "d@1", cwd=project)  # reads metadata only: fine
    assert result.returncode == 0
    (project / "p2.py").write_text(
        "import rung\n@rung.step\ndef use(d):\n    return len(d)\n"
        "@rung.pipeline\ndef p():\n    return use(rung.dataset('d@1'))\n"
    )
    line = fails("run", "p2.py:p", cwd=project)
    assert "dataset d@1" in line and "corrupted" in line and "restore" in line


def test_an_unreachable_postgres_url(project: Path) -> None:
    env = {"RUNG_STORE_URL": "postgresql+psycopg://rung:pw@127.0.0.1:1/rung"}
    line = fails("runs", cwd=project, env=env)
    assert (
        "cannot reach the metadata store at postgresql+psycopg://rung:***@127.0.0.1:1/rung" in line
    )
    assert "RUNG_STORE_URL" in line


def test_debug_shows_the_traceback(project: Path) -> None:
    result = rung_cli("--debug", "show", "42", cwd=project)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_usage_mistakes_are_one_line_without_traceback(project: Path) -> None:
    for args in (("bogus",), ("show",), ("data", "add", "d.csv")):
        result = rung_cli(*args, cwd=project)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_version(tmp_path: Path) -> None:
    result = rung_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("rung ")
