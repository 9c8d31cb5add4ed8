"""Foreseeable failures are one line at the CLI: special files in a folder, a plain function
given to `rung run`, a missing optional dependency, a SQLite file that is not a database, an
unreachable or misaddressed PostgreSQL. Each runs the real ``rung`` executable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import rung_cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    out = rung_cli("init", str(tmp_path / "ws"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return tmp_path / "ws"


def one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0, out
    assert "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def folder(tmp_path: Path) -> Path:
    """A folder of 8 files: 3 plain, a link to one of them, 2 in a sub-folder, and the same 2
    through a symlink to that sub-folder."""
    base = tmp_path / "data"
    (base / "real" / "deep").mkdir(parents=True)
    for i in range(3):
        (base / f"f{i}.txt").write_text(f"file {i}\n")
    (base / "real" / "a.txt").write_text("a\n")
    (base / "real" / "deep" / "b.txt").write_text("b\n")
    (base / "linked").symlink_to("real", target_is_directory=True)
    (base / "f0-again.txt").symlink_to("f0.txt")
    return base


def test_links_inside_the_folder_are_followed(root: Path, tmp_path: Path) -> None:
    base = folder(tmp_path)
    out = rung_cli("data", "add", str(base), "--name", "d", cwd=root)
    assert out.returncode == 0, out.stderr
    shown = rung_cli("data", "show", "d@1", "--json", cwd=root)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["files"] == 8  # the linked sub-folder is not left out


def _socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


SPECIAL = {
    "dangling": (lambda d: (d / "gone").symlink_to(d / "nowhere"), "is a dangling symlink"),
    "self loop": (lambda d: (d / "me").symlink_to(d / "me"), "is a symlink loop"),
    "two-link loop": (
        lambda d: ((d / "x").symlink_to(d / "y"), (d / "y").symlink_to(d / "x")),
        "is a symlink loop",
    ),
    "folder loop": (
        lambda d: (d / "real" / "up").symlink_to(d, target_is_directory=True),
        "is a symlink loop",
    ),
    "leaves (file)": (lambda d: (d / "out").symlink_to("/etc/hostname"), "leaves the folder"),
    "leaves (folder)": (
        lambda d: (d / "outdir").symlink_to("/etc", target_is_directory=True),
        "leaves the folder",
    ),
    "leaves (relative)": (lambda d: (d / "rel").symlink_to("../outside.txt"), "leaves the folder"),
    "fifo": (lambda d: os.mkfifo(d / "pipe"), "is a FIFO"),
    "socket": (lambda d: _socket(d / "sock"), "is a socket"),
    "device link": (lambda d: (d / "null").symlink_to("/dev/null"), "leaves the folder"),
}


@pytest.mark.parametrize("case", list(SPECIAL))
def test_special_files_are_refused_in_one_line_and_nothing_is_stored(
    root: Path, tmp_path: Path, case: str
) -> None:
    base = folder(tmp_path)
    (tmp_path / "outside.txt").write_text("outside\n")
    make, message = SPECIAL[case]
    make(base)
    out = rung_cli("data", "add", str(base), "--name", "d", cwd=root)
    one_line_error(out, message, str(base))
    listed = rung_cli("data", "list", "--json", cwd=root)
    assert listed.returncode == 0 and '"d"' not in listed.stdout


def test_a_fifo_given_as_the_file_is_refused(root: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    out = rung_cli("data", "add", str(tmp_path / "pipe.csv"), "--name", "d", cwd=root)
    one_line_error(out, "is a FIFO")


def test_a_device_in_the_folder_is_refused(root: Path, tmp_path: Path) -> None:
    base = folder(tmp_path)
    try:
        os.mknod(base / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # a character device
    except PermissionError:
        pytest.skip("creating a device node needs root")
    out = rung_cli("data", "add", str(base), "--name", "d", cwd=root)
    one_line_error(out, "is a device")


def test_a_plain_function_is_not_run_as_a_pipeline(root: Path) -> None:
    (root / "plain.py").write_text("def train():\n    return 1\n\nX = 3\n")
    for target, what in (("plain.py:train", "a plain function"), ("plain.py:X", "a int")):
        out = rung_cli("run", target, cwd=root)
        one_line_error(out, f"{target} is {what}, not a pipeline", "@rung.pipeline")
    runs = rung_cli("runs", "--json", cwd=root)
    assert runs.returncode == 0 and json.loads(runs.stdout) == []  # nothing recorded


def test_a_missing_optional_dependency_names_its_extra(root: Path, tmp_path: Path) -> None:
    """matplotlib and uvicorn "uninstalled": packages of those names first on PYTHONPATH that
    fail to import the way a missing module does."""
    blocked = tmp_path / "blocked"
    for module in ("matplotlib", "uvicorn"):
        (blocked / module).mkdir(parents=True)
        (blocked / module / "__init__.py").write_text(
            f"raise ModuleNotFoundError('No module named ' + {module!r}, name={module!r})\n"
        )
    env = {"PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    out = rung_cli("monitor", "report", "m", "-o", str(tmp_path / "r.html"), cwd=root, env=env)
    one_line_error(out, "matplotlib", "pip install 'rung[reports]'")
    served = rung_cli("serve", "m@champion", cwd=root, env=env)
    one_line_error(served, "uvicorn", "pip install 'rung[serve]'")


def test_a_sqlite_file_whose_header_was_overwritten(root: Path) -> None:
    db = root / ".rung" / "rung.db"
    with open(db, "r+b") as f:
        f.write(b"this is not the sqlite header!!!")
    for command in (["data", "list"], ["runs"], ["model", "list"]):
        out = rung_cli(*command, cwd=root)
        one_line_error(out, str(db), "is not a readable SQLite database", "rung verify")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgresql+psycopg://rung:wrong@127.0.0.1:5432/rung", "password authentication"),
        ("postgresql+psycopg://rung:rung@127.0.0.1:1/rung", "cannot reach the metadata store"),
        ("mysql://rung@127.0.0.1/rung", "unsupported metadata store URL"),
        ("sqlite:////nonexistent-folder/x/rung.db", "cannot open the metadata database"),
    ],
)
def test_store_open_failures_are_one_line(tmp_path: Path, url: str, needle: str) -> None:
    if "5432" in url and not os.environ.get("RUNG_TEST_PG_URL"):
        pytest.skip("no PostgreSQL server")
    (tmp_path / "rung.toml").write_text(f'[store]\nurl = "{url}"\n')
    out = rung_cli("data", "list", cwd=tmp_path)
    one_line_error(out, needle)
    assert "wrong" not in out.stderr  # the password is never shown


def test_a_stat_cache_that_is_not_a_database(root: Path, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    assert rung_cli("data", "add", str(tmp_path / "a.csv"), "--name", "a", cwd=root).returncode == 0
    cache = root / ".rung" / "cache" / "stat.sqlite"
    with open(cache, "r+b") as f:
        f.write(b"this is not the sqlite header!!!")
    (tmp_path / "b.csv").write_text("a\n2\n")
    out = rung_cli("data", "add", str(tmp_path / "b.csv"), "--name", "b", cwd=root)
    one_line_error(out, str(cache), "only a cache", "delete")
