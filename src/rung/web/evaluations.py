"""Recorded evaluations: ``GET /api/evaluations``, ``GET /api/evaluations/{id}``, the pages
``/evaluations`` and ``/evaluations/{id}``, and the report's charts as SVG images.

An evaluation is what ``rung eval`` recorded (:class:`rung.evaluation.evaluator.Evaluation`):
Table 2 (one row per dataset version, then Total, Mean and Std, from
:func:`rung.core.aggregate.aggregate_rows`), the verdict against the criteria it was judged
by with each failing check, the slices, and the bootstrap deltas against a baseline. The
columns, deltas and worst slices shown are those ``rung eval show`` shows
(:mod:`rung.evaluation.report`), and the charts are the HTML report's, drawn by matplotlib.

**Charts are images.** Each is served as ``/evaluations/{id}/charts/{key}.svg`` and shown
with ``<img>``: a browser runs no script and loads nothing from an SVG shown as an image, and
the SVG's own answer carries ``Content-Security-Policy: default-src 'none'`` for whoever
opens it directly. matplotlib already writes text (a slice value, a class label, a dataset
name) as escaped ``<text>`` content; these two layers keep it that way whatever it writes.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from rung.core.errors import NotFound, RungError
from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

MAX_LIMIT = 1000
"""Evaluations listed at most."""

IdP = Annotated[int, Path(ge=1, le=2**62, description="The evaluation's id (`rung evals`).")]
LimitQ = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Evaluations listed, newest first.")]
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
"""The Content-Security-Policy of a chart's SVG answer: nothing runs, nothing loads."""
_PLOT = threading.Lock()  # pyplot's state is global: one chart drawn at a time


def evaluations_list(ws: Any, limit: int = 100) -> dict[str, Any]:
    """The recorded evaluations, newest first: ``{"evaluations": [{"id", "model",
    "model_hash", "baseline", "label", "datasets": [NAME@V], "verdict": "passed" | "failed" |
    None, "created_at": UNIX seconds}], "limit"}`` (:meth:`Evaluator.list`)."""
    return {"evaluations": ws.evals.list(limit), "limit": limit}


def evaluation_detail(ws: Any, eval_id: int) -> dict[str, Any]:
    """One evaluation as :meth:`Evaluation.to_dict` gives it, plus what ``rung eval show``
    derives from it: ``shown`` (the columns of Table 2 shown: counts, the criteria's metrics,
    then the usual headline metrics), ``table`` (``[{"dataset", "aggregate": bool, "row"}]``:
    every dataset, then Total, Mean and Std), ``verdict_line``, ``failing`` (each failing
    check, from ``verdict.checks``), ``deltas`` (the bootstrap deltas against the baseline
    shown: each metric shown, each whose 95% interval excludes zero, each tested at a
    margin; :func:`rung.evaluation.report.delta_rows`), ``worst_slices`` (15, by the first
    criterion's metric), ``confusion`` (per dataset), ``charts`` (``[{"key", "title",
    "url"}]``), ``version`` (the registered version judged, if any) and ``gate`` (whether
    this evaluation is that version's verdict for promotion, :func:`_gate`). Raises
    :class:`~rung.core.errors.NotFound` for an unknown id."""
    from rung.evaluation import report

    ev = ws.evals.get(eval_id)
    cols = report.columns(ev)
    table = [
        {"dataset": name, "aggregate": name in ("Total", "Mean", "Std"), "row": row}
        for name, row in ev.table()
    ]
    checks = ev.verdict.get("checks") or []
    detail: dict[str, Any] = {
        **ev.to_dict(),
        "shown": cols,
        "table": table,
        "verdict_line": report.verdict_line(ev),
        "failing": [c for c in checks if not c.get("passed", True)],
        "deltas": report.delta_rows(ev, cols),
        "worst_slices": ev.worst_slices(limit=15),
        "confusion": {d: det["confusion"] for d, det in ev.details.items() if det.get("confusion")},
        "charts": [
            {"key": key, "title": title, "url": f"/evaluations/{ev.id}/charts/{key}.svg"}
            for key, title in report.charts(ev, cols)
        ],
        "version": _version_of(ws, ev.model, ev.model_hash),
    }
    detail["gate"] = _gate(ws, detail["version"], ev.id)
    return detail


