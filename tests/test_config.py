"""rung.toml is validated whole when a workspace opens: every wrong type, unknown section or
key and unreadable value is one line naming the key (a dotted path), the value and the type.

The keys come from the schema itself (``rung.config.Settings``), so a key added later is
covered by these tests without editing them."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.config import Settings, Trigger, validate
from rung.core.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[1]


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for these values
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_of(raw: dict[str, Any]) -> str:
    """A rung.toml of dotted keys at the top level, one per leaf of ``raw``."""
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value and prefix.count(".") < 3:
            for k, v in value.items():
                walk(f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k), v)
        else:
            lines.append(f"{prefix} = {toml_value(value)}")

    walk("", raw)
    return "\n".join(lines) + "\n"


# -- the schema's leaves --------------------------------------------------------------------


def _struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def leaves(kind: Any = Settings, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every key of the schema with its type; a table of named entries gets the name ``f``."""
    out = []
    for f in msgspec.structs.fields(kind):
        here = (*path, f.name)
        if _struct(f.type):
            out += leaves(f.type, here)
        elif typing.get_origin(f.type) is dict and _struct(typing.get_args(f.type)[1]):
            out += leaves(typing.get_args(f.type)[1], (*here, "f"))
        elif f.type is not typing.get_args(Trigger) and f.name != "triggers":
            out.append((here, f.type))
    return out


TRIGGER_BASE = {
    "schedule": {"kind": "schedule", "cron": "0 3 * * 1"},
    "dataset": {"kind": "dataset", "dataset": "d"},
    "drift": {"kind": "drift"},
    "performance": {"kind": "performance", "below": 0.5},
}
TRIGGER_FIELDS = [
    (t.__struct_config__.tag, f.name, f.type)
    for t in typing.get_args(Trigger)
    for f in msgspec.structs.fields(t)
    if f.name != "kind"
]
LEAVES = leaves()


def accepted(kind: Any) -> tuple[type, ...]:
    """The TOML value types a key of type ``kind`` takes (its value may still not read)."""
    if typing.get_origin(kind) is typing.Annotated:
        return accepted(typing.get_args(kind)[0])
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(kind) for t in accepted(a))
    if typing.get_origin(kind) is typing.Literal:
        return (str,)
    if kind is float:
        return (int, float)
    if kind is typing.Any:
        return (object,)
    origin = typing.get_origin(kind) or kind
    return (origin,) if isinstance(origin, type) and origin is not type(None) else ()


WRONG = st.sampled_from([7, 2.5, "two", True, [1, "x"], {"x": 1}, "", -1])


def wrong_for(kind: Any, value: Any) -> bool:
    ok = accepted(kind)
    if object in ok:
        return False
    if isinstance(value, bool):
        return bool not in ok
    return not isinstance(value, ok)


def assert_one_line_naming(exc: InvalidInput, key: str) -> None:
    text = f"{exc.message} — {exc.hint}"
    assert "\n" not in text, text
    assert key in exc.message, (key, text)


# -- in process, many examples ----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LEAVES), WRONG)
def test_a_wrong_type_at_any_key_is_one_line_naming_it(leaf: Any, value: Any) -> None:
    path, kind = leaf
    raw: dict[str, Any] = {}
    here = raw
    for part in path[:-1]:
        here = here.setdefault(part, {})
    here[path[-1]] = value
    if not wrong_for(kind, value):
        return
    with pytest.raises(InvalidInput) as caught:
        validate(raw)
    assert_one_line_naming(caught.value, ".".join(path))
    assert repr(value)[:20] in caught.value.message


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(TRIGGER_FIELDS), WRONG, st.integers(0, 2))
def test_a_wrong_type_in_any_trigger_is_one_line_naming_it(field: Any, value: Any, i: int) -> None:
    tag, name, kind = field
    entries = [dict(TRIGGER_BASE["drift"]) for _ in range(i)]
    entries.append({**TRIGGER_BASE[tag], name: value})
    if not wrong_for(kind, value):
        return
    with pytest.raises(InvalidInput) as caught:
        validate({"automate": {"triggers": entries}})
    assert_one_line_naming(caught.value, f"automate.triggers[{i}].{name}")


