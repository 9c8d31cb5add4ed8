"""The workspace's configuration: ``rung.toml`` at its root, overridable by environment.

Zero configuration is the default: an empty ``rung.toml`` means a SQLite file at
``.rung/rung.db`` and artifacts under ``.rung/artifacts``. Environment variables win over the
file so that CI and teams can point a checkout at shared stores without editing it:

* ``RUNG_STORE_URL`` — e.g. ``postgresql+psycopg://user@host/db``
* ``RUNG_ARTIFACT_ROOT`` — any fsspec URL, e.g. ``s3://bucket/rung`` or ``/mnt/shared/rung``

The schema is declared once, below, with msgspec: every section, key, type and default. The
whole file is validated when a workspace opens; the first problem is one
:class:`~rung.core.errors.InvalidInput` line naming the key (a dotted path), the value and the
type expected, and an unknown section or key is refused with the nearest known name.
**Adding a key** is one line in its section's class (``name: type = default``), e.g.
``null_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1`` in :class:`DriftRule` or
``grace: Duration = 3600.0``; the types with a grammar (``Duration``, ``Window``,
``Statistic``, ``Cron``) are read by ``_Table`` whatever the class. A new section is a class
deriving from ``_Table`` plus one line in :class:`Settings`
(``gc: GcSettings = msgspec.field(default_factory=GcSettings)``). docs/configuration.md lists
every key; ``tests/test_config.py`` puts wrong types and misspellings at every key of the
schema and fails when the docs' table lacks one.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from rung.core.errors import InvalidInput
from rung.core.limits import MAX_ID

CONFIG_FILE = "rung.toml"
STATE_DIR = ".rung"

TEMPLATE = """\
# rung workspace configuration. Everything here is optional; docs/configuration.md lists
# every key. A misspelt or mistyped key is refused when the workspace opens.

[store]
# Metadata store. Empty: a SQLite file at .rung/rung.db.
# For a team: url = "postgresql+psycopg://user@host:5432/rung"   (env: RUNG_STORE_URL)
url = ""

[artifacts]
# Artifact store root, any fsspec URL. Empty: the folder .rung/artifacts.   (env: RUNG_ARTIFACT_ROOT)
root = ""

[pipelines]
# Short names for `rung run NAME`: name = "path/to/file.py:function"

[eval]
# The label column of evaluation datasets, and the acceptance criteria agreed in the scope.
# label = "down"
# criteria = ["precision_down >= 0.75 on every dataset", "f1_macro drop <= 0.01 vs baseline"]
# The acceptance datasets (rung eval's default --on); promotion needs an evaluation on them.
# datasets = ["holdout@1"]
"""


# -- the schema ----------------------------------------------------------------------------
# msgspec checks TOML's own types strictly (no "5" for 5, no true for 1) and refuses unknown
# keys; the few values with a grammar (durations, windows, cron, statistics) are checked in
# ``__post_init__``. It costs a few milliseconds per command, which pydantic would not.


class _Seconds:
    """The reader of a duration key: seconds in ``low..high`` (``low`` itself only when
    ``zero`` is allowed). Every duration of rung.toml has an upper bound, so that no value
    can overflow a timer later (``socket.settimeout(1e308)`` raises ``OverflowError``)."""

    def __init__(self, high: float, *, zero: bool = True, unit: str = "seconds") -> None:
        self.high, self.zero, self.unit = high, zero, unit

    def __call__(self, value: Any, key: str) -> float:
        from rung.core.durations import duration_seconds, spoken

        try:
            seconds = duration_seconds(value)
        except ValueError as exc:
            low = "above 0" if not self.zero else "at least 0"
            raise _Bad(key, value, f"{exc}; {low}, at most {spoken(self.high)}") from None
        if seconds == 0 and not self.zero:
            raise _Bad(key, value, f"expected a duration above 0, at most {spoken(self.high)}")
        if seconds > self.high:
            raise _Bad(key, value, f"expected a duration of at most {spoken(self.high)}")
        return seconds


def _range(low: float, high: float, *, above: bool = False) -> Any:
    """The reader of a number in ``[low, high]`` (``(low, high]`` with ``above``), finite."""

    def read(value: Any, key: str) -> float:
        import math

        ok = math.isfinite(value) and (low < value if above else low <= value) and value <= high
        if not ok:
            lo = f"above {low:g}" if above else f"at least {low:g}"
            raise _Bad(key, value, f"expected a finite number {lo} and at most {high:g}")
        return float(value)

    return read


def _reason(exc: InvalidInput, value: Any) -> str:
    """A refusal of ``value`` without repeating the value: ``invalid alias: use …``."""
    from rung.core.limits import shown

    text = (
        exc.message.replace(f" {shown(str(value))}", "") if isinstance(value, str) else exc.message
    )
    return f"{text}: {exc.hint}" if exc.hint else text


def _named(check: str, what: str) -> Any:
    """The reader of a name-like key, checked by the rule the CLI applies to the same name
    (:mod:`rung.core.refs`): ``check`` is ``name``, ``ref``, ``alias``, ``trigger`` or
    ``label``."""

    def read(value: Any, key: str) -> Any:
        from rung.core import refs

        if check == "name" and value == "" and key == "model":  # [automate] model: none
            return value
        checker = {
            "name": refs.check_name,
            "ref": refs.check_ref,
            "alias": refs.check_alias,
            "trigger": refs.check_trigger_name,
            "label": refs.check_label,
            "pipeline": refs.check_pipeline,
        }[check]
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = f"{key}[{i}]" if isinstance(value, list) else key
            try:
                checker(item, what)
            except InvalidInput as exc:
                raise _Bad(where, item, _reason(exc, item)) from None
        return value

    return read


def _window(value: Any, key: str) -> str:
    from rung.core.durations import window_spec

    try:
        window_spec(value)
    except ValueError as exc:
        raise _Bad(key, value, str(exc)) from None
    return str(value)


class _Bad(ValueError):
    """A value of the right type that does not read (raised from ``__post_init__``)."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        super().__init__(f"{key}\x00{_short(value)}\x00{expected}")
        self.key, self.value, self.expected = key, value, expected


