"""Runs side by side: ``GET /api/compare?run=3&run=7`` and the page ``/compare``.

The rows are :meth:`Runs.compare <rung.pipelines.history.Runs.compare>`'s (what ``rung
compare`` prints), only those that differ unless ``all=true``. With them:

* each metric's history for every compared run that logged it (one chart per metric, each
  run's line thinned to ``HISTORY_POINTS / runs`` points, at least :data:`MIN_POINTS`:
  :func:`rung.web.run._thin`);
* the parallel coordinates of the runs: one axis per parameter whose values differ between
  the runs (every parameter when none differs) and per final metric; an axis is numeric when
  all its values are numbers (booleans are categories), else categorical with the values as
  text in their first-seen order.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from rung.core.errors import InvalidInput
from rung.web.render import ApiJSON, page, workspace
from rung.web.run import HISTORY_POINTS, _thin

router = APIRouter()

MAX_RUNS = 50
"""Runs compared at once at most."""
MIN_POINTS = 200
"""Points of one run's line in a metric's chart at least (before thinning): a chart holds
:data:`~rung.web.run.HISTORY_POINTS` points shared by its runs, or this many a run."""

RunsQ = Annotated[
    list[str],
    Query(description="Two or more run ids (repeat the parameter: run=3&run=7), at most 50."),
]
AllQ = Annotated[
    bool, Query(description="Every field, not only those that differ (rung compare --all).")
]


def compare_view(ws: Any, run_ids: list[str], all: bool = False) -> dict[str, Any]:
    """``{"runs": [ids], "all", "rows": Runs.compare(ids, only_differences=not all)["rows"],
    "details": [{"id", "name", "status", "started_at"}], "metric_history": {key: {run id:
    [[step, value|None]]}}, "parallel": {"axes": [{"name", "section", "key", "type",
    "data"?}], "lines": [{"run", "values"}]}}``.

    Raises :class:`~rung.core.errors.InvalidInput` (422) for fewer than two runs, more than
    :data:`MAX_RUNS`, a run named twice or an id that is not a whole number, and
    :class:`~rung.core.errors.NotFound` (404) for an unknown run."""
    ids = [r.strip() for r in run_ids if r.strip()]
    if len(ids) > MAX_RUNS:
        raise InvalidInput(
            f"{len(ids)} runs to compare: at most {MAX_RUNS}", "narrow the runs table's filter"
        )
    # one comparison of every field: the rows that differ are those compare(…, True) keeps
    full = ws.runs.compare(ids, only_differences=False)
    runs = _records(full)
    histories = ws.runs.metric_histories(full["runs"])
    limit = max(MIN_POINTS, HISTORY_POINTS // len(runs))  # a chart's points shared by its runs
    keys: dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r["metrics"]))
    history = {
        key: {
            str(r["id"]): _thin(histories[r["id"]][key], limit)
            for r in runs
            if key in histories[r["id"]]
        }
        for key in keys
    }
    return {
        "runs": full["runs"],
        "all": all,
        "rows": full["rows"] if all else [r for r in full["rows"] if r["differs"]],
        "details": [{k: r[k] for k in ("id", "name", "status", "started_at")} for r in runs],
        "metric_history": history,
        "parallel": parallel(runs),
    }


def _records(compared: dict[str, Any]) -> list[dict[str, Any]]:
    """Each compared run's ``id``, ``name``, ``status``, ``started_at``, ``params`` and
    ``metrics`` (last values), read back from the rows of a comparison of every field (a
    field a run lacks is absent, not None)."""
    runs: list[dict[str, Any]] = [
        {"id": rid, "params": {}, "metrics": {}} for rid in compared["runs"]
    ]
    for row in compared["rows"]:
        for run, value in zip(runs, row["values"], strict=True):
            if row["section"] == "run" and row["key"] in ("name", "status", "started_at"):
                run[row["key"]] = value
            elif row["section"] in ("params", "metrics") and value is not None:
                run[row["section"]][row["key"]] = value
    return runs


def parallel(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The parallel coordinates of ``runs`` (:meth:`Runs.get` records), as the module says:
    ``{"axes": [{"name": "params.C", "section", "key", "type": "value"|"category", "data":
    [text] (categories only)}], "lines": [{"run": id, "values": [one per axis]}]}``; a run
    without the field has None (a non-finite metric too)."""
    params: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for r in runs:
        params.update(dict.fromkeys(r["params"]))
        metrics.update(dict.fromkeys(r["metrics"]))
    differing = [k for k in params if len({repr(r["params"].get(k)) for r in runs}) > 1] or list(
        params
    )
    fields = [("params", k) for k in differing] + [("metrics", k) for k in metrics]
    axes: list[dict[str, Any]] = []
    columns: list[list[Any]] = []
    for section, key in fields:
        values = [r[section].get(key) for r in runs]
        numeric = all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        )
        axis: dict[str, Any] = {"name": f"{section}.{key}", "section": section, "key": key}
        if numeric:
            axis["type"] = "value"
            column = [v if v is not None and math.isfinite(v) else None for v in values]
        else:
            axis["type"] = "category"
            column = [None if v is None else _text(v) for v in values]
            axis["data"] = list(dict.fromkeys(c for c in column if c is not None))
        axes.append(axis)
        columns.append(column)
    lines = [
        {"run": r["id"], "values": [column[i] for column in columns]} for i, r in enumerate(runs)
    ]
    return {"axes": axes, "lines": lines}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(key: str, value: Any) -> str:
    """A compared value as the table shows it (as ``rung compare`` does): times in UTC, a hash
    to 12 digits, floats to 6 significant digits, lists and mappings as JSON, none as ``—``."""
    import json

    from rung.web.render import number, when

    if value is None:
        return "—"
    if key in ("started_at", "ended_at") and _is_number(value):
        return when(float(value))
    if key == "hash" and isinstance(value, str):
        return value[:12]
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return number(value, 6)
    return json.dumps(value, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else repr(value)


@router.get("/api/compare", response_class=ApiJSON, tags=["runs"])
def api_compare(request: Request, run: RunsQ = [], all: AllQ = False) -> Any:  # noqa: B006
    """Two or more runs side by side: ``rows`` (section, key, one value per run, whether
    they differ) — only those that differ unless ``all=true`` — each metric's history per
    run, and the parallel coordinates of parameters and final metrics. 422 for fewer than two
    runs, more than 50, one named twice or an id that is not a whole number; 404 for an
    unknown run."""
    return ApiJSON(compare_view(workspace(request), run, all))


@router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(request: Request, run: RunsQ = [], all: AllQ = False) -> HTMLResponse:  # noqa: B006
    view = compare_view(workspace(request), run, all)
    sections: dict[str, list[dict[str, Any]]] = {}
    for row in view["rows"]:
        cells = [(_cell(row["key"], v), _is_number(v)) for v in row["values"]]
        sections.setdefault(row["section"], []).append({**row, "cells": cells})
    charts = {
        "history": view["metric_history"],
        "parallel": view["parallel"],
        "runs": view["runs"],
    }
    return page(
        request,
        "compare.html",
        title="Compare runs " + ", ".join(map(str, view["runs"])),
        view=view,
        sections=sections,
        histories=[
            k
            for k, by_run in view["metric_history"].items()
            if any(len(points) > 1 for points in by_run.values())
        ],
        charts=charts,
    )
