"""`import rung` and `rung --help` stay light: heavy libraries load only when used."""

from __future__ import annotations

import subprocess
import sys

from conftest import RUNG

HEAVY = ("pandas", "sklearn", "sqlalchemy", "fastapi", "pyarrow", "alembic", "fsspec")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_rung_loads_nothing_heavy() -> None:
    assert loaded_after("import rung") == []


def test_the_decorators_load_nothing_heavy() -> None:
    assert loaded_after("from rung import step, pipeline") == []


def test_the_cli_module_loads_nothing_heavy() -> None:
    assert loaded_after("import rung.cli.main") == []


def test_help_lists_the_commands() -> None:
    out = subprocess.run([RUNG, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("init", "data", "run", "runs", "show", "lineage", "reproduce"):
        assert command in out
