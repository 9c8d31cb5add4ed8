"""Small messages that said the wrong thing (issue 10, new-user report item 21): an empty
``--window``/``--reference`` silently meant the default; ``--window 0d`` was "at most a
century"; a 422 embedded pandas' multi-line advice; ``rung serve`` said it was serving a model
that then failed its warm-up."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import RUNG, rung_cli
from model_project import TRAIN, frame
from rung.core.columns import ColumnKind, problem
from rung.core.errors import InvalidInput, ModelFailed, NotFound, RungError, Untrusted


@given(st.text(), st.one_of(st.none(), st.text()))
def test_every_error_is_one_line(message: str, hint: str | None) -> None:
    for kind in (RungError, InvalidInput, NotFound, Untrusted, ModelFailed):
        err = kind(message, hint)
        assert "\n" not in err.message and "\r" not in err.message
        assert err.hint is None or ("\n" not in err.hint and "\r" not in err.hint)
        assert "\n" not in str(err)


@pytest.mark.parametrize(
    "value", ["2024-13-45", "2024-02-30", "2024-01-01T25:00", "2024-01-01T12:61"]
)
def test_an_impossible_date_is_one_short_line(value: str) -> None:
    for zone in (None, "UTC"):
        spec = ColumnKind("datetime", timezone=zone)
        said = problem(value, spec)
        assert said is not None and "\n" not in said, said
        assert "You might want" not in said and value in said, said


@pytest.fixture
def served(sqlite_ws):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    (ws.root / "brokenmod.py").write_text(
        "class Broken:\n"
        "    feature_names_in_ = ['a']\n"
        "    n_features_in_ = 1\n"
        "    def predict(self, frame):\n"
        "        raise RuntimeError('always')\n"
    )
    (ws.root / "p.py").write_text(
        "import rung\nfrom brokenmod import Broken\n\n"
        "@rung.step(pickle=True)\ndef fit():\n    return Broken()\n\n"
        "@rung.pipeline\ndef train():\n    return fit()\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])}
    run = rung_cli("run", "p.py:train", cwd=ws.root, env=env)
    assert run.returncode == 0, run.stderr
    run_id = re.search(r"run (\d+):", run.stdout + run.stderr)
    assert run_id, run.stdout
    reg = rung_cli(
        "model", "register", run_id.group(1), "--name", "broken", "--allow-pickle",
        cwd=ws.root, env=env,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stderr
    return ws, env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", ""], "cannot read the window ''"),
        (["--window", " "], "cannot read the window"),
        (["--window", "0d"], "window '0d' is too short — give a period above 0"),
        (["--window", "0m"], "too short"),
        (["--window", "101000d"], "too long — give a period of at most a century"),
        (["--reference", ""], "empty reference ''"),
    ],
)
def test_monitor_options_given_empty_or_zero_are_refused(
    served: Any, args: list[str], message: str
) -> None:
    ws, _ = served
    out = rung_cli("monitor", "trend@1", *args, cwd=ws.root)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_serve_says_serving_only_once_it_serves(served: Any, tmp_path: Path) -> None:
    ws, env = served
    out = subprocess.run(
        [RUNG, "serve", "broken@1", "--port", "0"],
        cwd=ws.root, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out
    assert "serving" not in out.stderr and "http://" not in out.stderr, out.stderr
    assert out.stderr.startswith("error: the model raised RuntimeError"), out.stderr
    proc = subprocess.Popen(
        [RUNG, "serve", "trend@1", "--port", "0"],
        cwd=ws.root, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        match = re.match(
            r"serving trend@1 \(version 1\) on http://127\.0\.0\.1:(\d+)$", line.strip()
        )
        assert match and match.group(1) != "0", line  # the real port of --port 0
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{match.group(1)}/v2/health/live"
                ) as r:
                    assert r.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
