"""Values of the right TOML type that cannot mean anything are refused when the workspace
opens (issue 10, new-user report items 5, 6 and 8): every number has a range, every duration
an upper bound, every name the rule the CLI applies to the same name, every cron expression a
field-by-field check. The keys come from the schema (``rung.config.Settings``), so a key added
later is covered, or fails :func:`test_every_text_key_is_checked_or_listed_as_free`."""

from __future__ import annotations

import re
import socket
import threading
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.config import Settings, _reader, validate
from rung.core.errors import InvalidInput
from test_config import LEAVES, TRIGGER_BASE, _at, assert_one_line_naming


def _base(kind: Any) -> Any:
    while typing.get_origin(kind) is typing.Annotated or (
        typing.get_origin(kind) is not None
        and type(None) in typing.get_args(kind)
        and len(typing.get_args(kind)) == 2
    ):
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        else:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _takes(kind: Any, t: type) -> bool:
    base = _base(kind)
    args = typing.get_args(base) if typing.get_origin(base) is not None else (base,)
    return t in args


# R² may be below 0 (worse than predicting the mean): min_r2 is bounded [-1e12, 1] instead
FLOATS = [
    (p, k) for p, k in LEAVES if _takes(k, float) and not _takes(k, str) and p[-1] != "min_r2"
]
DURATIONS = [(p, k) for p, k in LEAVES if _takes(k, float) and _takes(k, str)]
# numbers whose largest value is legitimately unbounded: a distance threshold (wasserstein,
# PSI, chi²: >= 0, any size) — a huge one only means "never drift", nothing overflows
UNBOUNDED = {("monitor", "features", "f", "threshold"), ("monitor", "prediction", "threshold")}


def _section_key(path: tuple[str, ...]) -> tuple[str, ...]:
    """A model's table's key as its section's: ``monitor.models.f.window`` → ``monitor.window``."""
    return (path[0], *path[3:]) if path[1:3] == ("models", "f") else path


def test_the_families_are_not_empty() -> None:
    assert {p for p, _ in DURATIONS} >= {
        ("automate", "cooldown"),
        ("automate", "lease"),
        ("automate", "interval"),
    }
    assert ("monitor", "webhook_timeout") in {p for p, _ in FLOATS}


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(FLOATS),
    st.sampled_from([-1.0, -1e-9, -1e308, 1e308, 1e30, float("nan"), float("inf")]),
)
def test_every_number_key_refuses_negative_non_finite_and_huge(leaf: Any, value: float) -> None:
    """No number of rung.toml is negative, and each has an upper bound (a timeout of 1e308
    s crashed ``socket.settimeout`` after the alert was stored), except the listed ones."""
    path, _ = leaf
    if value > 0 and value != float("inf") and _section_key(path) in UNBOUNDED:
        validate(_at(path, value))
        return
    with pytest.raises(InvalidInput) as caught:
        validate(_at(path, value))
    assert_one_line_naming(caught.value, ".".join(path))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(DURATIONS),
    st.sampled_from(["1000000w", 1e308, "1e308s", 10**18, "400d", "9999999h", -1, "-1s"]),
)
def test_every_duration_has_an_upper_bound(leaf: Any, value: Any) -> None:
    path, _ = leaf
    with pytest.raises(InvalidInput) as caught:
        validate(_at(path, value))
    assert_one_line_naming(caught.value, ".".join(path))


@pytest.mark.parametrize("key", ["lease", "interval"])
@pytest.mark.parametrize("value", [0, 0.0, "0s", "0m", "0d"])
def test_a_lease_or_interval_of_zero_is_refused(key: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=rf"automate\.{key} = .*above 0"):
        validate({"automate": {key: value}})


@pytest.mark.parametrize(
    ("statistic", "threshold", "ok"),
    [
        ("ks_pvalue", 5, False),
        ("ks_pvalue", -1, False),
        ("chi2_pvalue", 1.5, False),
        ("ks", 2, False),
        ("jensenshannon", 1.01, False),
        ("changed_share", -0.1, False),
        ("ks_pvalue", 0.05, True),
        ("psi", 5, True),
        ("wasserstein", 3.0, True),
        ("wasserstein", -0.1, False),
        (None, -1, False),
    ],
)
@pytest.mark.parametrize("where", [("monitor", "features", "x"), ("monitor", "prediction")])
def test_a_threshold_is_in_its_statistics_range(
    where: tuple[str, ...], statistic: str | None, threshold: float, ok: bool
) -> None:
    rule: dict[str, Any] = {"threshold": threshold}
    if statistic:
        rule["statistic"] = statistic
    raw = _at(where, rule)
    if ok:
        validate(raw)
        return
    with pytest.raises(InvalidInput) as caught:
        validate(raw)
    assert_one_line_naming(caught.value, ".".join([*where, "threshold"]))