def _gate(ws: Any, version: dict[str, Any] | None, eval_id: int) -> dict[str, Any] | None:
    """Whether evaluation ``eval_id`` of a registered version is that version's verdict for
    the registry's gate (its gate evaluation: the project's declared criteria, on the declared
    datasets, :mod:`rung.registry.gate`) or only informs, as ``rung eval`` says after it:
    ``{"ref", "counts", "evaluation_id", "verdict"}`` (the version's gate evaluation and
    verdict now); None for a model that is not a registered version."""
    if version is None:
        return None
    try:
        v = ws.models.get(f"{version['name']}@{version['version']}")
    except RungError:
        return None
    return {
        "ref": v.ref,
        "counts": v.evaluation_id == eval_id,
        "evaluation_id": v.evaluation_id,
        "verdict": v.verdict,
    }


def _version_of(ws: Any, model: str, digest: str) -> dict[str, Any] | None:
    """``{"name", "version"}`` of the registered version an evaluation judged, when it was
    named ``NAME@V`` or ``NAME@ALIAS`` (found by its bytes, ``digest``: an alias may have
    moved since), for a link; None for a run, a hash or an application."""
    name, at, which = model.partition("@")
    if not (at and name and which):
        return None
    if which.isdigit():
        return {"name": name, "version": int(which)}
    try:
        found = [v for v in ws.models.list(name) if v.hash == digest]
    except RungError:  # not a model name
        return None
    return {"name": name, "version": found[0].version} if found else None


@router.get("/api/evaluations", response_class=ApiJSON, tags=["evaluations"])
def api_evaluations(request: Request, limit: LimitQ = 100) -> Any:
    """The recorded evaluations, newest first: model, dataset versions, verdict, when."""
    return ApiJSON(evaluations_list(workspace(request), limit))


@router.get("/api/evaluations/{eval_id}", response_class=ApiJSON, tags=["evaluations"])
def api_evaluation(request: Request, eval_id: IdP) -> Any:
    """One evaluation: Table 2 (with Total, Mean and Std), the verdict and each failing
    check, the slices, the bootstrap deltas against the baseline and the charts' URLs.
    An unknown id is a 404."""
    return ApiJSON(evaluation_detail(workspace(request), eval_id))


@router.get("/evaluations", response_class=HTMLResponse, include_in_schema=False)
def evaluations_page(request: Request, limit: LimitQ = 100) -> HTMLResponse:
    listing = evaluations_list(workspace(request), limit)
    return page(request, "evaluations.html", title="Evaluations", listing=listing)


@router.get("/evaluations/{eval_id}", response_class=HTMLResponse, include_in_schema=False)
def evaluation_page(request: Request, eval_id: IdP) -> HTMLResponse:
    ev = evaluation_detail(workspace(request), eval_id)
    return page(request, "evaluation.html", title=f"Evaluation {eval_id}", ev=ev)


@router.get("/evaluations/{eval_id}/charts/{key}.svg", include_in_schema=False)
def evaluation_chart(request: Request, eval_id: IdP, key: str) -> Response:
    """Chart ``key`` of the evaluation as ``image/svg+xml`` (drawn by matplotlib), under a
    policy that lets nothing in it run or load."""
    from rung.evaluation import report

    ev = workspace(request).evals.get(eval_id)
    cols = report.columns(ev)
    keys = [k for k, _ in report.charts(ev, cols)]
    if key not in keys:
        raise NotFound(
            f"evaluation {eval_id} has no chart {key[:40]!r}",
            f"its charts are: {', '.join(keys) or 'none'}",
        )
    with _PLOT:
        svg = report.chart_svg(ev, key, cols)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Content-Security-Policy": SVG_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
