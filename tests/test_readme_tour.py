"""The README's tour runs as written: every shell command of its "A short tour" section, in
order, in one bash session, from a folder holding the repository's examples/ (as a checkout
does), with the installed ``rung`` first on PATH. Only the install line is skipped (the test
runs in an installed environment) and the ports of the service and the UI are free ones
instead of 8000 and 8080."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import RUNG

REPO = Path(__file__).resolve().parents[1]


def tour_commands() -> list[str]:
    """The shell lines of the tour's plain code blocks (continuations joined)."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## A short tour") : text.index("Then let it retrain itself")]
    lines: list[str] = []
    fence: str | None = None  # the language of the open code block, "" for a shell one
    for line in section.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
        elif fence == "" and line.strip() and not line.startswith("pip install"):
            lines.append(line)
    return lines


def test_the_tour_installs_everything_it_uses() -> None:
    text = (REPO / "README.md").read_text()
    install = next(line for line in text.splitlines() if line.startswith("pip install -e"))
    extra = re.search(r"\[(.*?)\]", install)
    assert extra is not None and extra.group(1) == "all"
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (included,) = extras["all"]
    included_extras = re.findall(r"\[(.*)\]", included)[0].split(",")
    commands = " ".join(tour_commands())
    # the extra each part of the tour needs, and the command that uses it
    needs = {
        "sklearn": "rung run",
        "serve": "rung serve",
        "reports": "monitor report",
        "ui": "rung ui",
    }
    for name, used_by in needs.items():
        assert used_by in commands and name in included_extras


@pytest.mark.slow
def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    ports = []
    for _ in range(2):  # the service's and the UI's
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(str(s.getsockname()[1]))
    shutil.copytree(REPO / "examples" / "tour", tmp_path / "examples" / "tour")
    stop = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"  # the service, if a step failed
    script = "\n".join(["set -euo pipefail", stop, *tour_commands()])
    script = script.replace("8000", ports[0]).replace("8080", ports[1])
    env = {**os.environ, "PATH": f"{Path(RUNG).parent}{os.pathsep}{os.environ['PATH']}"}
    for var in ("RUNG_STORE_URL", "RUNG_ARTIFACT_ROOT", "RUNG_WORKSPACE"):
        env.pop(var, None)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert "sp500@1 unchanged" in out
    assert "an append: the first 700 rows are unchanged" in out
    assert "all 3 steps cached — nothing executed" in out
    assert "reproduced exactly" in out
    import json

    listed = json.loads((tmp_path / "myproject" / "runs.json").read_text())
    assert listed["total"] >= 1 and all(r["metrics"]["precision_down"] > 0 for r in listed["runs"])
    assert "verdict: PASSED" in out
    assert "trend@champion → version 1" in out
    assert '"predictions":[' in out
    project = tmp_path / "myproject"
    for written in ("prices_v1.csv", "report.html", "monitoring.html", "scored.csv"):
        assert (project / written).stat().st_size > 0
    assert (project / "prices_v1.csv").read_bytes() == (project / "prices.csv").read_bytes()
