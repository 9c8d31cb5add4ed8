"""Triggers of the continuous-training loop, declared in ``rung.toml``::

    [[automate.triggers]]
    kind = "schedule"          # a cron expression, in UTC
    cron = "0 3 * * 1"

    [[automate.triggers]]
    kind = "dataset"           # a new version of a named dataset
    dataset = "sp500"

    [[automate.triggers]]
    kind = "drift"             # a drift alert on a new monitoring window
    window = "500"             # default: [monitor] window
    min_features = 1           # drifted features that count as an alert
    predictions = false        # also fire when the predictions drift

    [[automate.triggers]]
    kind = "performance"       # a live metric of the champion past a bound
    metric = "accuracy"        # classifier: accuracy (below), log_loss (above);
    below = 0.55               # regressor: mae, rmse (above), r2 (below)
    labelled = 100             # on its newest N labelled rows

    [[automate.triggers]]
    kind = "live"              # a challenger served in shadow or as a canary, judged on
    challenger = "challenger"  # live labelled traffic: the alias it is served under
    mode = "auto"              # auto, paired (shadow) or two-sample (canary)
    min_labelled = 30          # labelled rows (pairs, or rows of each arm) before a test

Each trigger is checked once per tick and keeps what it saw (its state) in the metadata
store: the last cron time checked, the dataset version it fired for, how many ticks in a row
its condition held (the debounce). Parsing checks everything up front, so a bad cron
expression or an unknown kind is one clear error before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.limits import TRIGGER, check_length

KINDS = {
    "schedule": {"cron"},
    "dataset": {"dataset"},
    "drift": {"window", "min_features", "predictions"},
    "performance": {"metric", "below", "above", "labelled"},
    "live": {"challenger", "mode", "min_labelled"},
}
RETRAINS = ("schedule", "dataset", "drift", "performance")
"""The kinds whose job retrains the model; a ``live`` trigger's job judges a served one."""


@dataclass(frozen=True)
class Trigger:
    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_triggers(raw: Any) -> list[Trigger]:
    """``[[automate.triggers]]`` as Trigger objects, or one error naming the bad entry."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput(
            "automate.triggers must be a list of tables", "write [[automate.triggers]] entries"
        )
    out: list[Trigger] = []
    for i, entry in enumerate(raw):
        where = f"automate.triggers[{i}]"
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            kind = entry.get("kind") if isinstance(entry, dict) else entry
            raise InvalidInput(f"{where} has kind {kind!r}", f"use one of {sorted(KINDS)}")
        kind = entry["kind"]
        options = {k: v for k, v in entry.items() if k not in ("kind", "name")}
        unknown = sorted(set(options) - KINDS[kind])
        if unknown:
            raise InvalidInput(
                f"{where} ({kind}) has unknown key(s) {unknown}", f"use {sorted(KINDS[kind])}"
            )
        if kind == "schedule":
            check_cron(options.get("cron"), where)
        elif kind == "dataset" and not isinstance(options.get("dataset"), str):
            raise InvalidInput(f'{where} needs dataset = "NAME"', 'e.g. dataset = "sp500"')
        elif kind == "performance":
            check_performance(options, where)
        elif kind == "live":
            check_live(options, where)
        name = str(
            entry.get("name")
            or (kind if sum(e.get("kind") == kind for e in raw) == 1 else f"{kind}{i}")
        )
        check_length(name, TRIGGER, f"{where} name")
        out.append(Trigger(name, kind, options))
    return out


def check_performance(options: dict[str, Any], where: str) -> None:
    """A performance trigger's ``metric`` and its bound: ``below`` for accuracy and R² (they
    get worse downwards), ``above`` for log loss, MAE and RMSE; the other bound is refused.
    Whether the metric fits the model's task is checked when the trigger is judged."""
    from rung.monitoring.performance import METRICS

    metric = options.setdefault("metric", "accuracy")
    if metric not in METRICS:
        raise InvalidInput(
            f"{where} has metric {metric!r}",
            f"use one of {', '.join(METRICS)} (accuracy and log_loss for a classifier;"
            " mae, rmse and r2 for a regressor)",
        )
    worse = METRICS[metric][1]
    other = "above" if worse == "below" else "below"
    if other in options:
        raise InvalidInput(
            f"{where}: metric {metric!r} fires {worse} a bound, not {other}",
            f"write {worse} = N instead of {other} = N",
        )
    if not isinstance(options.get(worse), int | float) or isinstance(options.get(worse), bool):
        raise InvalidInput(f"{where}: metric {metric!r} needs {worse} = N", f"e.g. {worse} = 0.55")


def check_live(options: dict[str, Any], where: str) -> None:
    """A live trigger's options with their defaults filled in: ``challenger`` (an alias,
    default ``challenger``), ``mode`` (one of :data:`rung.automation.live.MODES`, default
    ``auto``) and ``min_labelled`` (an integer >= 1, default 30)."""
    from rung.automation.live import MIN_LABELLED, MODES
    from rung.core.refs import check_alias

    options.setdefault("challenger", "challenger")
    options.setdefault("mode", "auto")
    options.setdefault("min_labelled", MIN_LABELLED)
    check_alias(str(options["challenger"]))
    if options["mode"] not in MODES:
        raise InvalidInput(f"{where} has mode {options['mode']!r}", f"use one of {MODES}")
    n = options["min_labelled"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidInput(f"{where} has min_labelled = {n!r}", "give an integer >= 1, e.g. 30")


def check_cron(expr: Any, where: str = "cron") -> None:
    """Refuse an expression cronsim cannot read, naming it."""
    from rung.core.cron import cron_problem

    if not isinstance(expr, str):
        raise InvalidInput(
            f'{where} needs cron = "..."', 'e.g. cron = "0 3 * * 1" (Mondays, 03:00 UTC)'
        )
    problem = cron_problem(expr)
    if problem is not None:
        raise InvalidInput(
            f"the cron expression {expr!r} in {where}: {problem}",
            'five fields: minute hour day month weekday, e.g. "0 3 * * 1"',
        )


def cron_due(expr: str, since: float, now: float) -> float | None:
    """The latest time ``expr`` matched in (since, now], or None."""
    from cronsim import CronSim

    due = None
    for moment in CronSim(expr, datetime.fromtimestamp(since, UTC)):
        t = moment.timestamp()
        if t > now:
            break
        due = t
    return due


def parse_duration(text: Any, where: str) -> float:
    """``90`` (seconds), ``30m``, ``6h``, ``1d``: seconds."""
    from rung.core.durations import duration_seconds

    try:
        return duration_seconds(text)
    except ValueError:
        raise InvalidInput(
            f"cannot read the duration {text!r} of {where}", "e.g. 90, 30m, 6h, 1d"
        ) from None