def _statistic(value: Any, key: str) -> str:
    from rung.core.drift_rules import _DIRECTION

    if value not in _DIRECTION:
        from rung.core.suggest import closest

        near = closest(str(value), _DIRECTION)
        said = f"did you mean {' or '.join(map(repr, near))}? " if near else ""
        raise _Bad(key, value, f"{said}expected one of {sorted(_DIRECTION)}")
    return str(value)


def _cron(value: Any, key: str) -> str:
    from rung.core.cron import check_cron

    try:
        return check_cron(value)
    except ValueError as exc:
        raise _Bad(key, value, f"{exc} (five fields: minute hour day month weekday)") from None


def _webhook(value: Any, key: str) -> str:
    from rung.core.webhooks import EXAMPLE, check_webhook

    if value == "":  # an empty webhook: none
        return value
    try:
        return check_webhook(value)
    except InvalidInput:
        raise _Bad(key, value, f"expected an http(s) URL with a host, e.g. {EXAMPLE!r}") from None


def _finite(value: Any, key: str) -> float:
    import math

    if not math.isfinite(value):
        raise _Bad(key, value, "expected a finite number")
    return float(value)


def _criteria(value: Any, key: str) -> list[str]:
    from rung.core.criteria import parse_criterion

    for i, text in enumerate(value):
        try:
            parse_criterion(text)
        except InvalidInput as exc:
            raise _Bad(f"{key}[{i}]", text, f"{exc.hint or exc.message}") from None
    return list(value)


def _margins(value: Any, key: str) -> dict[str, float | str]:
    from rung.core.policy import parse_margin

    for metric, margin in value.items():
        try:
            parse_margin(margin)
        except ValueError as exc:
            raise _Bad(f"{key}.{metric}", margin, str(exc)) from None
    return dict(value)


def _criteria_metrics(
    texts: list[str], key: str, custom: tuple[str, ...] | list[str] = ()
) -> list[tuple[str, str, Any]]:
    """Every criterion's metric checked as :func:`_metric` checks it, and a value bound in
    the metric's range (``accuracy >= 1.5`` can never hold); ``(metric, key)`` of each."""
    from rung.core.criteria import parse_criterion
    from rung.core.metric_names import UnknownMetric, in_range, metric_range

    out = []
    for i, text in enumerate(texts):
        where = f"{key}[{i}]"
        c = parse_criterion(text)
        try:
            _, low, high = metric_range(c.metric, custom)
        except UnknownMetric as exc:
            raise _Bad(where, text, str(exc)) from None
        if c.change is None and (why := in_range(c.metric, c.bound, custom)):
            raise _Bad(where, text, f"{why}: a bound of {c.bound:g} is outside it")
        if c.change and not c.relative and high - low == 1 and abs(c.bound) > 1:
            raise _Bad(where, text, f"{c.metric} is in [0, 1]: a {c.change} is at most 1")
        out.append((c.metric, where, text))
    return out


def _margin_metrics(margins: dict[str, Any], key: str) -> list[tuple[str, str, Any]]:
    """Every metric of a ``decisive``/``guardrails`` table named as rung computes it, and an
    absolute margin of a metric in [0, 1] at most 1; ``(metric, key)`` of each."""
    from rung.core.metric_names import UnknownMetric, metric_range
    from rung.core.policy import parse_margin

    out = []
    for metric, margin in margins.items():
        where = f"{key}.{metric}"
        try:
            _, low, high = metric_range(metric)
        except UnknownMetric as exc:
            raise _Bad(where, margin, str(exc)) from None
        m = parse_margin(margin)
        if not m.relative and high - low == 1 and m.value > 1:
            raise _Bad(where, margin, f"{metric} is in [0, 1]: a margin of it is at most 1")
        out.append((metric, where, margin))
    return out


def _one_task(named: list[tuple[str, str, Any]]) -> None:
    """Refuse metrics of two tasks for one model (``accuracy`` criteria, ``mae`` guardrail)."""
    from rung.core.metric_names import NUMERIC, PER_CLASS

    first: tuple[str, str, str] | None = None
    for metric, where, value in named:
        task = NUMERIC[metric][0] if metric in NUMERIC else None
        if task is None and metric.partition("_")[0] in PER_CLASS:
            task = "classification"
        if task is None:
            continue
        if first is None:
            first = (metric, where, task)
        elif task != first[2]:
            raise _Bad(
                where,
                value,
                f"{metric} is a {task} metric but {first[0]} ({first[1]}) is a {first[2]}"
                " one: a model has one task",
            )


def _pipelines(value: Any, key: str) -> dict[str, str]:
    from rung.core.refs import check_name, check_target

    for name, target in value.items():
        try:
            check_name(name, "pipeline name")
        except InvalidInput as exc:
            raise _Bad(key, name, _reason(exc, name)) from None
        try:
            check_target(target)
        except InvalidInput as exc:
            raise _Bad(f"{key}.{name}", target, _reason(exc, target)) from None
    return dict(value)


