"""The lineage graph: ``GET /api/lineage?from=REF`` and the page ``/lineage``.

The graph comes from :meth:`rung.registry.models.Registry.lineage` (``ws.models.lineage``):
forward from a dataset version to the runs that read it, their outputs, the model versions
registered from them and their evaluations; back from a model version, a run or an artifact
to the steps, code and datasets it came from. The server lays it out in layers, left to
right; the page draws it with ECharts (``static/lineage.js``): zoom and pan, a tooltip per
node, a click opens the node's page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from rung.web.render import ApiJSON, bad_query, page, workspace

router = APIRouter()

MAX_NODES = 500
"""The most nodes a graph shows; a bigger lineage is cut and the page says so."""

FromQ = Annotated[
    str | None,
    Query(
        alias="from",
        description="What to trace: dataset:NAME@V (or NAME@V) forward; model:NAME@V,"
        " model:NAME@ALIAS, run:ID or an artifact hash prefix (6+ hex digits) back. Default:"
        " the newest model version.",
        max_length=1000,
    ),
]
LimitQ = Annotated[int, Query(ge=1, le=MAX_NODES, description="Nodes at most.")]


def choices(ws: Any) -> dict[str, Any]:
    """What the page's picker offers: ``{"models": [{"ref", "label", "created_at"}],
    "datasets": [{"ref", "created_at"}]}``, newest model version first."""
    versions = sorted(ws.models.list(), key=lambda v: (v.created_at, v.version), reverse=True)
    return {
        "models": [
            {
                "ref": f"model:{v.ref}",
                "label": v.ref + (f" ({', '.join(v.aliases)})" if v.aliases else ""),
                "created_at": v.created_at,
            }
            for v in versions
        ],
        "datasets": [
            {"ref": f"dataset:{d.ref}", "created_at": d.created_at} for d in ws.data.list()
        ],
    }


def lineage(ws: Any, ref: str | None, limit: int = MAX_NODES) -> dict[str, Any]:
    """The graph of ``ref`` (default: the newest model version; with no model, an empty
    graph with ``from`` None) as :meth:`Registry.lineage` answers it. Raises
    :class:`~rung.web.render.BadQuery` (400) for a malformed reference and
    :class:`~rung.core.errors.NotFound` (404, nearest names in the hint) for an unknown
    one."""
    if ref is None or not ref.strip():
        picks = choices(ws)["models"]
        if not picks:
            return {"from": None, "root": [], "nodes": [], "edges": [], "layers": 0,
                    "truncated": False, "limit": limit, "kinds": []}  # fmt: skip
        ref = picks[0]["ref"]
    with bad_query():
        return dict(ws.models.lineage(ref, limit))


@router.get("/api/lineage", response_class=ApiJSON, tags=["lineage"])
def api_lineage(request: Request, ref: FromQ = None, limit: LimitQ = MAX_NODES) -> Any:
    """The lineage graph of ``from``: ``{"from", "root": [node ids], "nodes": [{"id",
    "kind", "label", "layer", "order", "url", "detail", "root"}], "edges": [{"source",
    "target"}], "layers", "truncated", "limit", "kinds"}``; edges point the way data flows,
    ``layer`` is the column (0 at the left), ``truncated`` says the graph was cut at
    ``limit`` nodes. An unknown dataset, run, model or artifact is a 404 naming the nearest
    names; a malformed reference a 400."""
    return ApiJSON(lineage(workspace(request), ref, limit))


@router.get("/lineage", response_class=HTMLResponse, include_in_schema=False)
def lineage_page(request: Request, ref: FromQ = None, limit: LimitQ = MAX_NODES) -> HTMLResponse:
    ws = workspace(request)
    graph = lineage(ws, ref, limit)
    return page(
        request,
        "lineage.html",
        title="Lineage",
        graph=graph,
        choices=choices(ws),
        asked=ref,
    )
