"""``rung reproduce`` pins what the run used and says why a difference happened (#11 §4).

Runs whose code is edited between the run and its reproduction go through the real ``rung``
executable: a reproduction imports the pipeline afresh, as a new process does.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli

_names = itertools.count()


def frame(version: int) -> pd.DataFrame:
    """Each version holds other values, so reading another version changes every hash."""
    return pd.DataFrame({"a": [float(version * 10 + i) for i in range(3 + version)]})


def ok(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = rung_cli(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def reproduce(root: Path, run_id: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`rung reproduce RUN --json`, which exits 1 when the run did not reproduce."""
    result = rung_cli("reproduce", str(run_id), "--json", cwd=root, env=env)
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == (0 if report["reproduced"] else 1), result.stderr
    assert "Traceback" not in result.stderr
    return report


def run(root: Path, target: str = "pipe.py:main", env: dict[str, str] | None = None) -> int:
    return int(json.loads(ok("run", target, "--json", cwd=root, env=env))["run"])


# -- dataset versions added after the run ----------------------------------------------------

READS = textwrap.dedent(
    """
    import rung
    from rung import pipeline, step

    @step
    def total(frame):
        rung.log_metric("total", float(frame["a"].sum()))
        return frame.assign(b=frame["a"] * 2)

    @step
    def read_inside(name: str):
        return rung.dataset(name).load().assign(b=1.0)   # a read the step makes itself

    @step
    def read_through_workspace(name: str):
        with rung.Workspace.open(__file__.rsplit("/", 1)[0]) as ws:
            return ws.data.get(name).to_pandas().assign(b=2.0)

    @pipeline
    def body(name: str = "cancer"):
        return total(rung.dataset(name))

    @pipeline
    def inside(name: str = "cancer"):
        return total(read_inside(name))

    @pipeline
    def workspace(name: str = "cancer"):
        return total(read_through_workspace(name))
    """
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    style=st.sampled_from(["body", "inside", "workspace"]),
    before=st.integers(1, 3),
    after=st.integers(1, 3),
)
def test_versions_added_after_the_run_leave_its_reproduction_exact(  # type: ignore[no-untyped-def]
    ws, style: str, before: int, after: int
) -> None:
    """However the run read the dataset — as a pipeline input, inside a step through
    rung.dataset, or through a Workspace inside a step — a reproduction reads the version the
    run read, not the newest one."""
    (ws.root / "reads.py").write_text(READS)
    name = f"d{next(_names)}"
    for v in range(1, before + 1):
        ws.data.add(frame(v), name=name)
    first = ws.run(f"reads.py:{style}", {"name": name})
    reads = ws.runs.get(first.id)["data_reads"]
    assert {r["dataset"] for r in reads} == {f"{name}@{before}"}
    for v in range(before + 1, before + after + 1):
        ws.data.add(frame(v), name=name)

    report = ws.runs.reproduce(first.id)
    assert report["reproduced"], report["summary"]
    assert report["pinned"]["datasets"] == {name: f"{name}@{before}"}
    assert report["diverged"] is None
    again = ws.runs.get(report["reproduction"])
    assert {r["dataset"] for r in again["data_reads"]} == {f"{name}@{before}"}
    # the pin is the reproduction's alone: a new run reads the newest version, and differs
    fresh = ws.run(f"reads.py:{style}", {"name": name})
    assert fresh.outputs != first.outputs
    assert {r["dataset"] for r in ws.runs.get(fresh.id)["data_reads"]} == {
        f"{name}@{before + after}"
    }


PIPE = textwrap.dedent(
    """
    import rung
    from rung import pipeline, step
    import helpers
    from helpers import scale

    @step
    def prep(frame, k: int = 2):
        return frame * scale(k)

    @step
    def fit(frame):
        value = helpers.summarise(frame)
        rung.log_metric("mean", value)
        return {"mean": value}

    @pipeline
    def main(n: int = 3):
        return fit(prep(rung.dataset("cancer")))
    """
)

HELPERS = textwrap.dedent(
    """
    OFFSET = 1.0

    def _double(k):
        return k * 2.0

    def scale(k):
        return _double(k) + 0.0

    def summarise(frame):
        return float(frame.to_numpy().mean()) + OFFSET
    """
)


