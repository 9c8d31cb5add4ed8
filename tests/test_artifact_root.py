"""A bad artifact root is one line naming it and the fix, never a traceback (issue 10).

The family: unknown and empty protocols, a file or a path under a file, blank values and
control characters, a folder that cannot be created or written, a protocol whose library is
missing; from ``RUNG_ARTIFACT_ROOT`` and from ``[artifacts] root`` in rung.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import rung_cli

BAD = [
    ("nosuchproto://x", "unknown protocol 'nosuchproto'"),
    ("://x", "unknown protocol ''"),
    ("/etc/hostname", "is a file, not a folder"),
    ("/etc/hostname/under", "is a file, not a folder"),
    (" ", "blank"),
    (" /tmp/x", "spaces around it"),
    ("/tmp/a\tb", "control characters"),
]
if sys.platform == "linux":
    BAD.append(("/sys/rung-artifacts", "Operation not permitted"))
    BAD.append(("/proc/self/status", "is a file"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    assert rung_cli("init", cwd=root).returncode == 0
    (root / "f.csv").write_text("a,b\n1,2\n")
    return root


def _assert_one_line(out: object, root: str, needle: str) -> None:
    stderr: str = out.stderr  # type: ignore[attr-defined]
    assert out.returncode == 1, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert repr(root) in stderr and needle in stderr, stderr
    assert "RUNG_ARTIFACT_ROOT" in stderr  # the fix


@pytest.mark.parametrize(("root", "needle"), BAD)
def test_a_bad_root_from_the_environment(project: Path, root: str, needle: str) -> None:
    for command in (["data", "add", "f.csv", "--name", "x"], ["data", "list"]):
        out = rung_cli(*command, cwd=project, env={"RUNG_ARTIFACT_ROOT": root})
        if command[1] == "list" and out.returncode == 0:
            continue  # listing touches no artifact: only a root refused at open fails it
        _assert_one_line(out, root, needle)
    # nothing was stored
    assert "x@" not in rung_cli("data", "list", cwd=project).stdout


@pytest.mark.parametrize(("root", "needle"), BAD)
def test_a_bad_root_from_rung_toml(project: Path, root: str, needle: str) -> None:
    import json

    (project / "rung.toml").write_text(f"[artifacts]\nroot = {json.dumps(root)}\n")
    out = rung_cli("data", "add", "f.csv", "--name", "x", cwd=project)
    _assert_one_line(out, root, needle)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any folder")
def test_an_unwritable_folder_is_refused_at_open(project: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        root = str(locked / "artifacts")
        out = rung_cli("data", "list", cwd=project, env={"RUNG_ARTIFACT_ROOT": root})
        _assert_one_line(out, root, "is not writable")
    finally:
        locked.chmod(0o700)


def test_a_missing_protocol_library_is_named(project: Path) -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401

        pytest.skip("s3fs is installed")
    except ImportError:
        pass
    out = rung_cli(
        "data", "add", "f.csv", "--name", "x", cwd=project, env={"RUNG_ARTIFACT_ROOT": "s3://b/x"}
    )
    _assert_one_line(out, "s3://b/x", "s3fs")
