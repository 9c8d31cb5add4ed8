"""Why a trigger is quiet, for ``rung automate status`` (read only).

A trigger that is neither pending nor held says nothing by itself; a person looking at
`status` wants to know what it waits for. :func:`quiet_reason` answers from what the trigger
would judge — the same queries the tick makes (:mod:`rung.automation.loop`), without
writing anything:

* schedule: when the cron expression is next due (UTC);
* dataset: that the dataset has no version yet, that the champion was trained on its newest
  version, or that a job already acted on it;
* drift: that no champion is served, that nothing was logged since the last prediction the
  trigger judged, or that new predictions wait for the next tick;
* performance: how many labelled rows of the champion there are of the number needed
  (only rows the champion itself served count), or that they are enough and its live metric
  is within its bound;
* live: what the last tick's live comparison said — not enough evidence yet (how many
  labelled rows of the number needed), no challenger set, or a job already judged it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rung.automation.triggers import Trigger
from rung.core.errors import NotFound, RungError
from rung.pipelines.runner import Stores


def quiet_reason(
    stores: Stores, model: str, alias: str, trigger: Trigger, state: dict[str, Any], champion: Any
) -> str | None:
    """One line saying why ``trigger`` (of ``model``, its champion ``champion`` at ``alias``,
    None when there is none) does not fire now; None when there is nothing to say."""
    o = trigger.options
    if trigger.kind == "schedule":
        return _next_due(str(o["cron"]))
    if trigger.kind == "dataset":
        try:
            latest = stores.data.get(str(o["dataset"]))
        except NotFound:
            return f"no dataset {o['dataset']!r} yet: it fires on its first version"
        if champion is not None and latest.ref in set(champion.datasets):
            return f"the champion {champion.ref} was trained on the newest version {latest.ref}"
        if state.get("fired_for") == latest.ref:
            return f"a job already acted on the newest version {latest.ref}"
        return f"the newest version {latest.ref} is judged at the next tick"
    if champion is None:
        return f"no {model}@{alias} to watch yet: it is judged once a version holds the alias"
    if trigger.kind == "drift":
        return _drift(stores, model, state)
    if trigger.kind == "performance":
        return _performance(stores, model, champion, o)
    if trigger.kind == "live":
        seen = state.get("live") or {}
        if "judged" in state and state.get("fired_at", 0) >= seen.get("at", 0):
            return (
                f"a job judged version {state['judged']} ({model}@{o['challenger']}): judged"
                " again when that alias moves to another version"
            )
        note = seen.get("note")
        return str(note) if note else f"{model}@{o['challenger']} is judged at the next tick"
    return None


def _next_due(cron: str) -> str | None:
    from cronsim import CronSim

    try:
        due = next(iter(CronSim(cron, datetime.fromtimestamp(time.time(), UTC))))
    except StopIteration:  # pragma: no cover - an expression that never fires is refused
        return None
    return f"next due at {due.strftime('%Y-%m-%d %H:%M')} UTC ({cron!r})"


def _drift(stores: Stores, model: str, state: dict[str, Any]) -> str:
    with stores.metadata.read() as tx:
        newest = tx.scalar(
            "SELECT MAX(id) FROM predictions WHERE model = :m AND role <> 'shadow'", {"m": model}
        )
    if newest is None:
        return f"no prediction of {model} logged yet"
    seen = state.get("seen_id")
    if seen is not None and newest <= seen:
        return "no prediction logged since the last window it judged"
    return "predictions logged since the last window it judged: the next tick judges them"


def _performance(stores: Stores, model: str, champion: Any, options: dict[str, Any]) -> str:
    from rung.monitoring.performance import METRICS, labelled_rows

    needed = int(options.get("labelled", 100))
    metric = str(options.get("metric", "accuracy"))
    try:
        have = len(labelled_rows(stores.metadata, model, needed, "__label", [champion.version]))
    except RungError:  # pragma: no cover - a log the tick cannot read says so itself
        return "its labelled rows cannot be read"
    if have < needed:
        return (
            f"{have} of the {needed} labelled rows needed: labels of rows {champion.ref}"
            " served (rows served by earlier versions do not count)"
        )
    worse = METRICS[metric][1] if metric in METRICS else "below"
    return (
        f"the live {metric} of {champion.ref} on its newest {needed} labelled rows was not"
        f" {worse} {options.get(worse)} when a label last came back"
    )