@pytest.fixture
def project(ws):  # type: ignore[no-untyped-def]
    """A workspace on each backend with cancer@1..2 and a pipeline in files, for the CLI."""
    (ws.root / "pipe.py").write_text(PIPE)
    (ws.root / "helpers.py").write_text(HELPERS)
    for v in (1, 2):
        ws.data.add(frame(v), name="cancer")
    return ws


def test_the_issue_example_through_the_cli(project) -> None:  # type: ignore[no-untyped-def]
    """Run 1 read cancer@2; cancer@3 and @4 came later; `rung reproduce 1` reads cancer@2."""
    root = project.root
    first = run(root)
    for v in (3, 4):
        project.data.add(frame(v), name="cancer")
    text = rung_cli("reproduce", str(first), cwd=root)
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"pinned datasets (as run {first} read them): cancer → cancer@2" in text.stdout
    assert "reproduced exactly" in text.stdout
    report = reproduce(root, first)
    assert report["reproduced"] and report["pinned"]["datasets"] == {"cancer": "cancer@2"}
    assert report["pinned"]["params"] == {"n": 3}
    assert all(r["match"] for r in report["outputs"]) and report["outputs"]
    lineage = json.loads(ok("lineage", str(report["reproduction"]), "--json", cwd=root))
    assert "cancer@2" in json.dumps(lineage) and "cancer@4" not in json.dumps(lineage)


# -- code edited after the run -----------------------------------------------------------------

EDITS = [
    # (what is edited, the new text, the first step that diverges, the functions it names)
    ("scale", ("return _double(k) + 0.0", "return _double(k) + 1.0"), "prep", ["scale"]),
    ("a helper's helper", ("return k * 2.0", "return k * 3.0"), "prep", ["_double"]),
    (
        "a helper reached as module.attribute",
        ("to_numpy().mean())", "to_numpy().max())"),
        "fit",
        ["summarise"],
    ),
    ("a module constant", ("OFFSET = 1.0", "OFFSET = 2.0"), "fit", ["OFFSET"]),
]


