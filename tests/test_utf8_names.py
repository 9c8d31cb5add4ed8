"""A file or folder name that is not valid UTF-8 is one line at every door, and nothing is kept.

On POSIX a name is bytes; Python carries bytes that are not UTF-8 as lone surrogates, which
no database row, manifest or JSON document can hold (DVC met the same: treeverse/dvc#5083).
Every path a command writes down goes through ``core.limits.check_utf8_name`` (data) or the
CLI's one translation of the encode error (anything else).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import rung_cli
from rung.core.errors import InvalidInput

BAD = [b"\xff", b"\xfe\xfd", b"caf\xe9", b"\xc3", b"ok\x80end"]  # invalid UTF-8 sequences

PIPELINE = (
    "from rung import pipeline, step\n@step\ndef s():\n    return 1\n"
    "@pipeline\ndef p():\n    return s()\n"
)


def _name(root: Path, raw: bytes, suffix: bytes = b"") -> Path:
    return Path(os.fsdecode(os.fsencode(root) + b"/x" + raw + suffix))


def _one_line(proc: object) -> str:
    out = proc.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert proc.returncode != 0, proc.stdout  # type: ignore[attr-defined]
    assert len(out) == 1 and out[0].startswith("error: "), proc.stderr  # type: ignore[attr-defined]
    assert "not valid UTF-8" in out[0] and "\\x" in out[0]
    return out[0]


def test_every_door_refuses_in_one_line(tmp_path: Path) -> None:
    """Each door gets another invalid sequence (a process per case is slow: one each)."""
    rung_cli("init", str(tmp_path / "ws"), cwd=tmp_path)
    ws = tmp_path / "ws"
    file = _name(tmp_path, BAD[0], b".csv")
    file.write_text("a\n1\n")
    inside = tmp_path / "folder"
    inside.mkdir()
    _name(inside, BAD[1]).write_text("x")
    outer = _name(tmp_path, BAD[2], b"dir")
    outer.mkdir()
    (outer / "y.csv").write_text("a\n1\n")
    pipeline = _name(ws, BAD[4], b".py")
    pipeline.write_text(PIPELINE)
    for args in (
        ["data", "add", str(file), "--name", "d"],
        ["data", "add", str(inside), "--name", "d"],
        ["data", "add", str(outer), "--name", "d"],
        ["data", "add", str(outer / "y.csv"), "--name", "d"],
        ["run", f"{pipeline.name}:p"],
    ):
        _one_line(rung_cli(*args, cwd=ws))
    listed = rung_cli("data", "list", "--json", cwd=ws)
    assert listed.returncode == 0 and "[]" in listed.stdout.replace(" ", "")  # nothing kept
    runs = rung_cli("runs", "--json", cwd=ws)
    assert runs.returncode == 0 and "[]" in runs.stdout.replace(" ", "")


@pytest.mark.parametrize("raw", BAD)
def test_python_api_raises_invalid_input(ws, tmp_path: Path, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    file = _name(tmp_path, raw, b".csv")
    file.write_text("a\n1\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    _name(folder, raw).write_text("x")
    for source in (file, folder):
        with pytest.raises(InvalidInput, match="not valid UTF-8"):
            ws.data.add(source, name="d")
    assert ws.data.list() == []
