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


# A module-level value the step names, before and after a change that must invalidate the
# cache (a list of FEATURES once kept a stale model cached: zenml-io/zenml#1011's kind).
CONSTANT_CHANGES = [
    ('["a", "b"]', '["a", "b", "c"]'),
    ('["a", "b"]', '["b", "a"]'),
    ("{'C': 1.0}", "{'C': 0.5}"),
    ("{'C': 1.0}", "{'C': 1.0, 'penalty': 'l1'}"),
    ("{'a', 'b'}", "{'a', 'c'}"),
    ("frozenset({1, 2})", "frozenset({1, 3})"),
    ("[[1, 2], {'k': (3, 4)}]", "[[1, 2], {'k': (3, 5)}]"),
    ("1", "True"),
    ("np.arange(5)", "np.arange(6)"),
    ("np.arange(5)", "np.arange(5.0)"),
    ("np.zeros((2, 3))", "np.zeros((3, 2))"),
    ("pd.Series([1, 2])", "pd.Series([1, 3])"),
    ("pd.DataFrame({'a': [1]})", "pd.DataFrame({'b': [1]})"),
    ("Color.RED", "Color.BLUE"),
    ("LogisticRegression(C=1.0)", "LogisticRegression(C=0.1)"),
    ("re.compile('a+')", "re.compile('b+')"),
    ("Path('x.csv')", "Path('y.csv')"),
]

CONSTANT_STEPS = """
    import enum, re
    from pathlib import Path
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    VALUE = {value}

    def step():
        return VALUE
"""


@pytest.mark.parametrize(("before", "after"), CONSTANT_CHANGES)
def test_every_data_constant_counts_by_value(project, before: str, after: str) -> None:  # type: ignore[no-untyped-def]
    first = project(steps=CONSTANT_STEPS.replace("{value}", before)).step
    again = project(steps=CONSTANT_STEPS.replace("{value}", before)).step
    changed = project(steps=CONSTANT_STEPS.replace("{value}", after)).step
    assert code_fingerprint(first)[0] == code_fingerprint(again)[0]  # equal values: a hit
    assert code_fingerprint(first)[0] != code_fingerprint(changed)[0]
    assert "VALUE" in code_fingerprint(first)[1]


def test_an_object_known_only_by_its_address_is_named_as_not_fingerprinted(project) -> None:  # type: ignore[no-untyped-def]
    step = project(
        steps="""
        class Opaque:
            pass
        THING = Opaque()
        def step():
            return THING
        """
    ).step
    assert "THING=<not fingerprinted: Opaque>" in code_fingerprint(step)[1]


def test_editing_a_list_the_step_names_reruns_it(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    source = """
from rung import pipeline, step
COLS = ["a", "b"]


@step
def pick():
    import pandas as pd
    return pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]})[COLS]


@pipeline
def p():
    return pick()
"""
    path = sqlite_ws.root / "p.py"
    path.write_text(source)
    first = sqlite_ws.run("p.py:p")
    path.write_text(source.replace('COLS = ["a", "b"]', 'COLS = ["a", "b", "c"]'))
    second = sqlite_ws.run("p.py:p")
    assert (first.executed, second.executed, second.cached) == (1, 1, 0)
    assert first.outputs != second.outputs


def test_a_global_counts_until_rebound_not_while_mutated_in_place(project) -> None:  # type: ignore[no-untyped-def]
    module = project(
        steps="STATE = {'calls': 0}\nFEATURES = ['a']\ndef step():\n    return STATE, FEATURES\n"
    )
    first = code_fingerprint(module.step)[0]
    module.STATE["calls"] += 1  # runtime state: the same key, as in a fresh process
    assert code_fingerprint(module.step)[0] == first
    module.FEATURES = ["a", "b"]  # rebound, as a notebook cell does: a new key
    assert code_fingerprint(module.step)[0] != first