# A value with a grammar is declared with its reader as a marker; _Table reads every such
# field after msgspec has checked its TOML type, so a new key of these types is one line too.
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]
Positive = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
"""An accuracy or a rate: 0..1 (NaN refused)."""
Finite = Annotated[float, _finite]
"""Any finite number (NaN and ±inf refused)."""
ErrorBound = Annotated[float, _range(0, 1e12, above=True)]
"""A bound on a live error metric (log loss, MAE, RMSE): above 0, at most 1e12."""
Webhook = Annotated[str, _webhook]
"""An http(s) URL with a host (:func:`rung.core.webhooks.check_webhook`); empty: none."""
Criteria = Annotated[list[str], _criteria]
"""Acceptance criteria, each parsed by :func:`rung.core.criteria.parse_criterion`."""
DAY = 86400.0
YEAR = 366 * DAY
Duration = Annotated[float | str, _Seconds(YEAR)]
"""Seconds: ``90``, ``"90s"``, ``"30m"``, ``"6h"``, ``"1d"``, ``"2w"``; read as float seconds,
0 up to a year."""
Interval = Annotated[float | str, _Seconds(DAY, zero=False)]
"""A duration above 0 and at most a day (a lease, the loop's interval): 0 would spin or
expire at once."""
Timeout = Annotated[float, _range(0, 600, above=True)]
"""Seconds to wait for a network peer: above 0, at most 10 minutes."""
Millis = Annotated[float, _range(0, 3_600_000, above=True)]
"""A latency in milliseconds: above 0, at most an hour."""
Name = Annotated[str, _named("name", "name")]
"""A dataset, model or pipeline name, by :func:`rung.core.refs.check_name`."""
DatasetRef = Annotated[str, _named("ref", "dataset")]
"""``NAME`` or ``NAME@VERSION``, by :func:`rung.core.refs.parse_ref`."""
Alias = Annotated[str, _named("alias", "alias")]
"""A model alias, by :func:`rung.core.refs.check_alias` (the registry's rule)."""
TriggerName = Annotated[str, _named("trigger", "trigger name")]
"""A trigger's name, by :func:`rung.core.refs.check_trigger_name`."""
PipelineRef = Annotated[str, _named("pipeline", "pipeline")]
"""A ``[pipelines]`` name or ``file.py:function``, by :func:`rung.core.refs.check_pipeline`."""
Label = Annotated[str, _named("label", "label column")]
"""A column name: not blank, at most :data:`rung.core.limits.KEY` characters."""
Window = Annotated[int | str, _window]
"""A monitoring window: ``1000`` (rows) or a period ``"30m"``, ``"12h"``, ``"1d"``; read as str."""
Statistic = Annotated[str, _statistic]
"""A drift statistic of :mod:`rung.core.drift`: ``wasserstein``, ``psi``, ``ks``, …"""
Cron = Annotated[str, _cron]
"""Five cron fields, UTC."""
Margins = Annotated[dict[str, float | str], _margins]
"""Metric → non-inferiority margin: a number in the metric's units (``0.02``) or a share of
the champion's value (``"5%"``); see :mod:`rung.core.policy`."""
Alpha = Annotated[float, msgspec.Meta(gt=0, lt=1)]
"""A significance level: strictly between 0 and 1."""


def _reader(kind: Any) -> Any:
    """The reader marking ``kind`` (``X`` or ``X | None``), if any."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        readers = [_reader(k) for k in typing.get_args(kind) if k is not type(None)]
        return readers[0] if len(readers) == 1 else None
    if typing.get_origin(kind) is Annotated:
        return next((m for m in kind.__metadata__ if callable(m)), None)
    return None


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A table of rung.toml: TOML's own types only, unknown keys refused; values with a
    grammar (durations, windows, statistics, cron) read once, here."""

    def __post_init__(self) -> None:
        for f in msgspec.structs.fields(self):
            read = _reader(f.type)
            value = getattr(self, f.name)
            if read is not None and value is not None:
                setattr(self, f.name, read(value, f.name))


class StoreSettings(_Table):
    url: str = ""  # empty: sqlite:///<root>/.rung/rung.db; env RUNG_STORE_URL wins


class ArtifactSettings(_Table):
    root: str = ""  # empty: <root>/.rung/artifacts; any fsspec URL; env RUNG_ARTIFACT_ROOT wins


class EvalSettings(_Table):
    label: Label | None = None
    criteria: Criteria = []
    # the acceptance datasets: rung eval's default --on, and the gate's
    datasets: Annotated[list[str], _named("ref", "dataset")] = []
    # names of user metrics (ws.evaluate(custom_metrics=...)) that criteria may name
    custom_metrics: Annotated[list[str], _named("name", "metric name")] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        _criteria_metrics(self.criteria, "criteria", self.custom_metrics)


class DriftRule(_Table):
    """``[monitor.features.NAME]`` and ``[monitor.prediction]``."""

    statistic: Statistic | None = None
    threshold: Finite | None = None
    null_threshold: Fraction | None = None
    alpha: Fraction | None = None  # the level of the test gating an effect size (0.0025); 1: off

    def __post_init__(self) -> None:
        super().__post_init__()
        from rung.core.drift_rules import threshold_range

        low, high = threshold_range(self.statistic)
        if self.threshold is not None and not low <= self.threshold <= high:
            what = f"{self.statistic} threshold" if self.statistic else "threshold"
            raise _Bad("threshold", self.threshold, f"a {what} is in [{low:g}, {high:g}]")