@pytest.mark.parametrize(("what", "edit", "step", "functions"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edited_function_is_named_with_the_first_step_it_changed(  # type: ignore[no-untyped-def]
    project, what: str, edit: tuple[str, str], step: str, functions: list[str]
) -> None:
    root = project.root
    first = run(root)
    helpers = root / "helpers.py"
    assert edit[0] in helpers.read_text()
    helpers.write_text(helpers.read_text().replace(*edit))
    report = reproduce(root, first)
    assert not report["reproduced"]
    diverged = report["diverged"]
    assert diverged["step"] == step, report["summary"]
    kinds = [c["kind"] for c in diverged["causes"]]
    assert kinds == ["code"], diverged
    assert [f["name"] for f in diverged["causes"][0]["functions"]] == functions
    assert all(f["change"] == "changed" for f in diverged["causes"][0]["functions"])
    assert report["later"] == (["fit"] if step == "prep" else [])
    text = rung_cli("reproduce", str(first), cwd=root).stdout
    assert f"first difference: step {step}" in text
    assert f"code: changed {functions[0]}" in text and "did NOT reproduce" in text


def test_a_step_that_fails_now_is_the_first_difference(project) -> None:  # type: ignore[no-untyped-def]
    root = project.root
    first = run(root)
    helpers = root / "helpers.py"
    helpers.write_text(helpers.read_text().replace("return k * 2.0", "raise ValueError('no k')"))
    report = reproduce(root, first)
    assert not report["reproduced"] and "ValueError: no k" in report["error"]
    diverged = report["diverged"]
    assert diverged["step"] == "prep" and "ValueError: no k" in diverged["error"]
    assert [c["kind"] for c in diverged["causes"]] == ["code"]
    assert [f["name"] for f in diverged["causes"][0]["functions"]] == ["_double"]
    assert report["later"] == ["fit"]  # it never ran
    result = rung_cli("reproduce", str(first), cwd=root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "it failed: ValueError: no k" in result.stdout


def test_an_edit_that_changes_no_result_still_reproduces(project) -> None:  # type: ignore[no-untyped-def]
    root = project.root
    first = run(root)
    helpers = root / "helpers.py"
    helpers.write_text(helpers.read_text().replace("def scale(k):", "def scale(k):  # note"))
    helpers.write_text(helpers.read_text() + "\n\ndef unrelated():\n    return 42\n")
    report = reproduce(root, first)
    assert report["reproduced"] and report["diverged"] is None


# -- parameters ---------------------------------------------------------------------------------

PARAMS = [
    # (edit of pipe.py, reproduces?, the causes' kinds, a text the explanation holds)
    (("def main(n: int = 3)", "def main(n: int = 4)"), True, [], None),  # pinned as recorded
    (
        ("def prep(frame, k: int = 2)", "def prep(frame, k: int = 5)"),
        False,
        ["code", "parameters"],
        "k 2 → 5",
    ),
    (("prep(rung.dataset", "prep(k=7, frame=rung.dataset"), False, ["parameters"], "k 2 → 7"),
]


@pytest.mark.parametrize(
    ("edit", "same", "kinds", "says"),
    PARAMS,
    ids=["pipeline-default", "step-default", "pipeline-passes"],
)
def test_parameters_are_pinned_and_a_changed_step_parameter_is_named(  # type: ignore[no-untyped-def]
    project, edit: tuple[str, str], same: bool, kinds: list[str], says: str | None
) -> None:
    root = project.root
    first = run(root)
    pipe = root / "pipe.py"
    assert edit[0] in pipe.read_text()
    pipe.write_text(pipe.read_text().replace(*edit))
    report = reproduce(root, first)
    assert report["pinned"]["params"] == {"n": 3}
    assert report["reproduced"] is same, report["summary"]
    if same:
        return
    assert report["diverged"]["step"] == "prep"
    causes = report["diverged"]["causes"]
    assert [c["kind"] for c in causes] == kinds
    assert says in next(c["text"] for c in causes if c["kind"] == "parameters")
    if "code" in kinds:
        assert [f["name"] for f in causes[0]["functions"]] == ["prep"]


def test_a_parameter_the_run_did_not_record_is_reported(project) -> None:  # type: ignore[no-untyped-def]
    root = project.root
    first = run(root)
    pipe = root / "pipe.py"
    pipe.write_text(
        pipe.read_text().replace("def main(n: int = 3)", "def main(n: int = 3, extra: int = 1)")
    )
    report = reproduce(root, first)
    assert report["reproduced"] and report["pinned"]["not_recorded"] == ["extra"]
    text = rung_cli("reproduce", str(first), cwd=root).stdout
    assert f"parameters run {first} did not record (defaults used): extra" in text


# -- non-determinism ---------------------------------------------------------------------------

NOISY = textwrap.dedent(
    """
    import numpy as np
    import rung
    from rung import pipeline, step

    @step
    def steady(n: int = 4):
        return {"x": list(range(n))}

    @step
    def unseeded(data):
        return {"x": data["x"], "noise": float(np.random.default_rng().normal())}

    @step
    def noisy_metric(data):
        rung.log_metric("jitter", float(np.random.default_rng().normal()))
        return {"x": data["x"]}

    @step
    def after(data):
        return {"seen": data}

    @pipeline
    def output():
        return after(unseeded(steady()))

    @pipeline
    def metric():
        return after(noisy_metric(steady()))
    """
)


@pytest.mark.parametrize(
    ("target", "step", "later"), [("output", "unseeded", ["after"]), ("metric", "noisy_metric", [])]
)
def test_a_step_that_is_not_deterministic_is_named_with_none_of_these(  # type: ignore[no-untyped-def]
    ws, target: str, step: str, later: list[str]
) -> None:
    (ws.root / "noisy.py").write_text(NOISY)
    first = ws.run(f"noisy.py:{target}")
    report = ws.runs.reproduce(first.id)
    assert not report["reproduced"]
    diverged = report["diverged"]
    assert diverged["step"] == step  # `steady` before it matched
    assert [c["kind"] for c in diverged["causes"]] == ["none"]
    assert "none of these" in diverged["causes"][0]["text"]
    assert "seed" in diverged["causes"][0]["text"]
    assert report["later"] == later
    if target == "metric":
        assert diverged["metrics"] == ["jitter"] and diverged["outputs"] == []
    assert "none of these" in report["summary"]


# -- the environment ----------------------------------------------------------------------------

TOY = {
    "1.0": "def transform(frame):\n    return frame * 2.0\n",
    "1.1": "def transform(frame):\n    return frame * 2.0\n",  # a release that changes nothing
    "2.0": "def transform(frame):\n    return frame * 3.0\n",
}

USES_TOY = textwrap.dedent(
    """
    import rung
    import rungtoy
    from rung import pipeline, step

    @step
    def load():
        import pandas as pd
        return pd.DataFrame({"a": [1.0, 2.0, 3.0]})

    @step
    def transformed(frame):
        return rungtoy.transform(frame)

    @pipeline
    def main():
        return transformed(load())
    """
)


def install_toy(site: Path, version: str) -> None:
    """Install the one-module package ``rungtoy`` at ``version`` into ``site`` the way pip lays
    a package out: the module, and a ``rungtoy-VERSION.dist-info`` folder with its metadata."""
    for old in site.glob("rungtoy*"):
        for f in sorted(old.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        old.rmdir()
    (site / "rungtoy").mkdir(parents=True)
    (site / "rungtoy" / "__init__.py").write_text(TOY[version])
    info = site / f"rungtoy-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: rungtoy\nVersion: {version}\n")
    (info / "RECORD").write_text("")


@pytest.mark.parametrize(("upgrade", "same"), [("2.0", False), ("1.1", True)])
def test_a_package_upgrade_is_named_when_it_changes_a_step(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, upgrade: str, same: bool
) -> None:
    import os

    site = tmp_path / "venv" / "lib" / "site-packages"
    install_toy(site, "1.0")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(site)]))}
    (ws.root / "pipe.py").write_text(USES_TOY)
    first = run(ws.root, env=env)
    detail = ws.runs.get(first)
    assert detail["environment"]["packages"]["rungtoy"] == "1.0"
    step = next(s for s in detail["steps"] if s["name"] == "transformed")
    assert step["code_detail"]["packages"] == {"rungtoy": "1.0"}

    install_toy(site, upgrade)
    report = reproduce(ws.root, first, env=env)
    assert report["reproduced"] is same, report["summary"]
    if same:
        return
    diverged = report["diverged"]
    assert diverged["step"] == "transformed"
    assert [c["kind"] for c in diverged["causes"]] == ["environment"]
    assert diverged["causes"][0]["packages"] == [
        {"package": "rungtoy", "original": "1.0", "reproduced": "2.0"}
    ]
    text = rung_cli("reproduce", str(first), cwd=ws.root, env=env).stdout
    assert "environment: rungtoy 1.0 → 2.0" in text