@pytest.mark.parametrize(
    ("trigger", "key"),
    [
        ({"metric": "accuracy", "below": 2}, "below"),
        ({"metric": "accuracy", "below": 0}, "below"),
        ({"metric": "accuracy", "below": -0.5}, "below"),
        ({"metric": "mae", "above": -1}, "above"),
        ({"metric": "accuracy", "below": 0.5, "above": 3}, "above"),
    ],
)
def test_a_performance_bound_is_in_its_metrics_range(trigger: dict[str, Any], key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate({"automate": {"triggers": [{"kind": "performance", **trigger}]}})
    assert_one_line_naming(caught.value, f"automate.triggers[0].{key}")


# -- names ----------------------------------------------------------------------------------

NAMED = {
    ("automate", "model"): "name",
    ("automate", "alias"): "alias",
    ("automate", "pipeline"): "pipeline",
    ("automate", "datasets"): "list",
    ("eval", "datasets"): "list",
    ("monitor", "reference"): "ref",
    ("eval", "label"): "label",
    ("automate", "label"): "label",
    ("eval", "custom_metrics"): "list",
}
FREE = {
    ("store", "url"),  # a URL: checked when the store opens (one line, test_config)
    ("artifacts", "root"),  # checked at open by check_artifact_root
    ("monitor", "webhook"),  # check_webhook
    ("monitor", "window"),  # window_spec
    ("monitor", "features", "f", "statistic"),
    ("monitor", "prediction", "statistic"),
    ("automate", "policy"),  # a Literal
    ("automate", "criteria"),  # parse_criterion
    ("eval", "criteria"),
    ("automate", "params"),  # any parameters
    ("automate", "decisive"),  # metric -> margin, each read by core.policy.parse_margin
    ("automate", "guardrails"),
    ("automate", "decide_on"),  # Literals
    ("automate", "gate_on"),
    ("automate", "cooldown"),
    ("automate", "lease"),
    ("automate", "interval"),
    ("pipelines",),  # names and targets: _pipelines
    ("serve", "allowed_hosts"),  # core.refs.check_host, each name
    ("serve", "cors_origins"),  # config._origins, each origin
    ("serve", "retention"),  # durations: _Seconds
    ("serve", "prune_interval"),
    ("serve", "header_timeout"),
    ("serve", "body_timeout"),
}


def test_every_text_key_is_checked_or_listed_as_free() -> None:
    """A new string key must get a reader (a name rule) or be listed here with its reason."""
    for path, kind in LEAVES:
        path = _section_key(path)  # a model's table: its section's keys
        if _takes(kind, str) or _takes(kind, list) or _takes(kind, dict):
            assert path in NAMED or path in FREE, path
            if path in NAMED:
                assert _reader(kind) is not None, path


SPACE_OR_CONTROL = st.characters(
    codec="utf-8", categories=["Zs", "Cc", "Cf", "Zl", "Zp"], exclude_characters="\x00"
)
BAD_NAMES = st.one_of(
    st.builds(
        lambda a, c, b: a + c + b,
        st.sampled_from(["a", "ab", "x1"]),
        SPACE_OR_CONTROL,
        st.sampled_from(["", "b", "c2"]),
    ),
    st.sampled_from(["", "a b", "-a", ".a", "é", "a/b", "a@b@c", "a" * 300, "a\n"]),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(set(NAMED) - {("eval", "label"), ("automate", "label")})), BAD_NAMES)
def test_every_name_key_refuses_bad_names(path: tuple[str, ...], name: str) -> None:
    value: Any = [name] if NAMED[path] == "list" else name
    if path == ("automate", "model") and name == "":
        return  # [automate] model = "": no automation
    with pytest.raises(InvalidInput) as caught:
        validate(_at(path, value))
    assert_one_line_naming(caught.value, ".".join(path))


