"""The runs table: ``GET /api/runs`` and the page ``/runs`` (with one run's page,
:mod:`rung.web.run`, and the compare view, :mod:`rung.web.compare`).

One query language for the UI, ``rung runs --filter`` and the API (:mod:`rung.core.query`),
compiled to one SQL condition (:mod:`rung.pipelines.run_filter`): the database filters,
sorts (:mod:`rung.pipelines.run_order`) and pages; a page reads only its own runs' details.
The columns a person chose (``columns=metrics.acc,params.C``) are kept in the URL and, by the
page's script, in the browser's local storage, so the table opens with them next time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from rung.core.query import EXAMPLE
from rung.web import compare, run
from rung.web.render import ApiJSON, bad_query, page, workspace

router = APIRouter()

MAX_LIMIT = 1000
"""Runs on one page at most."""

FilterQ = Annotated[
    str | None,
    Query(
        description="A run filter, e.g. " + EXAMPLE + " (docs/pipelines.md#filtering-runs).",
        max_length=4000,
    ),
]
OrderQ = Annotated[
    str | None,
    Query(description="Sort key: an attribute or metrics.NAME, - before it for descending."),
]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Runs per page.")]
OffsetQ = Annotated[int, Query(ge=0, le=2**62, description="Runs skipped (pages).")]
ColumnsQ = Annotated[
    str | None,
    Query(
        description="Comma-separated metrics.NAME / params.NAME columns (default: chosen"
        " from the listed runs).",
        max_length=4000,
    ),
]


def runs_table(
    ws: Any,
    filter: str | None = None,
    order: str | None = None,
    limit: int = 50,
    offset: int = 0,
    columns: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """One page of runs: ``{"total", "offset", "limit", "order", "filter", "columns":
    [{"key", "kind", "name"}], "runs": [RunSummary dict], "hints": [str]}`` (``hints``: why
    a filter selected nothing, :meth:`rung.pipelines.history.Runs.filter_hints`); ``columns`` as chosen, else those
    :func:`rung.pipelines.history.worth_columns` picks from the page's runs.

    Raises :class:`~rung.web.render.BadQuery` (400) for a malformed filter or sort key,
    with the position and the fix."""
    from rung.pipelines.history import worth_columns

    filter = filter.strip() if filter and filter.strip() else None
    with bad_query():
        runs = ws.runs.list(limit, name=name, filter=filter, offset=offset, order=order)
        total = ws.runs.count(name=name, filter=filter)
    if columns and columns.strip():
        chosen = [c.strip() for c in columns.split(",") if c.strip()]
    else:
        metrics, params = worth_columns(runs, 6, 4)
        chosen = [f"metrics.{m}" for m in metrics] + [f"params.{p}" for p in params]
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "order": order or "-id",
        "filter": filter,
        "columns": [_column(c) for c in chosen],
        "runs": [r.to_dict() for r in runs],
        # why nothing matched: a metric, parameter, name or trigger no run has, the nearest
        "hints": ws.runs.filter_hints(filter) if filter and not runs and not offset else [],
    }


def _column(text: str) -> dict[str, str]:
    kind, _, key = text.partition(".")
    if kind not in ("metrics", "params") or not key:
        kind, key = "metrics", text
    return {"key": key, "kind": kind, "name": f"{kind}.{key}"}


@dataclass
class TableQuery:
    """The query parameters of a runs listing, shared by the API and the page."""

    filter: FilterQ = None
    order: OrderQ = None
    limit: LimitQ = 50
    offset: OffsetQ = 0
    columns: ColumnsQ = None


@router.get("/api/runs", response_class=ApiJSON, tags=["runs"])
def api_runs(
    request: Request,
    q: Annotated[TableQuery, Depends()],
    name: Annotated[
        str | None, Query(max_length=1000, description="Only runs of this name.")
    ] = None,
) -> Any:
    """Runs selected by ``filter``, sorted by ``order``, one page of ``limit`` from
    ``offset``; ``total`` counts every selected run. A malformed filter is a 400 naming the
    position and the fix."""
    ws = workspace(request)
    return ApiJSON(runs_table(ws, q.filter, q.order, q.limit, q.offset, q.columns, name))


@router.get("/runs", response_class=HTMLResponse, include_in_schema=False)
def runs_page(request: Request, q: Annotated[TableQuery, Depends()]) -> HTMLResponse:
    from rung.core.errors import InvalidInput

    try:
        table = runs_table(workspace(request), q.filter, q.order, q.limit, q.offset, q.columns)
        error = None
    except InvalidInput as exc:  # shown above the table, the filter kept for correcting
        table = {"total": 0, "offset": 0, "limit": q.limit, "order": q.order or "-id",
                 "filter": q.filter, "columns": [], "runs": [], "hints": []}  # fmt: skip
        error = exc
    return page(
        request,
        "runs.html",
        status=400 if error else 200,
        title="Runs",
        table=table,
        error=error,
        example=EXAMPLE,
    )


# one run's page and the compare view live in their own modules, behind the runs table
router.include_router(run.router)
router.include_router(compare.router)
