"""The automation pages: ``GET /api/automation`` and ``/automation`` (the jobs, newest
first, and where each automated model's loop stands), ``GET /api/automation/{id}`` and
``/automation/{id}`` (one job: what fired, what ran, what was decided and the full evidence).

A job is one row of ``automation_jobs`` (:mod:`rung.automation.loop`): the trigger that fired
and why (``reason``), the run it started and the challenger it registered, the evaluation
against the champion, the decision (promote, reject, await, approved) and its evidence — the
reasons, the policy's tests, notes, a person's approval — in the words of ``rung automate
history`` (:func:`rung.automation.jobs.why_parts`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from rung.core.errors import NotFound, RungError
from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

MAX_JOBS = 1000
"""Jobs listed at most."""

LimitQ = Annotated[int, Query(ge=1, le=MAX_JOBS, description="The newest jobs listed.")]
ModelQ = Annotated[
    str | None, Query(max_length=1000, description="Only this model's jobs (default: all).")
]


_LISTED = (
    "id",
    "model",
    "alias",
    "trigger",
    "reason",
    "state",
    "decision",
    "run_id",
    "champion",
    "challenger",
    "evaluation_id",
    "error",
    "created_at",
    "updated_at",
)


JobP = Annotated[str, Path(description="A job's number (`rung automate history`).")]


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """A job as listed: ``{"id", "model", "alias", "trigger", "reason", "state", "decision",
    "run_id", "champion", "challenger", "evaluation_id", "error", "live", "why": [reason],
    "created_at", "updated_at", "links"}`` — ``why`` every reason of the decision
    (:func:`rung.automation.jobs.why_parts`, empty before one is made), ``links`` the
    evidence's pages."""
    from rung.automation.jobs import why_parts

    evidence = job.get("evidence") or {}
    decided = bool(job["decision"]) and bool(evidence)
    model = job["model"]
    links = {"job": f"/automation/{job['id']}", "monitoring": f"/monitoring/{model}"}
    if job["run_id"] is not None:
        links["run"] = f"/runs/{job['run_id']}"
    if job["evaluation_id"] is not None:
        links["evaluation"] = f"/evaluations/{job['evaluation_id']}"
    for role in ("champion", "challenger"):
        if job[role] is not None:
            links[role] = f"/models/{model}/{job[role]}"
    if job["challenger"] is not None:
        links["lineage"] = f"/lineage?from=model:{model}@{job['challenger']}"
    return {
        **{k: job[k] for k in _LISTED},
        "live": bool(evidence.get("live")),
        "why": why_parts(job) if decided else [],
        "links": links,
    }


def automation_index(ws: Any, model: str | None = None, limit: int = 100) -> dict[str, Any]:
    """``{"model", "jobs": [job summary] (newest first), "loops": [{"model", "status" or
    "error"}]}`` — ``loops`` each configured loop's :meth:`~rung.automation.loop.Automation.
    status` (its triggers pending, held or quiet, the cooldown, challengers awaiting
    approval), or the configuration error that stops it. ``model`` keeps one model's; one
    that is neither registered nor automated nor has jobs is
    :class:`~rung.core.errors.NotFound` (naming the nearest)."""
    from rung.automation.jobs import recent_jobs

    model = model.strip() if model and model.strip() else None
    with ws.store.read() as tx:
        jobs = recent_jobs(tx, model, limit)
    if model and not jobs and model not in ws.automations:
        ws.models.history(model)  # NotFound, naming the nearest, unless it is registered
    loops = []
    for name, loop in sorted(ws.automations.items()):
        if model and name != model:
            continue
        try:
            loops.append({"model": name, "status": loop.status(), "error": None})
        except RungError as exc:  # a loop that cannot start: said, the page still answers
            loops.append({"model": name, "status": None, "error": str(exc)})
    return {"model": model, "jobs": [job_summary(j) for j in reversed(jobs)], "loops": loops}


def automation_job(ws: Any, job_id: str) -> dict[str, Any]:
    """Job ``job_id``: its :func:`job_summary` with the full recorded ``evidence``.

    Raises :class:`~rung.core.errors.NotFound` for an id that is not a job's (naming the
    nearest ids)."""
    from rung.automation.jobs import job_by_id

    text = str(job_id).strip()
    if not text.isdigit() or len(text) > 18:
        raise NotFound(
            f"no automation job {text[:80]!r}", "a job is named by its number: see /automation"
        )
    with ws.store.read() as tx:
        job = job_by_id(tx, int(text))
    return {**job_summary(job), "evidence": job["evidence"]}


@router.get("/api/automation", response_class=ApiJSON, tags=["automation"])
def api_automation(request: Request, model: ModelQ = None, limit: LimitQ = 100) -> Any:
    """The automation jobs, newest first — what fired (trigger, reason), what ran (run,
    challenger), what was decided and every reason — and where each configured loop stands.
    An unknown ``model`` is a 404 naming the nearest."""
    return ApiJSON(automation_index(workspace(request), model, limit))


@router.get("/api/automation/{job_id}", response_class=ApiJSON, tags=["automation"])
def api_automation_job(request: Request, job_id: JobP) -> Any:
    """One job with its full evidence. An unknown id is a 404 naming the nearest."""
    return ApiJSON(automation_job(workspace(request), job_id))


@router.get("/automation", response_class=HTMLResponse, include_in_schema=False)
def automation_page(request: Request, model: ModelQ = None, limit: LimitQ = 100) -> HTMLResponse:
    index = automation_index(workspace(request), model, limit)
    return page(request, "automation.html", title="Automation", index=index)


@router.get("/automation/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def automation_job_page(request: Request, job_id: JobP) -> HTMLResponse:
    import json

    job = automation_job(workspace(request), job_id)
    text = json.dumps(job["evidence"], indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return page(
        request,
        "automation_job.html",
        title=f"Automation job {job['id']}",
        job=job,
        evidence_text=text,
    )