@settings(max_examples=100, deadline=None)
@given(BAD_NAMES, st.sampled_from(["dataset", "name"]))
def test_trigger_names_and_datasets_refuse_bad_names(name: str, key: str) -> None:
    trigger = {**TRIGGER_BASE["dataset"], key: name}
    with pytest.raises(InvalidInput) as caught:
        validate({"automate": {"triggers": [trigger]}})
    assert_one_line_naming(caught.value, f"automate.triggers[0].{key}")


@pytest.mark.parametrize("label", ["", " ", " y", "y ", "a\x1bb", "l" * 251])
@pytest.mark.parametrize("section", ["eval", "automate"])
def test_a_blank_or_unprintable_label_is_refused(label: str, section: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate({section: {"label": label}})
    assert_one_line_naming(caught.value, f"{section}.label")


@pytest.mark.parametrize("alias", ["1bad", "9", "bad alias", "-x", "a.b", "é"])
def test_the_automation_alias_follows_the_registrys_rule(alias: str) -> None:
    from rung.registry.models import _check_alias

    with pytest.raises(InvalidInput):
        _check_alias(alias)  # the CLI's rule refuses it ...
    with pytest.raises(InvalidInput) as caught:
        validate({"automate": {"alias": alias}})  # ... and so does rung.toml
    assert_one_line_naming(caught.value, "automate.alias")


@pytest.mark.parametrize(
    ("pipelines", "key"),
    [
        ({"train": "nofile"}, "pipelines.train"),
        ({"train": "file.py:"}, "pipelines.train"),
        ({"train": ":f"}, "pipelines.train"),
        ({"train": "file.py:not an identifier"}, "pipelines.train"),
        ({"bad name": "file.py:f"}, "pipelines"),
        ({"": "file.py:f"}, "pipelines"),
    ],
)
def test_pipelines_are_names_to_targets(pipelines: dict[str, str], key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate({"pipelines": pipelines})
    assert_one_line_naming(caught.value, key)


def test_good_values_still_read() -> None:
    settings_ = validate(
        {
            "pipelines": {"train": "examples/p.py:train", "t2": "pkg.mod:fn"},
            "eval": {"label": "down", "criteria": ["accuracy >= 0.5"]},
            "monitor": {"reference": "train@2", "webhook_timeout": 600},
            "automate": {
                "model": "trend",
                "alias": "champion",
                "pipeline": "train",
                "datasets": ["a", "b@3"],
                "lease": "1d",
                "interval": 1,
                "cooldown": "366d",
                "triggers": [
                    {"kind": "drift"},
                    {"kind": "drift"},
                    {"kind": "performance", "metric": "mae", "above": 0},
                    {"kind": "performance", "below": 1},
                ],
            },
        }
    )
    assert isinstance(settings_, Settings)
    assert settings_.automate.lease == 86400


@pytest.mark.parametrize(
    "triggers",
    [
        [{"kind": "drift", "name": "a"}, {"kind": "drift", "name": "a"}],
        [{"kind": "drift", "name": "a"}, {"kind": "schedule", "cron": "0 3 * * 1", "name": "a"}],
        [{"kind": "drift"}, {"kind": "dataset", "dataset": "d", "name": "drift"}],
        [{"kind": "drift"}, {"kind": "drift"}, {"kind": "drift", "name": "drift1"}],
    ],
)
def test_two_triggers_of_one_name_are_refused(triggers: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidInput, match=r"automate\.triggers\[\d\]\.name = .*same name"):
        validate({"automate": {"triggers": triggers}})


# -- cron -----------------------------------------------------------------------------------

FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
          ("day of week", 0, 7)]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 4), st.sampled_from(["low", "high"]), st.integers(1, 1000), st.data())
def test_a_cron_number_out_of_range_names_its_field(
    i: int, side: str, by: int, data: st.DataObject
) -> None:
    name, low, high = FIELDS[i]
    number = high + by if side == "high" else low - by
    if number < 0:
        number = high + by
    fields = ["0", "0", "1", "1", "*"]
    fields[i] = data.draw(st.sampled_from([str(number), f"{low}-{number}", f"{low},{number}"]))
    expr = " ".join(fields)
    with pytest.raises(InvalidInput, match=rf"{name} {number} is out of range {low}-{high}"):
        validate({"automate": {"triggers": [{"kind": "schedule", "cron": expr}]}})


