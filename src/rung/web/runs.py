"""The runs table: ``GET /api/runs`` and the page ``/runs`` (with one run's page,
:mod:`rung.web.run`, and the compare view, :mod:`rung.web.compare`).

One query language for the UI, ``rung runs --filter`` and the API (:mod:`rung.core.query`),
compiled to one SQL condition (:mod:`rung.pipelines.run_filter`): the database filters,
sorts (:mod:`rung.pipelines.run_order`) and pages; a page reads only its own runs' details.
The columns a person chose (``columns=metrics.acc,params.C``) are kept in the URL and, by the
page's script, in the browser's local storage, so the table opens with them next time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from rung.core.errors import InvalidInput
from rung.core.limits import parse_int
from rung.core.query import EXAMPLE, Field, parse_field
from rung.web import compare, run
from rung.web.render import ApiJSON, BadQuery, bad_query, page, workspace

router = APIRouter()

MAX_LIMIT = 1000
"""Runs on one page at most."""

MAX_COLUMNS = 100
"""Chosen columns at most."""
DEFAULT_COLUMNS = 50
"""The newest runs of a listing whose metrics and parameters pick its default columns."""

FilterQ = Annotated[
    list[str] | None,
    Query(
        description="A run filter, e.g. " + EXAMPLE + " (docs/pipelines.md#filtering-runs);"
        " repeated, the runs every one selects.",
    ),
]
OrderQ = Annotated[
    str | None,
    Query(
        description="Sort key: an attribute or metrics.NAME (named as in a filter), - before"
        " it for descending; default -id."
    ),
]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Runs per page.")]
OffsetQ = Annotated[int, Query(ge=0, le=2**62, description="Runs skipped (pages).")]
ColumnsQ = Annotated[
    str | None,
    Query(
        description="Comma-separated metrics.NAME / params.NAME columns, named as in a filter"
        " (default: chosen from the listing's newest runs).",
    ),
]
UptoQ = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**62,
        description="The newest run id listed (the answer's upto): pages of one listing stay"
        " the same while runs are added.",
    ),
]


def runs_table(
    ws: Any,
    filter: str | list[str] | None = None,
    order: str | None = None,
    limit: int = 50,
    offset: int = 0,
    columns: str | None = None,
    name: str | None = None,
    upto: int | None = None,
) -> dict[str, Any]:
    """One page of runs: ``{"total", "offset", "limit", "order", "filter": [str], "upto",
    "columns": [{"key", "kind", "name"}], "runs": [RunSummary dict], "hints": [str]}``.

    ``filter``: one filter or several (the runs every one selects); ``upto``: the newest run
    id of the listing (default: the newest now; the answer says which, and the next page
    asks with it, so runs added meanwhile shift no page). ``columns`` as chosen, else those
    :func:`rung.pipelines.history.worth_columns` picks from the listing's newest
    :data:`DEFAULT_COLUMNS` runs — the same on every page and in every order. ``hints``: why
    a filter selected nothing (:meth:`rung.pipelines.history.Runs.filter_hints`).

    Raises :class:`~rung.web.render.BadQuery` (400) for a malformed filter, sort key or
    column, with the position and the fix."""
    from rung.pipelines.history import worth_columns

    filters = [filter] if isinstance(filter, str) else list(filter or [])
    filters = [f.strip() for f in filters if f and f.strip()]
    chosen = None
    if columns and columns.strip():
        try:
            chosen = parse_columns(columns)
            # a typo'd column would be a column of dashes: the nearest name instead
            ws.runs.check_fields(chosen, "show column")
        except InvalidInput as exc:
            raise BadColumns(exc.message, exc.hint) from exc
    with bad_query():
        upto = ws.runs.newest() if upto is None else upto
        runs = ws.runs.list(
            limit, name=name, filter=filters or None, offset=offset, order=order, upto=upto
        )
        total = ws.runs.count(name=name, filter=filters or None, upto=upto)
        if chosen is None:
            first = order in (None, "-id") and offset == 0 and limit >= DEFAULT_COLUMNS
            newest = (
                runs[:DEFAULT_COLUMNS]
                if first
                else ws.runs.list(DEFAULT_COLUMNS, name=name, filter=filters or None, upto=upto)
            )
            metrics, params = worth_columns(newest, 6, 4)
            chosen = [Field("metrics", m) for m in metrics] + [Field("params", p) for p in params]
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "order": order or "-id",
        "filter": filters,
        "upto": upto,
        "columns": [{"key": c.key, "kind": c.space, "name": str(c)} for c in chosen],
        "runs": [r.to_dict() for r in runs],
        # why nothing matched: a metric, parameter, name or trigger no run has, the nearest
        "hints": ws.runs.filter_hints(filters) if filters and not runs and not offset else [],
    }


class BadColumns(BadQuery):
    """A column choice refused (malformed, too many, or naming what no run has): 400; the
    page tells the browser to forget it when it was remembered."""


_COLUMN = re.compile(r"(?:[^,`]|`[^`]*`)+")


def parse_columns(text: str) -> list[Field]:
    """``metrics.acc,params.`learning rate```: each column named as in a filter
    (:func:`rung.core.query.parse_field`; a comma inside backticks is part of the name).

    Raises :class:`~rung.core.errors.InvalidInput` for a name that is not a metric's or a
    parameter's, or more than :data:`MAX_COLUMNS`."""
    names = [n.strip() for n in _COLUMN.findall(text) if n.strip()]
    if len(names) > MAX_COLUMNS:
        raise InvalidInput(
            f"{len(names)} columns, over the limit of {MAX_COLUMNS}", "choose fewer columns"
        )
    fields = []
    for name in names:
        field = parse_field(name, "column")
        if field.space == "run":
            raise InvalidInput(
                f"column {name!r} is a run attribute, always shown",
                "choose metrics.NAME or params.NAME columns",
            )
        fields.append(field)
    return fields