class AlertRules(_Table):
    """``[monitor.alerts]``; see :mod:`rung.monitoring.alerts`."""

    drifted_features: Count = 1
    prediction_drift: bool = True
    min_accuracy: Fraction | None = None  # classifiers
    max_log_loss: ErrorBound | None = None  # classifiers that log probabilities
    max_mae: ErrorBound | None = None  # regressors
    max_rmse: ErrorBound | None = None  # regressors
    min_r2: Annotated[float, _range(-1e12, 1)] | None = None  # regressors (R² may be < 0)
    min_labelled: Count = 30
    max_error_rate: Fraction | None = None
    max_p99_ms: Millis | None = None


class _MonitorKeys(_Table):
    """The keys of one model's monitoring: in ``[monitor]`` and in each
    ``[monitor.models.NAME]``."""

    window: Window = "1000"
    reference: DatasetRef | None = None
    webhook: Webhook | None = None
    webhook_timeout: Timeout = 5.0
    alerts: AlertRules = msgspec.field(default_factory=AlertRules)
    features: dict[str, DriftRule] = {}
    prediction: DriftRule = msgspec.field(default_factory=DriftRule)


_MERGED = ("alerts", "features", "prediction")
"""The tables of ``[monitor]`` a model's table merges key by key rather than replaces."""


class MonitorSettings(_MonitorKeys):
    """``[monitor]``: the monitoring of every model, and ``[monitor.models.NAME]`` tables of
    the same keys for one model each; see :meth:`of`."""

    models: dict[str, ModelMonitor] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_model_names(self.models)

    def of(self, model: str) -> dict[str, Any]:
        """The monitoring settings of ``model`` as plain data: ``[monitor]``'s, with the keys
        of ``[monitor.models.MODEL]`` over them — ``alerts``, ``features`` and
        ``prediction`` key by key (a model's ``max_mae`` joins the section's
        ``drifted_features``), every other key as a whole."""
        base = {k: v for k, v in _plain(self).items() if k != "models"}
        own = _plain(self.models[model]) if model in self.models else {}
        merged = {**base, **{k: v for k, v in own.items() if k not in _MERGED}}
        for key in _MERGED:
            merged[key] = {**base.get(key, {}), **own.get(key, {})}
        return merged


class _Trigger(_Table, tag_field="kind", kw_only=True):
    name: TriggerName | None = None


class ScheduleTrigger(_Trigger, tag="schedule", kw_only=True):
    cron: Cron


class DatasetTrigger(_Trigger, tag="dataset", kw_only=True):
    dataset: Name


class DriftTrigger(_Trigger, tag="drift"):
    window: Window | None = None
    min_features: Count = 1
    predictions: bool = False


class PerformanceTrigger(_Trigger, tag="performance"):
    """A live metric of the champion past a bound: ``accuracy`` and ``r2`` fire ``below``,
    ``log_loss``, ``mae`` and ``rmse`` ``above`` (:data:`rung.monitoring.performance.METRICS`;
    whether the metric fits the model's task is checked when the trigger is judged)."""

    metric: Literal["accuracy", "log_loss", "mae", "rmse", "r2"] = "accuracy"
    below: Finite | None = None
    above: Finite | None = None
    labelled: Positive = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        bound = "below" if self.metric in ("accuracy", "r2") else "above"
        other = "above" if bound == "below" else "below"
        value = getattr(self, bound)
        if value is None:
            raise _Bad(bound, None, f"metric = {self.metric!r} needs {bound} = N")
        if getattr(self, other) is not None:
            raise _Bad(other, getattr(self, other), f"metric = {self.metric!r} fires {bound} = N")
        if self.metric == "accuracy" and not 0 < value <= 1:
            raise _Bad(bound, value, "an accuracy bound is above 0 and at most 1")
        if self.metric in ("mae", "rmse", "log_loss") and not value >= 0:
            raise _Bad(bound, value, f"a {self.metric} bound is at least 0")


class LiveTrigger(_Trigger, tag="live"):
    """A challenger served beside the champion (``rung serve --shadow`` or ``--canary``),
    judged on the live traffic whose labels came back (:mod:`rung.automation.live`): better
    promotes it through the registry's gate, worse rejects it, too few labels wait."""

    challenger: Alias = "challenger"
    mode: Literal["auto", "paired", "two-sample"] = "auto"
    min_labelled: Positive = 30


Trigger = ScheduleTrigger | DatasetTrigger | DriftTrigger | PerformanceTrigger | LiveTrigger


def _model_table(base: type[_Table], name: str, **types_: Any) -> Any:
    """``[automate.models.NAME]``, ``[monitor.models.NAME]``: every per-model key of the
    section ``base`` (all but ``model`` and ``models``), each optional, so a key left out
    takes the section's value (``types_`` replaces a key's type: a sub-table whose own keys
    are optional). Made from the section's own fields (and checks), so a key added there is
    a per-model key too."""
    return msgspec.defstruct(
        name,
        [
            (f.name, types_.get(f.name, f.type) | None, None)
            for f in msgspec.structs.fields(base)
            if f.name not in ("model", "models")
        ],
        bases=(base,),
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )


class _AutomateKeys(_Table):
    """The keys of one model's loop: in ``[automate]`` and in each ``[automate.models.NAME]``."""

    alias: Alias = "champion"
    pipeline: PipelineRef | None = None
    params: dict[str, Any] = {}
    policy: Literal["auto", "manual"] = "auto"
    label: Label | None = None  # None: [eval] label
    decisive: Margins | None = None  # None: the first criterion's metric, else accuracy / mae
    guardrails: Margins | None = None  # None: log_loss 0.05 / rmse 5%; {}: none
    alpha: Alpha = 0.05
    decide_on: Literal["fresh", "datasets", "all"] = "fresh"
    gate_on: Literal["datasets", "all"] = "datasets"
    datasets: Annotated[list[str], _named("ref", "dataset")] = []
    criteria: Criteria | None = None  # None: [eval] criteria
    fresh: Count = 0
    cooldown: Duration = 0.0
    debounce: Positive = 1
    lease: Interval = 60.0
    interval: Interval = 60.0
    triggers: list[Trigger] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        # metric names and bounds, here for [automate]'s defaults too (a model's whole set
        # is checked for one task by Settings)
        _criteria_metrics(self.criteria or [], "criteria")
        _margin_metrics(self.decisive or {}, "decisive")
        _margin_metrics(self.guardrails or {}, "guardrails")
        if self.decisive == {}:
            raise _Bad(
                "decisive",
                {},
                "name at least one metric, e.g. { accuracy = 0.02 } (leave decisive out for"
                " the default: the first criterion's metric)",
            )
        seen: dict[str, int] = {}
        triggers = self.triggers or []  # None in a model's table: [automate]'s
        for i, trigger in enumerate(triggers):
            # the name a trigger is recorded under (rung.automation.triggers.parse_triggers)
            same = [t for t in triggers if t.__struct_config__.tag == trigger.__struct_config__.tag]
            tag = str(trigger.__struct_config__.tag)
            name = trigger.name or (tag if len(same) == 1 else f"{tag}{i}")
            if name in seen:
                raise _Bad(
                    f"triggers[{i}].name",
                    name,
                    f"triggers[{seen[name]}] has the same name; give each trigger its own name",
                )
            seen[name] = i


if typing.TYPE_CHECKING:  # the same keys, for type checkers
    ModelAutomate = _AutomateKeys
    ModelMonitor = _MonitorKeys
else:
    ModelAutomate = _model_table(_AutomateKeys, "ModelAutomate")
    ModelMonitor = _model_table(
        _MonitorKeys, "ModelMonitor", alerts=_model_table(AlertRules, "ModelAlerts")
    )


def _check_model_names(models: dict[str, Any]) -> None:
    """Each ``[SECTION.models.NAME]``'s NAME is a model name."""
    from rung.core.refs import check_name

    for name in models:
        try:
            check_name(name, "model name")
        except InvalidInput as exc:
            raise _Bad(f"models.{name[:40]}", name, _reason(exc, name)) from None


class AutomateSettings(_AutomateKeys):
    """``[automate]``: one model's loop (``model = ...``) and/or several, each a
    ``[automate.models.NAME]`` table of the same keys; a key a model's table leaves out takes
    ``[automate]``'s value (see :meth:`per_model`)."""

    model: Name = ""
    models: dict[str, ModelAutomate] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_model_names(self.models)
        if self.model and self.model in self.models:
            raise _Bad(
                "model",
                self.model,
                f"also configured as [automate.models.{self.model}]: keep one of the two",
            )

    def per_model(self) -> dict[str, dict[str, Any]]:
        """Every automated model's settings as plain data, by name: ``model = ...`` of the
        section itself, then each ``[automate.models.NAME]`` over the section's values."""
        base = {k: v for k, v in _plain(self).items() if k not in ("models",)}
        out: dict[str, dict[str, Any]] = {}
        if self.model:
            out[self.model] = base
        shared = {k: v for k, v in base.items() if k != "model"}
        for name, table in self.models.items():
            out[name] = {**shared, **_plain(table), "model": name}
        return out


def _origins(value: Any, key: str) -> Any:
    """CORS origins: ``scheme://host[:port]``, as a browser's ``Origin`` header writes them."""
    import re

    for i, item in enumerate(value):
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", item) or item.endswith("/"):
            raise _Bad(f"{key}[{i}]", item, "expected an origin such as https://app.example.com")
    return value


def _hosts(value: Any, key: str) -> Any:
    """``Host`` names: a host name or address, ``*.domain`` or ``*``, without a port."""
    from rung.core.refs import check_host

    for i, item in enumerate(value):
        try:
            check_host(item)
        except InvalidInput:
            raise _Bad(
                f"{key}[{i}]", item, "expected a host name without a port, *.domain or *"
            ) from None
    return value


class ServeSettings(_Table):
    """``[serve]``: what `rung serve` accepts (see docs/security.md, "Serving securely") and
    what the prediction log keeps (:mod:`rung.serving.retention`)."""

    # Host header names accepted beside the bound address, localhost, 127.0.0.1 and ::1
    allowed_hosts: Annotated[list[str], _hosts] = []
    # origins allowed to call the service from a browser (CORS); empty: no CORS at all
    cors_origins: Annotated[list[str], _origins] = []
    # seconds a connection may take to send a request's headers before it is closed
    header_timeout: Annotated[float | str, _Seconds(3600, zero=False)] = 10.0
    # seconds a request's body may send nothing before it is answered 408 and closed
    body_timeout: Annotated[float | str, _Seconds(3600, zero=False)] = 10.0

    # bytes a request body may hold (after gzip/deflate decoding); past it: 413
    max_body: Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)] = 8 << 20
    retention: Duration | None = None  # records older than this go (e.g. "30d"); None: kept
    max_log_rows: Positive | None = None  # at most this many records (the oldest go first)
    log_sample_rows: Positive = 1000  # a request of more rows stores a sample of this many
    prune_interval: Interval = 3600.0  # how often the running service applies retention