# -- what a reproduction refuses and how steps are matched ------------------------------------


def test_a_failed_run_that_fails_again_says_why_in_one_line(project) -> None:  # type: ignore[no-untyped-def]
    """A run that failed has nothing to compare: its reproduction's error is the answer."""
    root = project.root
    helpers = root / "helpers.py"
    helpers.write_text(HELPERS.replace("return _double(k) + 0.0", "raise ValueError('no')"))
    assert rung_cli("run", "pipe.py:main", cwd=root).returncode != 0
    failed = project.runs.list(1)[0].id
    result = rung_cli("reproduce", str(failed), cwd=root)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "error: step 'prep' failed with ValueError: no" in result.stderr


TWICE = textwrap.dedent(
    """
    import numpy as np
    from rung import pipeline, step

    @step
    def make(n: int, noisy: bool = False):
        extra = float(np.random.default_rng().normal()) if noisy else 0.0
        return {"x": list(range(n)), "extra": extra}

    @pipeline
    def main():
        return make(3), make(4, noisy=True)
    """
)


def test_a_step_called_twice_is_compared_call_by_call(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "twice.py").write_text(TWICE)
    first = ws.run("twice.py:main")
    report = ws.runs.reproduce(first.id)
    rows = {r["output"]: r["match"] for r in report["outputs"]}
    assert rows == {"make.output": True, "make#2.output": False}
    assert report["diverged"]["step"] == "make#2"
    assert [c["kind"] for c in report["diverged"]["causes"]] == ["none"]