@dataclass
class TableQuery:
    """The query parameters of a runs listing (the API's; the page reads the same names)."""

    filter: FilterQ = None
    order: OrderQ = None
    limit: LimitQ = 50
    offset: OffsetQ = 0
    columns: ColumnsQ = None
    upto: UptoQ = None


@router.get("/api/runs", response_class=ApiJSON, tags=["runs"])
def api_runs(
    request: Request,
    q: Annotated[TableQuery, Depends()],
    name: Annotated[
        str | None, Query(max_length=1000, description="Only runs of this name.")
    ] = None,
) -> Any:
    """Runs selected by ``filter``, sorted by ``order``, one page of ``limit`` from
    ``offset``; ``total`` counts every selected run. A malformed filter, sort key or column
    is a 400 naming the position and the fix."""
    ws = workspace(request)
    return ApiJSON(runs_table(ws, q.filter, q.order, q.limit, q.offset, q.columns, name, q.upto))


@router.get("/runs", response_class=HTMLResponse, include_in_schema=False)
def runs_page(request: Request) -> HTMLResponse:
    """The table. Every query parameter is read here, leniently: whatever is wrong with one
    (a malformed filter, a limit of ``abc``, a column refused) is shown above the table, with
    what was typed kept for correcting, never a page without the table."""
    query = request.query_params
    filters = query.getlist("filter")
    columns, order = query.get("columns"), query.get("order") or None
    table: dict[str, Any] = {
        "total": 0, "offset": 0, "limit": 50, "order": order or "-id", "filter": filters,
        "upto": None, "columns": [], "runs": [], "hints": [],
    }  # fmt: skip
    error, refused = None, False
    try:
        with bad_query():
            limit = parse_int(query.get("limit") or "50", "limit", 1, MAX_LIMIT)
            offset = parse_int(query.get("offset") or "0", "offset", 0, 2**62)
            upto = parse_int(query["upto"], "upto", 0, 2**62) if query.get("upto") else None
            table["limit"] = limit
            ws = workspace(request)
            table = runs_table(ws, filters, order, limit, offset, columns, None, upto)
    except InvalidInput as exc:
        error = exc
        refused = isinstance(exc, BadColumns)  # the browser forgets a remembered choice
    shown = ",".join(c["name"] for c in table["columns"])

    def url(**changes: Any) -> str:
        """This listing's URL with ``changes`` (None drops a parameter): filters repeated,
        the columns shown and the listing's ``upto`` carried, so a page or a sort keeps
        them."""
        state: dict[str, Any] = {
            "filter": table["filter"],
            "order": table["order"] if table["order"] != "-id" else None,
            "limit": table["limit"] if table["limit"] != 50 else None,
            "columns": columns if columns is not None else (shown or None),
            "upto": table["upto"],
            "offset": table["offset"] or None,
        }
        state.update(changes)
        pairs = [
            (k, v)
            for k, value in state.items()
            if value is not None
            for v in (value if isinstance(value, list) else [value])
        ]
        return "/runs?" + urlencode(pairs) if pairs else "/runs"

    return page(
        request,
        "runs.html",
        status=400 if error else 200,
        title="Runs",
        table=table,
        error=error,
        url=url,
        filter_text=" and ".join(
            f"({f})" if len(table["filter"]) > 1 else f for f in table["filter"]
        ),
        columns_given=columns,
        columns_text=columns if columns is not None else shown,
        columns_refused=refused,
        example=EXAMPLE,
    )


# one run's page and the compare view live in their own modules, behind the runs table
router.include_router(run.router)
router.include_router(compare.router)