class Settings(_Table):
    """The whole of ``rung.toml``."""

    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    artifacts: ArtifactSettings = msgspec.field(default_factory=ArtifactSettings)
    pipelines: Annotated[dict[str, str], _pipelines] = {}
    eval: EvalSettings = msgspec.field(default_factory=EvalSettings)
    monitor: MonitorSettings = msgspec.field(default_factory=MonitorSettings)
    automate: AutomateSettings = msgspec.field(default_factory=AutomateSettings)
    serve: ServeSettings = msgspec.field(default_factory=ServeSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        auto = self.automate
        for name, section in auto.per_model().items():
            own = auto.models.get(name)
            table = f"automate.models.{name}" if own is not None else "automate"

            def at(key: str, own: Any = own, name: str = name) -> str:
                """Where ``key`` of this model is written (its table, else [automate])."""
                return (
                    f"automate.models.{name}.{key}"
                    if getattr(own, key, None) is not None
                    else f"automate.{key}"
                )

            triggers = section.get("triggers") or []
            # a loop whose triggers are all live judges served challengers: it trains
            # nothing and reads labels from the feedback, not from a label column
            retrains = not triggers or any(t.get("kind") != "live" for t in triggers)
            for i, trigger in enumerate(triggers):
                if trigger.get("kind") == "live" and trigger.get("challenger") == section.get(
                    "alias", "champion"
                ):
                    raise _Bad(
                        f"{table}.triggers[{i}].challenger",
                        trigger.get("challenger"),
                        f"the challenger alias is the alias the loop promotes to; name the"
                        f" alias `rung serve --shadow/--canary {name}@ALIAS` serves",
                    )
            if triggers and retrains and not section.get("label") and not self.eval.label:
                also = "[automate] or [eval]" if own is not None else "[eval]"
                raise _Bad(  # a loop that can fire evaluates: known before anything runs
                    f"{table}.label",
                    None,
                    f"{name}'s loop evaluates each challenger on a label column: set"
                    f' label = "COLUMN" in [{table}] (or in {also}, for every model)',
                )
            named: list[tuple[str, str, Any]] = []
            criteria = section.get("criteria")
            if criteria is None:  # [eval]'s: user metrics may be declared there
                custom = self.eval.custom_metrics
                for metric, where, text in _criteria_metrics(
                    self.eval.criteria, "eval.criteria", custom
                ):
                    if metric in custom:
                        raise _Bad(
                            where,
                            text,
                            f"{metric} is a user metric, which {name}'s loop does not compute:"
                            f" give [{table}] criteria of its own",
                        )
                    named.append((metric, where, text))
            else:
                named += _criteria_metrics(criteria, at("criteria"))
            named += _margin_metrics(section.get("decisive") or {}, at("decisive"))
            named += _margin_metrics(section.get("guardrails") or {}, at("guardrails"))
            _one_task(named)
            inherit = " (or [automate], for every model)" if own is not None else ""
            if retrains and not section.get("pipeline"):  # known before a trigger fires
                raise _Bad(
                    f"{table}.pipeline",
                    "",
                    f"model {name!r} is automated but has no pipeline to retrain it:"
                    f' set pipeline = "file.py:function" under [{table}]{inherit}',
                )
            if not section.get("triggers"):
                raise _Bad(
                    f"{table}.triggers",
                    [],
                    f"model {name!r} is automated but nothing would start a job: add"
                    f" [[{table}.triggers]] entries{inherit}",
                )

    def section(self, name: str) -> dict[str, Any]:
        """One section as plain data, defaults filled in, unset optional keys left out."""
        return _plain(getattr(self, name))


def _plain(value: Any) -> Any:
    """Structs as dicts (a trigger's tag as ``kind``), ``None`` members left out."""
    if isinstance(value, msgspec.Struct):
        out = {k: _plain(v) for k, v in msgspec.structs.asdict(value).items() if v is not None}
        tag = type(value).__struct_config__.tag
        return {"kind": tag, **out} if isinstance(tag, str) else out
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- reading and reporting -----------------------------------------------------------------

_TYPES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "object": "a table",
    "array": "a list",
    "null": "nothing",
}
_MESSAGE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<at>.*)`)?$", re.S)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parts(at: str) -> list[str | int]:
    return [
        m[1] if m[1] is not None else (m[2] if m[2] == "..." else int(m[2]))
        for m in _PART.finditer(at)
    ]


def _find(raw: Any, parts: list[str | int]) -> tuple[list[str | int], Any]:
    """Walk ``raw`` along ``parts``; a ``...`` (a table's unnamed member) becomes the first
    key whose entry alone fails validation."""
    walked: list[str | int] = []
    here = raw
    for i, part in enumerate(parts):
        if part == "..." and isinstance(here, dict):
            for key in here:
                trial = _replace(raw, walked, {key: here[key]})
                try:
                    msgspec.convert(trial, Settings)
                except (msgspec.ValidationError, ValueError):
                    part = key
                    break
            else:
                return walked + list(parts[i:]), None
        walked.append(part)
        try:
            here = here[part]
        except (KeyError, IndexError, TypeError):
            return walked + list(parts[i + 1 :]), None
    return walked, here


def _replace(raw: Any, path: list[str | int], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(raw, dict):
        return {**raw, head: _replace(raw[head], rest, value)}
    copy = list(raw)
    copy[head] = _replace(raw[head], rest, value)  # type: ignore[index]
    return copy


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _type_at(parts: list[str | int], raw: Any) -> Any:
    """The schema's type at ``parts`` (a trigger resolved by its ``kind``), or None."""
    kind: Any = Settings
    here = raw
    for part in [*parts, None]:
        if typing.get_origin(kind) in (typing.Union, types.UnionType) and any(
            _tag(t) for t in typing.get_args(kind)
        ):
            tag = here.get("kind") if isinstance(here, dict) else None
            members = [t for t in typing.get_args(kind) if _tag(t) == tag]
            if not members:
                return None
            kind = members[0]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None: X
            members = [t for t in typing.get_args(kind) if t is not type(None)]
            kind = members[0] if len(members) == 1 else kind
        if part is None:
            return kind
        here = here[part] if isinstance(here, dict | list) and part in _keys(here) else None  # type: ignore[index]
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            kind = {f.name: f.type for f in msgspec.structs.fields(kind)}.get(str(part))
        elif typing.get_origin(kind) in (dict, list):
            kind = typing.get_args(kind)[-1]
        else:
            return None
    return None


def _keys(here: dict[str, Any] | list[Any]) -> Any:
    return here if isinstance(here, dict) else range(len(here))


def _known(parts: list[str | int], raw: Any) -> list[str]:
    """The keys the schema knows in the table at ``parts`` (for "did you mean")."""
    kind = _type_at(parts, raw)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return sorted(f.name for f in msgspec.structs.fields(kind))
    return []


def _table_meant(parts: list[str | int], raw: Any) -> str | None:
    """The key beside ``parts[-1]`` that takes a table and is nearest its name, if any: the
    one meant when a table was written at a key that takes a value (``automate.model``)."""
    if not parts or not isinstance(parts[-1], str):
        return None
    kind = _type_at(parts[:-1], raw)
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return None
    tables = [
        f.name
        for f in msgspec.structs.fields(kind)
        if _struct(f.type) or typing.get_origin(f.type) is dict
    ]
    near = difflib.get_close_matches(parts[-1], tables, n=1, cutoff=0.6)
    return near[0] if near else None


def _struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _choices(parts: list[str | int], raw: Any) -> list[str]:
    """The values a Literal or a trigger's ``kind`` allows at ``parts``."""
    if parts[-2:-1] and isinstance(parts[-2], int) and parts[-1] == "kind":  # a trigger's
        return [str(_tag(t)) for t in typing.get_args(Trigger)]
    kind = _type_at(parts, raw)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next((t for t in typing.get_args(kind) if t is not type(None)), None)
    return [str(a) for a in typing.get_args(kind)] if typing.get_origin(kind) is Literal else []


def _tag(kind: Any) -> Any:
    is_struct = isinstance(kind, type) and issubclass(kind, msgspec.Struct)
    return kind.__struct_config__.tag if is_struct else None


def describe(path: Path | str, raw: dict[str, Any], exc: Exception) -> InvalidInput:
    """A validation failure as one line naming the key, the value and the type expected."""
    hint = "fix it in rung.toml (every key: docs/configuration.md)"
    text = str(exc)
    match = _MESSAGE.match(text)
    what, at = (match["what"], match["at"] or "") if match else (text, "")
    parts, value = _find(raw, _parts(at))
    if "\x00" in what:  # from a __post_init__: the key inside the table, the value, expected
        key, shown, expected = what.split("\x00")
        where = _dotted([*parts, key])
        if shown == "None":  # a key that another one's value requires
            return InvalidInput(f"{path}: {where} is required: {expected}", hint)
        return InvalidInput(f"{path}: {where} = {shown}: {expected}", hint)
    unknown = re.match(r"Object contains unknown field `(.*)`", what)
    if unknown:
        name = unknown[1]
        known = _known(parts, raw)
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        where = "section" if not parts else "key"
        return InvalidInput(
            f"{path}: unknown {where} {_dotted([*parts, name])!r}",
            f"did you mean {near[0]!r}?" if near else f"known: {', '.join(known)}",
        )
    missing = re.match(r"Object missing required field `(.*)`", what)
    if missing:
        return InvalidInput(f"{path}: {_dotted([*parts, missing[1]])} is required", hint)
    typed = re.match(r"Expected `([^`]*)`(.*?)(?:, got `(.*)`)?$", what)
    if typed:
        names = [_TYPES.get(t.strip(), t.strip()) for t in typed[1].split("|")]
        expected = " or ".join(n for n in names if n != "nothing") or "nothing"
        expected = f"expected {expected}{typed[2]}".replace(">=", "at least").replace(">", "above")
        expected = expected.replace("<=", "at most").replace("<", "below")
        meant = _table_meant(parts, raw) if isinstance(value, dict) else None
        if meant and "table" not in expected:  # [automate.model.a]: a table where a value goes
            first: list[str | int] = [str(k) for k in list(value)[:1]]
            return InvalidInput(
                f"{path}: {_dotted(parts)} = {_short(value)}: {expected}, not a table",
                f"did you mean [{_dotted([*parts[:-1], meant, *first])}]?",
            )
    elif _choices(parts, raw):
        expected = f"expected one of {', '.join(repr(c) for c in _choices(parts, raw))}"
    else:
        expected = what[0].lower() + what[1:] if what else "invalid"
    return InvalidInput(f"{path}: {_dotted(parts)} = {_short(value)}: {expected}", hint)


def validate(raw: dict[str, Any], path: Path | str = CONFIG_FILE) -> Settings:
    """``raw`` (a parsed rung.toml) as :class:`Settings`; raises InvalidInput (one line)."""
    try:
        return msgspec.convert(raw, Settings)
    except (msgspec.ValidationError, ValueError) as exc:
        raise describe(path, raw, exc) from None


def read_key(key: str, value: Any, option: str) -> Any:
    """``value`` given on the command line as ``option`` (``--interval``), read as the key
    ``key`` (``automate.interval``) of rung.toml is read: the same type, grammar and range,
    so an option and the key it mirrors accept the same values. A string is read as TOML
    would read it where the key takes a number (``"60"`` → 60). Raises one
    :class:`InvalidInput` line naming the option, the value and what the key expects."""
    kind = _type_at(list[str | int](key.split(".")), {})
    hint = f"the same values as {key} in rung.toml (docs/configuration.md)"
    read = _reader(kind)
    if isinstance(value, str) and read is None:
        with contextlib.suppress(tomllib.TOMLDecodeError):
            value = tomllib.loads(f"v = {value}")["v"]
    try:
        value = msgspec.convert(value, kind)
        return read(value, key) if read is not None and value is not None else value
    except _Bad as exc:  # the bad item itself, for a list
        raise InvalidInput(f"{option} {_short(exc.value)}: {exc.expected}", hint) from None
    except msgspec.ValidationError as exc:
        what = str(exc).split(" - at ")[0]
        typed = re.match(r"Expected `([^`]*)`(.*?)(?:, got `(.*)`)?$", what)
        if typed:
            names = [_TYPES.get(t.strip(), t.strip()) for t in typed[1].split("|")]
            what = f"expected {' or '.join(n for n in names if n != 'nothing')}{typed[2]}"
            what = what.replace(">=", "at least").replace("<=", "at most")
        raise InvalidInput(f"{option} {_short(value)}: {what}", hint) from None


def check_criteria(texts: list[str], option: str, custom: list[str] | None = None) -> None:
    """Criteria given as ``option`` (``--criterion``) checked as ``eval.criteria`` is at
    open: each parsed, its metric one rung computes (or a declared user metric in
    ``custom``) and a value bound in the metric's range. Raises one :class:`InvalidInput`."""
    from rung.core.criteria import parse_criterion

    for text in texts:
        parse_criterion(text)  # its own one line: "malformed criterion …"
    try:
        _criteria_metrics(list(texts), option, custom or [])
    except _Bad as exc:
        raise InvalidInput(
            f"{option} {_short(exc.value)}: {exc.expected}",
            "the same criteria as [eval] criteria in rung.toml (docs/evaluation.md)",
        ) from None


@dataclass
class Config:
    """Resolved settings of one workspace."""

    root: Path
    store_url: str
    artifact_root: str
    pipelines: dict[str, str] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def raw(self) -> dict[str, Any]:
        """The validated file as plain data (defaults filled in)."""
        return {f: self.settings.section(f) for f in self.settings.__struct_fields__}


ROOT_HINT = (
    "set RUNG_ARTIFACT_ROOT or [artifacts] root in rung.toml to a folder rung can write,"
    " or an fsspec URL such as s3://bucket/rung"
)


def check_artifact_root(root: str, source: str) -> str:
    """``root`` if it can be an artifact root, else one :class:`InvalidInput` line naming it.

    Checked when a workspace opens, without creating anything: no blank value, spaces around
    it or control characters; a URL's protocol must be one fsspec knows (its library may
    still be missing: said when first used); a folder must not be a file, lie under a file,
    or have a nearest existing folder this process cannot write. ``source`` names where the
    value came from (``RUNG_ARTIFACT_ROOT``, ``rung.toml: artifacts.root``)."""

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"{source} = {_short(root)}: {why}", ROOT_HINT)

    if not root.strip() or root != root.strip() or not root.isprintable():
        raise bad("not a folder or URL (blank, spaces around it, or control characters)")
    if "://" in root and not root.startswith(("file://", "local://")):
        from fsspec.registry import known_implementations, registry

        protocol = root.split("://", 1)[0]
        if protocol not in known_implementations and protocol not in registry:
            raise bad(f"unknown protocol {protocol!r}")
        return root
    here = Path(os.path.abspath(root.split("://", 1)[-1]))
    for folder in (here, *here.parents):
        if folder.exists():
            if not folder.is_dir():
                raise bad(f"{folder} is a file, not a folder")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise bad(f"the folder {folder} is not writable")
            break
    return root


def load_config(root: Path) -> Config:
    """Read and validate ``rung.toml`` under ``root``; apply environment overrides."""
    path = root / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc})", "fix the file's syntax") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path} ({exc})", "check the file") from exc
    settings = validate(raw, path)
    state = root / STATE_DIR
    store_url = (
        os.environ.get("RUNG_STORE_URL") or settings.store.url or f"sqlite:///{state / 'rung.db'}"
    )
    if os.environ.get("RUNG_ARTIFACT_ROOT"):
        artifact_root, source = os.environ["RUNG_ARTIFACT_ROOT"], "RUNG_ARTIFACT_ROOT"
    elif settings.artifacts.root:
        artifact_root, source = settings.artifacts.root, f"{path}: artifacts.root"
    else:
        artifact_root, source = str(state / "artifacts"), "the artifact root"
    check_artifact_root(artifact_root, source)
    return Config(root, store_url, artifact_root, dict(settings.pipelines), settings)