def misspell(word: str, how: int) -> str:
    if how == 0:
        return word[:-1] if len(word) > 2 else word + "x"
    if how == 1:
        return word + "s"
    return word[0] + word[2:] if len(word) > 3 else "x" + word


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LEAVES), st.integers(0, 2), st.integers(0, 3))
def test_a_misspelt_key_or_section_is_refused_with_the_nearest_name(
    leaf: Any, how: int, depth: int
) -> None:
    path, _ = leaf
    depth = min(depth, len(path) - 1)
    if path[depth] == "f":  # a free name (a feature's), not a key
        return
    wrong = misspell(path[depth], how)
    siblings = {p[depth] for p, _ in LEAVES if p[:depth] == path[:depth]}
    if wrong in siblings:
        return
    raw: dict[str, Any] = {}
    here = raw
    for part in [*path[:depth], wrong, *path[depth + 1 :]][:-1]:
        here = here.setdefault(part, {})
    here[([*path[:depth], wrong, *path[depth + 1 :]])[-1]] = 1
    with pytest.raises(InvalidInput) as caught:
        validate(raw)
    assert_one_line_naming(caught.value, ".".join([*path[:depth], wrong]))
    assert "unknown" in caught.value.message
    assert caught.value.hint and (path[depth] in caught.value.hint)


def test_values_with_a_grammar_are_read_once_at_open() -> None:
    s = validate(
        {
            "automate": {
                "cooldown": "6h",
                "lease": 90,
                "interval": "2m",
                "triggers": [{"kind": "drift", "window": 500}],
            },
            "monitor": {"window": "1d", "features": {"a": {"statistic": "psi"}}},
        }
    )
    assert (s.automate.cooldown, s.automate.lease, s.automate.interval) == (21600, 90, 120)
    assert s.section("automate")["triggers"] == [
        {"kind": "drift", "window": "500", "min_features": 1, "predictions": False}
    ]
    assert s.monitor.window == "1d" and s.monitor.webhook_timeout == 5.0
    for raw, message in [
        ({"automate": {"cooldown": "two"}}, "automate.cooldown = 'two': expected a duration"),
        ({"monitor": {"window": "soon"}}, "monitor.window = 'soon': expected a number of"),
        ({"monitor": {"prediction": {"statistic": "pis"}}}, "monitor.prediction.statistic"),
        ({"automate": {"triggers": [{"kind": "performance", "metric": "mae"}]}}, "above"),
        ({"automate": {"debounce": 0}}, "automate.debounce = 0: expected an integer at least 1"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            validate(raw)


def test_the_reference_documents_every_key() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    keys = {".".join(p) for p, _ in LEAVES} | {
        f"automate.triggers.{name}" for _, name, _ in TRIGGER_FIELDS
    }
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/configuration.md lacks {missing}"


# -- through the real CLI ---------------------------------------------------------------------

EXAMPLES = {
    "[store]\nurl = 5\n": "store.url = 5: expected a string",
    'store = "x"\n': "store = 'x': expected a table",
    "pipelines = 3\n": "pipelines = 3: expected a table",
    '[artifacts]\nroot = ["a"]\n': "artifacts.root = ['a']: expected a string",
    '[automate]\ndebounce = "two"\n': "automate.debounce = 'two': expected an integer",
    '[monitor]\nwebhook_timeout = "soon"\n': "monitor.webhook_timeout = 'soon': expected a number",
    '[stor]\nurl = "postgresql+psycopg://u@127.0.0.1:1/x"\n': "unknown section 'stor'"
    " — did you mean 'store'?",
    '[pipelines]\ntrain = "t.py:train"\nscore = 1\n': "pipelines.score = 1: expected a string",
    "[monitor.alerts]\nmin_accuracy = true\n": "monitor.alerts.min_accuracy = True",
    'rung = "x"\n': "unknown section 'rung'",
    "[eval\n": "is not valid TOML",
}


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "rung.toml").write_text("")
    return root


@pytest.mark.parametrize("config", list(EXAMPLES))
def test_the_issue_examples_are_one_line_at_the_cli(empty: Path, config: str) -> None:
    (empty / "rung.toml").write_text(config)
    for command in (["data", "list"], ["runs"], ["monitor", "m@champion"]):
        out = rung_cli(*command, cwd=empty)
        assert out.returncode == 1, out
        assert "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: "), out.stderr
        assert EXAMPLES[config] in out.stderr, out.stderr
    assert not (empty / ".rung").exists()  # refused before anything was created


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(LEAVES), WRONG)
def test_a_wrong_type_is_one_line_at_the_cli(empty: Path, leaf: Any, value: Any) -> None:
    path, kind = leaf
    if not wrong_for(kind, value):
        return
    raw: dict[str, Any] = {}
    here = raw
    for part in path[:-1]:
        here = here.setdefault(part, {})
    here[path[-1]] = value
    (empty / "rung.toml").write_text(toml_of(raw))
    out = rung_cli("data", "list", cwd=empty)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and ".".join(path) in out.stderr, out.stderr
