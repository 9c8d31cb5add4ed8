"""The cache-key rule for code: own source and project helpers count; the rest does not."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from rung.core.codehash import code_fingerprint


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(tmp_path))
    counter = {"n": 0}

    def load(**files: str):  # type: ignore[no-untyped-def]
        counter["n"] += 1
        pkg = f"proj{counter['n']}"
        folder = tmp_path / pkg
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for name, source in files.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source).replace("PKG", pkg))
        importlib.invalidate_caches()
        return importlib.import_module(f"{pkg}.steps")

    yield load
    for name in [m for m in sys.modules if m.startswith("proj")]:
        del sys.modules[name]


HELPERS = """
    SCALE = 2
    def helper(x):
        return x * SCALE
    def unrelated(x):
        return x - 1
"""
STEPS = """
    import json
    from PKG import helpers
    from PKG.helpers import helper
    def step(x):
        # a comment
        return helper(x) + len(json.dumps(x))
    def step_via_module(x):
        return helpers.helper(x)
"""


def test_same_code_same_fingerprint(project) -> None:  # type: ignore[no-untyped-def]
    a = project(helpers=HELPERS, steps=STEPS).step
    b = project(helpers=HELPERS, steps=STEPS).step
    assert code_fingerprint(a)[0] == code_fingerprint(b)[0]
    assert code_fingerprint(a)[1] == ["step", "helper", "SCALE"]


def test_changing_a_called_helper_invalidates(project) -> None:  # type: ignore[no-untyped-def]
    base = project(helpers=HELPERS, steps=STEPS)
    changed = project(helpers=HELPERS.replace("x * SCALE", "x * SCALE + 1"), steps=STEPS)
    assert code_fingerprint(base.step)[0] != code_fingerprint(changed.step)[0]
    assert code_fingerprint(base.step_via_module)[0] != code_fingerprint(changed.step_via_module)[0]


def test_changing_a_constant_the_helper_uses_invalidates(project) -> None:  # type: ignore[no-untyped-def]
    base = project(helpers=HELPERS, steps=STEPS)
    changed = project(helpers=HELPERS.replace("SCALE = 2", "SCALE = 3"), steps=STEPS)
    assert code_fingerprint(base.step)[0] != code_fingerprint(changed.step)[0]


def test_changing_unrelated_code_does_not_invalidate(project) -> None:  # type: ignore[no-untyped-def]
    base = project(helpers=HELPERS, steps=STEPS)
    changed = project(helpers=HELPERS.replace("x - 1", "x - 100"), steps=STEPS)
    assert code_fingerprint(base.step)[0] == code_fingerprint(changed.step)[0]


def test_comments_and_formatting_do_not_count(project) -> None:  # type: ignore[no-untyped-def]
    base = project(helpers=HELPERS, steps=STEPS)
    changed = project(helpers=HELPERS, steps=STEPS.replace("# a comment", "# other\n\n"))
    assert code_fingerprint(base.step)[0] == code_fingerprint(changed.step)[0]


def test_own_source_counts(project) -> None:  # type: ignore[no-untyped-def]
    base = project(helpers=HELPERS, steps=STEPS)
    changed = project(helpers=HELPERS, steps=STEPS.replace("+ len(", "- len("))
    assert code_fingerprint(base.step)[0] != code_fingerprint(changed.step)[0]


def test_library_code_is_not_hashed_by_source() -> None:
    import json

    def step(x):  # type: ignore[no-untyped-def]
        return json.dumps(x)

    _, names = code_fingerprint(step)
    assert names == ["test_library_code_is_not_hashed_by_source.<locals>.step"]