@pytest.mark.parametrize(
    "expr", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *", "0 0 30-31 2 *"]
)
def test_a_cron_that_never_fires_says_so(expr: str) -> None:
    from rung.automation.triggers import check_cron

    with pytest.raises(InvalidInput, match="never fires"):
        validate({"automate": {"triggers": [{"kind": "schedule", "cron": expr}]}})
    with pytest.raises(InvalidInput, match="never fires"):
        check_cron(expr)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * *", "expected five fields .* got 3"),
        ("0 3 * * 1 2", "got 6"),
        ("a 3 * * 1", "cannot read the minute field 'a'"),
        ("0 3 * foo *", "cannot read the month field 'foo'"),
        ("*/0 * * * *", "minute step '0'"),
        ("١ * * * *", "ASCII"),
    ],
)
def test_other_cron_errors_name_the_problem(expr: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate({"automate": {"triggers": [{"kind": "schedule", "cron": expr}]}})


@pytest.mark.parametrize("expr", ["0 3 * * 1", "0 0 29 2 *", "*/15 * * * *", "0 9 * jan mon-fri",
                                  "0 0 L * *", "0 0 * * 1#2", "0 0 31 1-12 *"])  # fmt: skip
def test_good_cron_expressions_read(expr: str) -> None:
    validate({"automate": {"triggers": [{"kind": "schedule", "cron": expr}]}})


# -- at the CLI -------------------------------------------------------------------------------

REPORTED = [
    "[monitor]\nwebhook_timeout = 1e308\n",
    '[monitor.features.x]\nstatistic = "ks_pvalue"\nthreshold = 5\n',
    '[monitor.features.x]\nstatistic = "ks_pvalue"\nthreshold = -1\n',
    '[[automate.triggers]]\nkind = "performance"\nbelow = 2\n',
    '[[automate.triggers]]\nkind = "performance"\nmetric = "mae"\nabove = -1\n',
    "[automate]\nlease = 0\n",
    "[automate]\ninterval = 0\n",
    '[automate]\ninterval = "0s"\n',
    '[automate]\ncooldown = "1000000w"\n',
    '[automate]\nalias = "1bad"\n',
    '[automate]\nmodel = "bad name"\n',
    '[[automate.triggers]]\nkind = "dataset"\ndataset = "a b"\n',
    '[[automate.triggers]]\nkind = "drift"\nname = "t"\n[[automate.triggers]]\nkind = "drift"\nname = "t"\n',
    '[eval]\nlabel = ""\n',
    '[pipelines]\ntrain = "nofile"\n',
    '[pipelines]\n"bad name" = "p.py:f"\n',
    '[eval]\ncriteria = ["accuracy >= 1e999"]\n',
    '[eval]\ncriteria = ["accuracy >= ١.٥"]\n',
    '[[automate.triggers]]\nkind = "schedule"\ncron = "61 * * * *"\n',
    '[[automate.triggers]]\nkind = "schedule"\ncron = "0 0 31 2 *"\n',
]


@pytest.mark.parametrize("config", REPORTED)
def test_the_reported_values_stop_the_workspace_from_opening(tmp_path: Path, config: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "rung.toml").write_text(config)
    out = rung_cli("data", "list", cwd=root)
    assert out.returncode == 1, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "rung.toml: " in lines[0] and " = " in lines[0], lines[0]
    assert "Traceback" not in out.stderr
    assert not (root / ".rung" / "rung.db").exists()  # nothing written


# -- a delivery never raises ------------------------------------------------------------------


@pytest.fixture
def garbage_server():  # type: ignore[no-untyped-def]
    """A TCP server on 127.0.0.1 that answers every connection with bytes that are not HTTP."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x00\x01 not http at all\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize("timeout", [1e308, 2.0])
def test_a_delivery_returns_its_failure_and_never_raises(
    garbage_server: str, timeout: float
) -> None:
    """Whatever the peer or the timeout, :func:`deliver` returns a one-line failure: the
    alert is already stored, so a raise here lost it (OverflowError from settimeout(1e308);
    BadStatusLine from a peer that does not speak HTTP)."""
    from rung.monitoring.alerts import deliver

    error = deliver(garbage_server, {"kind": "drift"}, timeout)
    assert error is not None and "\n" not in error and re.search("could not be reached", error)
