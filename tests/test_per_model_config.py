"""Settings that belong to one model are settable per model, and configuration values are
checked when the workspace opens (issue 11 report items 1, 4, 5, 12, 14).

* per model: ``label`` in ``[automate.models.NAME]`` and the whole of ``[monitor]`` in
  ``[monitor.models.NAME]`` — for each, two models with different values behave
  independently, through the real CLI on a classifier and a regressor;
* metric names and bounds of criteria, decisive metrics and guardrails: every misspelling of
  every metric name, and a family of out-of-range bounds, refused at open;
* each CLI option mirroring a key refuses the key's bad values, in one line.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.config import validate
from rung.core.errors import InvalidInput
from rung.core.metric_names import EXAMPLES, NUMERIC, UnknownMetric, metric_range

# -- metric names, at open ------------------------------------------------------------------

NAMES = [*EXAMPLES, "precision_down", "recall_yes", "f1_no"]


def misspell(word: str, how: int, at: int, letter: str) -> str:
    i = at % (len(word) + 1)
    j = at % len(word)
    if how == 0:  # delete
        return word[:j] + word[j + 1 :]
    if how == 1:  # insert
        return word[:i] + letter + word[i:]
    if how == 2:  # replace
        return word[:j] + letter + word[j + 1 :]
    k = min(j, len(word) - 2)  # transpose
    return word[:k] + word[k + 1] + word[k] + word[k + 2 :]


def _valid(name: str) -> bool:
    try:
        metric_range(name)
    except UnknownMetric:
        return False
    return True


PLACES = [
    ("eval.criteria", lambda m: {"eval": {"criteria": [f"{m} >= 0.5"]}}, "eval.criteria[0]"),
    (
        "automate.criteria",
        lambda m: {"automate": {"criteria": [f"{m} >= 0.5"]}},
        "automate.criteria[0]",
    ),
    ("decisive", lambda m: {"automate": {"decisive": {m: 0.01}}}, "automate.decisive."),
    ("guardrails", lambda m: {"automate": {"guardrails": {m: 0.01}}}, "automate.guardrails."),
    (
        "a model's decisive",
        lambda m: {"eval": {"label": "y"}, "automate": {"models": {"a": {"decisive": {m: 0.01}}}}},
        "automate.models.a.decisive.",
    ),
    (
        "a model's criteria",
        lambda m: {
            "eval": {"label": "y"},
            "automate": {"models": {"a": {"criteria": [f"{m} <= 0.5"]}}},
        },
        "automate.models.a.criteria[0]",
    ),
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(NAMES),
    st.integers(0, 3),
    st.integers(0, 40),
    st.sampled_from("abcdeilmnorstuy_2"),
    st.sampled_from(PLACES),
)
def test_every_misspelt_metric_name_is_refused_at_open_with_the_nearest(
    name: str, how: int, at: int, letter: str, place: Any
) -> None:
    typo = misspell(name, how, at, letter)
    assume(not _valid(typo) and typo and typo[0].isalpha() and "-" not in typo)
    _, raw, key = place
    with pytest.raises(InvalidInput) as caught:
        validate(raw(typo))
    message = caught.value.message
    assert "\n" not in message and key in message, message
    assert f"unknown metric {typo!r}" in message, message
    if name in EXAMPLES and len(name) >= 5:  # one edit of a name this long: it is suggested
        assert repr(name) in message, message
    elif name not in EXAMPLES and len(name.partition("_")[0]) >= 5:  # any class: its family
        assert f"did you mean '{name.partition('_')[0]}_" in message, message
    else:  # no close name (f1_no → a1_no): the known names are listed instead
        assert "did you mean" in message or "known: accuracy" in message, message


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_name_is_accepted_where_a_metric_is_named(name: str) -> None:
    task_ok = (NUMERIC.get(name, ("classification",))[0]) == "classification"
    bound = 0.5
    validate({"eval": {"criteria": [f"{name} >= {bound}"]}})
    validate({"automate": {"decisive": {name: 0.01}, "guardrails": {}}})
    if task_ok:  # the default guardrails are of the task the criteria name
        validate({"automate": {"criteria": [f"{name} >= {bound}"], "decisive": {name: 0.01}}})


@pytest.mark.parametrize("name", ["top_error", "precision", "recall", "f1"])
def test_a_metric_that_is_not_one_number_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match=rf"metric '{name}' is not a number"):
        validate({"automate": {"decisive": {name: 0.01}}})
    with pytest.raises(InvalidInput, match=rf"eval\.criteria\[0\].*'{name}' is not a number"):
        validate({"eval": {"criteria": [f"{name} >= 0.5"]}})


BOUNDED = [(m, lo, hi) for m, (_, lo, hi) in NUMERIC.items()] + [
    ("precision_down", 0.0, 1.0),
    ("recall_macro", 0.0, 1.0),
    ("f1_weighted", 0.0, 1.0),
]


def _outside(low: float, high: float) -> list[float]:
    out = []
    if high != float("inf"):
        out += [high + 1e-9, high + 0.5, high * 2 + 1, 1e300]
    if low != float("-inf"):
        out += [low - 1e-9, low - 0.5, -1e300]
    return out


@pytest.mark.parametrize(
    ("metric", "bound"),
    [(m, b) for m, lo, hi in BOUNDED for b in _outside(lo, hi)],
)
@pytest.mark.parametrize("op", [">=", "<=", ">", "<"])
def test_a_bound_outside_its_metrics_range_is_refused_at_open(
    metric: str, bound: float, op: str
) -> None:
    for section in ("eval", "automate"):
        text = f"{metric} {op} {bound!r}"
        with pytest.raises(InvalidInput) as caught:
            validate({section: {"criteria": [text]}})
        assert f"{section}.criteria[0]" in caught.value.message
        assert "outside it" in caught.value.message, caught.value.message


@pytest.mark.parametrize(("metric", "low", "high"), BOUNDED)
def test_a_bound_inside_its_range_is_accepted(metric: str, low: float, high: float) -> None:
    for bound in (low, high, 0.5):
        if abs(bound) != float("inf"):
            validate({"eval": {"criteria": [f"{metric} >= {bound!r}"]}})


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("accuracy drop <= 0.02 vs baseline", True),
        ("accuracy drop <= 1.5 vs baseline", False),  # a rate cannot fall by more than 1
        ("accuracy drop <= 150% vs baseline", True),  # relative: any share
        ("mae rise <= 1000 vs baseline", True),
    ],
)
def test_a_change_of_a_rate_is_at_most_one(text: str, ok: bool) -> None:
    if ok:
        validate({"eval": {"criteria": [text]}})
    else:
        with pytest.raises(InvalidInput, match="at most 1"):
            validate({"eval": {"criteria": [text]}})


@pytest.mark.parametrize(
    "automate",
    [
        {"model": "m", "criteria": ["accuracy >= 0.5"], "guardrails": {"mae": 1}},
        {"model": "m", "decisive": {"roc_auc": "2%"}, "guardrails": {"mae": 1}},
        {"models": {"m": {"decisive": {"rmse": 1}, "criteria": ["f1_macro >= 0.5"]}}},
    ],
)
def test_metrics_of_two_tasks_for_one_model_are_refused(automate: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="a model has one task"):
        validate({"eval": {"label": "y"}, "automate": automate})


RUNNABLE = {"pipeline": "t.py:train", "triggers": [{"kind": "dataset", "dataset": "d"}]}


def test_an_empty_decisive_table_is_refused_and_a_left_out_one_is_the_default() -> None:
    for raw in ({"decisive": {}}, {"models": {"a": {"decisive": {}}}}):
        with pytest.raises(InvalidInput, match=r"decisive = \{\}: name at least one metric"):
            validate({"eval": {"label": "y"}, "automate": raw})
    settings_ = validate({"eval": {"label": "y"}, "automate": {"model": "a", **RUNNABLE}})
    assert "decisive" not in settings_.automate.per_model()["a"]  # the policy's default


def test_user_metrics_are_allowed_where_declared_and_never_in_the_loop() -> None:
    with pytest.raises(InvalidInput, match="unknown metric 'profit'"):
        validate({"eval": {"criteria": ["profit >= 1"]}})
    validate({"eval": {"criteria": ["profit >= 1"], "custom_metrics": ["profit"]}})
    with pytest.raises(InvalidInput, match="profit is a user metric, which a's loop does not"):
        validate(
            {
                "eval": {"criteria": ["profit >= 1"], "custom_metrics": ["profit"], "label": "y"},
                "automate": {"model": "a"},
            }
        )


def test_the_names_agree_with_the_metrics_computed() -> None:
    from rung.core.metric_names import NOT_NUMBERS, PER_CLASS
    from rung.evaluation.metrics import BUILTIN, LOWER_IS_BETTER

    assert set(BUILTIN) == set(NUMERIC) | set(NOT_NUMBERS) | set(PER_CLASS)
    assert {m for m, (t, _, _) in NUMERIC.items()} == {
        m for m in BUILTIN if BUILTIN[m].task != "any"
    } - set(NOT_NUMBERS) - set(PER_CLASS)
    assert all(NUMERIC[m][0] == BUILTIN[m].task for m in NUMERIC)
    assert {m for m, (_, lo, hi) in NUMERIC.items() if hi == float("inf")} >= LOWER_IS_BETTER


# -- per model, at open ---------------------------------------------------------------------


def test_an_automated_model_without_a_label_is_refused_at_open() -> None:
    fires = [{"kind": "dataset", "dataset": "d"}]
    raw: dict[str, Any] = {
        "automate": {
            "triggers": fires,  # a model that can fire evaluates
            "models": {
                "cls": {"label": "churned", "pipeline": "c.py:train"},
                "reg": {"pipeline": "r.py:train"},
            },
        }
    }
    with pytest.raises(InvalidInput) as caught:
        validate(raw)
    assert caught.value.message.endswith(
        "automate.models.reg.label is required: reg's loop evaluates each challenger on a label"
        ' column: set label = "COLUMN" in [automate.models.reg] (or in [automate] or [eval],'
        " for every model)"
    )
    raw["automate"]["models"]["reg"]["label"] = "visits"
    labels = {n: s["label"] for n, s in validate(raw).automate.per_model().items()}
    assert labels == {"cls": "churned", "reg": "visits"}
    raw["automate"]["models"]["reg"].pop("label")  # [automate]'s, else [eval]'s
    raw["automate"]["label"] = "y"
    assert validate(raw).automate.per_model()["reg"]["label"] == "y"
    raw["automate"].pop("label")
    validate({**raw, "eval": {"label": "y"}})
    raw["automate"].pop("triggers")  # one that never fires is a mistake of its own
    with pytest.raises(InvalidInput, match="nothing would start a job"):
        validate(raw)


def test_a_models_monitor_table_merges_over_the_section() -> None:
    s = validate(
        {
            "monitor": {
                "window": "300",
                "alerts": {"drifted_features": 2, "max_error_rate": 0.1},
                "models": {
                    "cls": {"alerts": {"min_accuracy": 0.8}},
                    "reg": {"window": "50", "alerts": {"max_mae": 2.0, "drifted_features": 0}},
                },
            }
        }
    ).monitor
    cls, reg, other = s.of("cls"), s.of("reg"), s.of("other")
    assert (cls["window"], reg["window"], other["window"]) == ("300", "50", "300")
    assert cls["alerts"]["min_accuracy"] == 0.8 and "max_mae" not in cls["alerts"]
    assert reg["alerts"]["max_mae"] == 2.0 and "min_accuracy" not in reg["alerts"]
    assert (cls["alerts"]["drifted_features"], reg["alerts"]["drifted_features"]) == (2, 0)
    assert cls["alerts"]["max_error_rate"] == reg["alerts"]["max_error_rate"] == 0.1


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"automate": {"model": {"a": {"pipeline": "y.py:g"}}}}, "[automate.models.a]"),
        ({"monitor": {"window": {"x": 1}}}, None),
    ],
)
def test_a_table_at_a_key_that_takes_a_value_names_the_table_meant(
    raw: dict[str, Any], says: str | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate(raw)
    if says:
        assert caught.value.hint == f"did you mean {says}?"
    else:
        assert "did you mean" not in str(caught.value.hint)


def test_the_statistic_row_documents_every_statistic_the_error_names() -> None:
    from rung.core.drift import _DIRECTION

    doc = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `monitor.features.f.stat"))
    assert all(f"`{s}`" in row for s in _DIRECTION), row


# -- CLI options mirroring a key ------------------------------------------------------------

# option (as the CLI takes it) → the key it mirrors, and values that key refuses
OPTIONS = [
    (["automate", "run", "--interval"], "automate.interval", ["0", "-5", "100000", "0s", "nan"]),
    (["automate", "run", "--interval"], "automate.interval", ["2d", "١", "soon"]),
    (["eval", "m@1", "--on", "d@1", "--label"], "eval.label", [" y", "y ", ""]),
    (["eval", "m@1", "--label", "y", "--on"], "eval.datasets", ["d@0", "a b@1", "d@x"]),
    (
        ["eval", "m@1", "--label", "y", "--on", "d@1", "--criterion"],
        "eval.criteria",
        ["acuracy >= 0.5", "accuracy >= 1.5", "top_error >= 0", "oops"],
    ),
    (["monitor", "m@1", "--reference"], "monitor.reference", ["a b", "d@0"]),
    (["monitor", "m@1", "--window"], "monitor.window", ["0", "0d", "-1", "1y"]),
]


def _raw(key: str, value: str) -> dict[str, Any]:
    section, name = key.split(".")
    listed = name in ("criteria", "datasets")
    return {section: {name: [value] if listed else value}}


@pytest.mark.parametrize(
    ("argv", "key", "value"),
    [(argv, key, v) for argv, key, values in OPTIONS for v in values],
)
def test_an_option_refuses_what_its_key_refuses(
    tmp_path: Path, argv: list[str], key: str, value: str
) -> None:
    with pytest.raises(InvalidInput):  # the key refuses it ...
        validate(_raw(key, value))
    (tmp_path / "rung.toml").write_text("")
    out = rung_cli(*argv, value, cwd=tmp_path)  # ... and so does the option
    assert out.returncode != 0, out
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    assert "ticking" not in out.stderr


def test_interval_takes_what_the_key_takes(tmp_path: Path) -> None:
    from rung.config import read_key

    assert read_key("automate.interval", "5m", "--interval") == 300.0
    assert read_key("automate.interval", "0.5", "--interval") == 0.5
    assert validate({"automate": {"interval": "5m"}}).automate.interval == 300.0
    with pytest.raises(InvalidInput, match=r"^--interval '0': expected a duration above 0"):
        read_key("automate.interval", "0", "--interval")


# -- per model, through the real CLI: a classifier and a regressor ---------------------------

CLASSIFIER = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LogisticRegression

    @rung.step
    def fit(frame):
        return LogisticRegression().fit(frame[["a", "b"]], frame["churned"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("cls_train"))
    """
)
REGRESSOR = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import Ridge

    @rung.step
    def fit(frame):
        return Ridge().fit(frame[["a", "b"]], frame["visits"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("reg_train"))
    """
)
TOML = """
[automate]
cooldown = "0"

[automate.models.cls]
pipeline = "cls.py:train"
datasets = ["cls_holdout@1"]
criteria = ["accuracy >= 0.6 on every dataset"]
{cls_label}
[[automate.models.cls.triggers]]
kind = "dataset"
dataset = "cls_train"

[automate.models.reg]
pipeline = "reg.py:train"
datasets = ["reg_holdout@1"]
criteria = ["mae <= 10 on every dataset"]
label = "visits"

[[automate.models.reg.triggers]]
kind = "dataset"
dataset = "reg_train"

[monitor.alerts]
max_error_rate = 0.5

[monitor.models.cls]
window = "40"

[monitor.models.cls.alerts]
min_accuracy = 0.9
drifted_features = 0

[monitor.models.reg.alerts]
max_mae = 2.0
min_r2 = 0.5
drifted_features = 1
"""


def world(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a, b = r.normal(0, 1, n), r.normal(0, 1, n)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "churned": np.where(a - b + r.normal(0, 0.5, n) > 0, "yes", "no"),
            "visits": 3 * a + 2 * b + r.normal(0, 1, n),
        }
    )


def _log(store: Any, model: str, version: int, rows: pd.DataFrame, outputs: list[Any]) -> None:
    from rung.core import predlog
    from rung.serving.log import PredictionLog

    log = PredictionLog(store)
    try:
        log.submit(
            predlog.record(
                request_id=f"{model}-{time.time_ns()}",
                model=model,
                version=version,
                inputs={"a": rows["a"].tolist(), "b": rows["b"].tolist()},
                outputs={"predictions": outputs},
                latency_ms=1.0,
            )
        ).result()
    finally:
        log.close()


def test_two_models_each_with_its_own_label_and_monitoring(ws) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "cls.py").write_text(CLASSIFIER)
    (ws.root / "reg.py").write_text(REGRESSOR)
    for name, seed in (("cls", 1), ("reg", 2)):
        ws.data.add(world(300, seed).drop(columns=["visits" if name == "cls" else "churned"]),
                    name=f"{name}_train")  # fmt: skip
        ws.data.add(world(200, seed + 10), name=f"{name}_holdout")
    env = {"PYTHONPATH": os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])}

    # the classifier's label is set nowhere: one line at open, nothing run
    (ws.root / "rung.toml").write_text(TOML.format(cls_label=""))
    out = rung_cli("automate", "tick", cwd=ws.root, env=env)
    assert out.returncode == 1 and out.stdout == "", out
    assert "automate.models.cls.label is required" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert rung_cli("runs", "--json", cwd=ws.root, env=env).stdout.strip() in ("[]", "")

    # each model its own label column: both jobs succeed in one tick
    (ws.root / "rung.toml").write_text(TOML.format(cls_label='label = "churned"'))
    out = rung_cli("automate", "tick", cwd=ws.root, env=env)
    assert out.returncode == 0, out
    assert "FAILED" not in out.stdout and "no label column" not in out.stdout + out.stderr
    history = json.loads(rung_cli("automate", "history", "--json", cwd=ws.root).stdout)
    assert {(j["model"], j["state"]) for j in history} == {("cls", "done"), ("reg", "done")}
    assert {j["model"]: j["decision"] for j in history} == {"cls": "promote", "reg": "promote"}
    # rung eval of each model's version defaults to that model's label
    for model in ("cls", "reg"):
        ev = rung_cli("eval", f"{model}@champion", "--format", "json", cwd=ws.root, env=env)
        assert ev.returncode == 0, ev.stderr
    # the history table fits 80 columns: nothing cut
    listing = rung_cli("automate", "history", cwd=ws.root, env={**env, "COLUMNS": "80"}).stdout
    table = listing.split("\njob 1 fired")[0]  # the lines below are whole, as recorded
    assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80, table
    assert "model" in table.splitlines()[1] and "-→1" in table, table

    # monitoring per model: each its own window and alert rules, no warning about the other's
    shifted = world(60, 5).assign(a=lambda f: f["a"] + 6, b=lambda f: f["b"] - 6)
    for i in range(0, 60, 10):  # requests of 10 rows
        _log(ws.store, "cls", 1, shifted.iloc[i : i + 10], ["yes"] * 10)
        _log(ws.store, "reg", 1, shifted.iloc[i : i + 10], [0.0] * 10)
    reports = {}
    for model in ("cls", "reg"):
        out = rung_cli("monitor", f"{model}@champion", "--json", cwd=ws.root, env=env)
        assert out.returncode == 0, out.stderr
        assert "does not apply" not in out.stdout + out.stderr
        reports[model] = json.loads(out.stdout)
    cls, reg = reports["cls"], reports["reg"]
    assert (cls["window"], reg["window"]) == ("40", "1000")
    assert cls["rows"] == 40 and reg["rows"] == 60
    assert cls["drifted"] and reg["drifted"]  # both drifted ...
    kinds = {m: {a["kind"] for a in r["alerts"]} for m, r in reports.items()}
    assert "data_drift" not in kinds["cls"] and "data_drift" in kinds["reg"]  # ... own rules
    assert cls["warnings"] == [] and reg["warnings"] == []

    # the same rules workspace-wide: each model is warned about the other's, as before
    text = (ws.root / "rung.toml").read_text().replace("[monitor.models.reg.alerts]", "")
    text = text.replace("[monitor.models.cls.alerts]", "[monitor.alerts]")
    text = text.replace("[monitor.alerts]\nmax_error_rate = 0.5\n", "")
    (ws.root / "rung.toml").write_text(text.replace("drifted_features = 0\n", ""))
    out = rung_cli("monitor", "cls@champion", "--no-save", cwd=ws.root, env=env)
    assert out.returncode == 0, out.stderr
    assert "[monitor.alerts] max_mae does not apply to cls@champion" in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("wasserstien", "wasserstein"),
        ("ks_pvaleu", "ks_pvalue"),
        ("null_rate_chnage", "null_rate_change"),
    ],
)
@pytest.mark.parametrize(
    "where", [("features", "a"), ("prediction",), ("models", "m", "prediction")]
)
def test_a_misspelt_statistic_gets_the_nearest(
    typo: str, meant: str, where: tuple[str, ...]
) -> None:
    raw: dict[str, Any] = {"statistic": typo}
    for part in reversed(where):
        raw = {part: raw}
    with pytest.raises(InvalidInput, match=rf"statistic = '{typo}': did you mean '{meant}'\?"):
        validate({"monitor": raw})
