"""rung.toml is validated whole when a workspace opens: every wrong type, unknown section or
key and unreadable value is one line naming the key (a dotted path), the value and the type.

The keys come from the schema itself (``rung.config.Settings``), so a key added later is
covered by these tests without editing them."""

from __future__ import annotations

import json
import re
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


def _optional(kind: Any) -> Any:
    """``X`` of ``X | None``; else ``kind``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        return members[0] if len(members) == 1 else kind
    return kind


def leaves(kind: Any = Settings, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every key of the schema with its type; a table of named entries gets the name ``f``."""
    out = []
    for f in msgspec.structs.fields(kind):
        here = (*path, f.name)
        table = _optional(f.type)
        if _struct(table):  # a per-model table's sub-table is optional: its keys too
            out += leaves(table, here)
        elif typing.get_origin(table) is dict and _struct(typing.get_args(table)[1]):
            out += leaves(typing.get_args(table)[1], (*here, "f"))
        elif f.type is not typing.get_args(Trigger) and f.name != "triggers":
            out.append((here, f.type))
    return out


TRIGGER_BASE = {
    "schedule": {"kind": "schedule", "cron": "0 3 * * 1"},
    "dataset": {"kind": "dataset", "dataset": "d"},
    "drift": {"kind": "drift"},
    "performance": {"kind": "performance", "below": 0.5},
    "live": {"kind": "live"},
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


def _numeric(kind: Any) -> tuple[bool, bool]:
    """(takes a float, takes an int) for a leaf's type."""
    ok = accepted(kind)
    return float in ok, int in ok and float not in ok


NUMERIC = [leaf for leaf in LEAVES if any(_numeric(leaf[1]))]
OUT_OF_RANGE = st.sampled_from(
    [float("nan"), float("inf"), -float("inf"), 2**63, 2**70, -(2**63) - 1, 10**22]
)


def _at(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    here = raw
    for part in path[:-1]:
        here = here.setdefault(part, {})
    here[path[-1]] = value
    return raw


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NUMERIC), OUT_OF_RANGE)
def test_a_non_finite_or_out_of_range_number_at_any_key_is_refused(leaf: Any, value: Any) -> None:
    """Every float of the schema is finite, every integer within 64 bits (limits.MAX_ID)."""
    path, kind = leaf
    takes_float, takes_int = _numeric(kind)
    if isinstance(value, float) != takes_float or isinstance(value, int) != takes_int:
        return  # a wrong type (the test above), or a large but finite float
    with pytest.raises(InvalidInput) as caught:
        validate(_at(path, value))
    assert_one_line_naming(caught.value, ".".join(path))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("monitor", "alerts", "min_accuracy"), float("nan"), "min_accuracy = nan"),
        (("monitor", "alerts", "min_accuracy"), 1.5, "at most 1.0"),
        (("monitor", "alerts", "min_accuracy"), -0.1, "at least 0"),
        (("monitor", "alerts", "max_error_rate"), 2, "at most 1.0"),
        (("monitor", "alerts", "max_p99_ms"), 0, "above 0"),
        (("monitor", "alerts", "max_p99_ms"), float("inf"), "finite"),
        (("monitor", "webhook_timeout"), float("inf"), "finite"),
        (("monitor", "prediction", "threshold"), float("nan"), "finite"),
        (("automate", "debounce"), 9999999999999999999999, "at most 9223372036854775807"),
        (("automate", "cooldown"), "١٠s", "expected a duration"),
        (("monitor", "window"), "١٠٠٠", "expected a number of"),
        (("monitor", "window"), 2**63, "expected a number of"),
    ],
)
def test_ranges_of_numbers(path: tuple[str, ...], value: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        validate(_at(path, value))


CRITERIA = st.sampled_from(
    ["f1_macro >= 0.6", "mean f1_macro >= 0.6", "accuracy drop <= 0.01 vs baseline"]
)
BAD_CRITERIA = st.sampled_from(
    ["oops", "", "f1 >= ", "f1 >= 50%", "f1 drop >= 0.1 vs baseline", ">= 0.5", "f1 ~ 0.5"]
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([("eval", "criteria"), ("automate", "criteria")]),
    st.lists(CRITERIA, max_size=3),
    BAD_CRITERIA,
    st.data(),
)
def test_every_criterion_is_parsed_at_open(
    path: tuple[str, ...], good: list[str], bad: str, data: st.DataObject
) -> None:
    validate(_at(path, good))
    i = data.draw(st.integers(0, len(good)))
    texts = [*good[:i], bad, *good[i:]]
    with pytest.raises(InvalidInput) as caught:
        validate(_at(path, texts))
    assert_one_line_naming(caught.value, f"{'.'.join(path)}[{i}]")


WEBHOOKS_BAD = [
    "http://[::1",
    "http://[::1]:99999/x",
    "file:///etc/hostname",
    "ftp://h/x",
    "data:,x",
    "http://",
    "https:///path",
    "hooks.example.com/rung",
    "http://h/\nx",
    "http://h x/",
]


@pytest.mark.parametrize("url", WEBHOOKS_BAD)
def test_a_bad_webhook_is_refused_at_open_by_the_rule_delivery_uses(url: str) -> None:
    from rung.monitoring.alerts import check_webhook

    with pytest.raises(InvalidInput, match=r"monitor\.webhook"):
        validate({"monitor": {"webhook": url}})
    with pytest.raises(InvalidInput):
        check_webhook(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "https://[::1]/hook", "HTTPS://h"])
def test_a_good_webhook_passes_both(url: str) -> None:
    from rung.monitoring.alerts import check_webhook

    assert validate({"monitor": {"webhook": url}}).monitor.webhook == url == check_webhook(url)


def test_the_reference_documents_every_key() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    keys = {".".join(p) for p, _ in LEAVES} | {
        f"automate.triggers.{name}" for _, name, _ in TRIGGER_FIELDS
    }
    # a per-model key ([automate.models.NAME]) is documented by its [automate] row
    keys = {
        k.replace("automate.models.f.", "automate.").replace("monitor.models.f.", "monitor.")
        for k in keys
    } | {"automate.models", "monitor.models"}
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
    '[monitor]\nwebhook = "http://[::1"\n': "monitor.webhook = 'http://[::1'",
    '[monitor]\nwebhook = "file:///etc/hostname"\n': "expected an http(s) URL",
    "[monitor.alerts]\nmin_accuracy = nan\n": "monitor.alerts.min_accuracy = nan",
    "[automate]\ndebounce = 9999999999999999999999\n": "automate.debounce = 9999999999999999999999",
    '[eval]\ncriteria = ["f1_macro >= 0.5", "oops"]\n': "eval.criteria[1] = 'oops'",
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