def test_a_step_reading_a_dataset_by_name_is_not_cached_once_the_name_moves_on(ws) -> None:  # type: ignore[no-untyped-def]
    """The cache key cannot cover a read made inside the step; the recorded read is checked
    instead: the same version again is a hit, a newer version executes the step."""
    (ws.root / "reads.py").write_text(READS)
    ws.data.add(frame(1), name="inner")
    first = ws.run("reads.py:inside", {"name": "inner"})
    again = ws.run("reads.py:inside", {"name": "inner"})
    assert again.cached == 2 and again.outputs == first.outputs
    assert ws.runs.get(again.id)["data_reads"][0]["dataset"] == "inner@1"  # copied on a hit
    ws.data.add(frame(2), name="inner")
    moved = ws.run("reads.py:inside", {"name": "inner"})
    assert [s.outcome for s in moved.steps] == ["executed", "executed"]
    assert moved.outputs != first.outputs
    tree = json.dumps(ws.runs.lineage(str(again.id)))  # the read is in the lineage
    assert "dataset inner@1 (read inside the step as 'inner')" in tree
    # a reproduction of the cached run still reads inner@1
    report = ws.runs.reproduce(again.id)
    assert report["reproduced"] and report["pinned"]["datasets"] == {"inner": "inner@1"}


def test_a_run_recorded_before_reads_were_kept_is_pinned_from_its_lineage(ws) -> None:  # type: ignore[no-untyped-def]
    """Runs recorded before migration 0014 have no data_reads and no per-function hashes:
    the versions their steps took as inputs pin them, and a code change is still found."""
    (ws.root / "reads.py").write_text(READS)
    ws.data.add(frame(1), name="old")
    ws.data.add(frame(2), name="old")
    first = ws.run("reads.py:body", {"name": "old"})
    with ws.store.write() as tx:  # what such a run's rows hold
        tx.execute("UPDATE runs SET data_reads = NULL WHERE id = :id", {"id": first.id})
        tx.execute("UPDATE step_runs SET code_detail = NULL WHERE run_id = :id", {"id": first.id})
    ws.data.add(frame(3), name="old")
    report = ws.runs.reproduce(first.id)
    assert report["reproduced"], report["summary"]
    assert report["pinned"]["datasets"] == {"old": "old@2"}


def test_a_module_is_recorded_under_the_distribution_that_installed_it() -> None:
    """``sklearn`` comes from ``scikit-learn``: found through its folder's metadata."""
    import sklearn

    from rung.pipelines.environment import package_versions

    assert package_versions(["sklearn", "numpy", "not_installed_anywhere"]) == {
        "scikit-learn": sklearn.__version__,
        "numpy": __import__("numpy").__version__,
    }


UNTRACKED = textwrap.dedent(
    """
    import pandas as pd
    from rung import pipeline, step

    @step
    def load(n: int = 1):
        return pd.read_csv("extra.csv")

    @pipeline
    def p(n: int = 1):
        return load(n=n)
    """
)


def test_a_file_read_directly_is_named_as_a_possible_cause(ws, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """dvc#1164's kind: a step read a file rung does not track and the file changed. The
    diagnosis must not state as fact that the data was the same: it names what rung cannot
    see (a file opened directly) and how to make it seen (a dataset)."""
    monkeypatch.chdir(ws.root)
    (ws.root / "untracked.py").write_text(UNTRACKED)
    (ws.root / "extra.csv").write_text("a,b\n1,2\n")
    first = ws.run("untracked.py:p")
    (ws.root / "extra.csv").write_text("a,b\n1,5\n")
    report = ws.runs.reproduce(first.id)
    assert not report["reproduced"]
    (cause,) = report["diverged"]["causes"]
    assert cause["kind"] == "none"
    assert "a file opened directly" in cause["text"] and "rung.dataset" in cause["text"]
