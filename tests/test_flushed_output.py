"""A command killed mid-way has printed what it did (report t11user item 10): every line a
command prints reaches a file or a pipe when printed — `rung automate tick` under cron
prints what fired and which job started before the job's long steps, and the CLI's entry
point makes stdout and stderr flush per line (`rung.cli.render.line_buffered`), so
nothing sits in a block buffer when a SIGKILL comes. Real processes, writing to a file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RUNG, rung_cli
from model_project import frame
from test_automation import setup

pytest.importorskip("sklearn")


def _kill_after(cmd: list[str], cwd: Path, log: Path, marker: Path, wanted: str) -> str:
    """Start ``cmd`` writing stdout and stderr to ``log`` (a file: block-buffered unless
    flushed), the slow fit announcing itself in ``marker``; SIGKILL it once it is in the
    fit and ``wanted`` is in the log (or after 60 s). Returns the log."""
    env = {**os.environ, "SLOW_FIT": str(marker)}
    env.pop("PYTHONUNBUFFERED", None)  # Python's own buffering, as under cron
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not (marker.exists() and wanted in log.read_text()):
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert marker.exists(), log.read_text()  # killed inside the pipeline run
    return log.read_text()


@pytest.mark.parametrize(
    "command", [["automate", "tick"], ["automate", "run", "--interval", "600"]]
)
def test_a_tick_killed_in_its_run_has_printed_what_fired_and_the_job(  # type: ignore[no-untyped-def]
    sqlite_ws, tmp_path, command: list[str]
) -> None:
    """Before: the tick printed every line at its end, and a kill -9 in the pipeline run
    left an empty log although the tick had fired the trigger and created job 1."""
    w = setup(sqlite_ws, lease=1)
    w.data.add(frame(3000, 5), name="train")
    text = _kill_after(
        [RUNG, *command], w.root, tmp_path / "tick.log", tmp_path / "fitting", "job 1: started"
    )
    assert "fired: dataset: new dataset version train@2" in text, text
    assert "job 1: started, running the pipeline" in text, text
    time.sleep(1.2)  # the dead tick's lease expires
    resumed = rung_cli("automate", "tick", cwd=w.root)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0] == "job 1: resuming an unfinished job (state fired)", lines
    assert lines[1].startswith("job 1 (resumed): run "), lines


SLOW_STEP = """
import os, time
import rung

@rung.step
def slow(n: int = 1):
    print("the step says hello")
    open(os.environ["SLOW_FIT"], "w").close()
    time.sleep(60)
    return n

@rung.pipeline
def train(n: int = 1):
    return slow(n)
"""


def test_a_killed_run_has_flushed_what_its_steps_printed(sqlite_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same kind in `rung run`: a step's own print, to stdout as a file, is not lost
    with the process (the per-line buffering is the CLI's, not each print's)."""
    (sqlite_ws.root / "slow.py").write_text(SLOW_STEP)
    text = _kill_after(
        [RUNG, "run", "slow.py:train"],
        sqlite_ws.root,
        tmp_path / "run.log",
        tmp_path / "in-step",
        "the step says hello",
    )
    assert "the step says hello" in text, text
