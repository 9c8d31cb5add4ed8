"""The home page — why is each model serving? — ``GET /api/home`` and the page ``/``.

For every registered model: each alias and the version it points at; that version's verdict
against the project's acceptance criteria and the evaluation it comes from (the registry's
gate, :mod:`rung.registry.gate`: the newest evaluation of that artifact under the declared
criteria that covers the declared datasets); the alias's last move (who, why, which
evaluation: ``rung model history``); the newest monitoring window (live performance, drift,
health: ``rung monitor show``) and the latest alerts; the last automation job and every
reason of its decision (``rung automate history``); and a link to each piece of evidence.
An empty workspace gets the first commands to run instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

ALERTS = 3
"""The latest alerts shown per model."""
REASONS = 3
"""The failing checks of an evaluation shown at most."""
DECISIONS = 12
"""The latest automation decisions marked per model."""

FIRST_STEPS = (
    ("Version a dataset", "rung data add data.csv --name train"),
    ("Run a pipeline", "rung run train.py:train"),
    ("Register its model", "rung model register RUN --name NAME"),
    ("Evaluate it against the criteria in rung.toml", "rung eval NAME@1 --on holdout@1"),
    ("Promote it through the gate", "rung model promote NAME 1 --alias champion"),
    ("Serve it, then monitor it", "rung serve NAME@champion · rung monitor NAME@champion"),
    ("Automate retraining", "rung automate tick"),
)
"""What to do first in an empty workspace: (what, the rung command), the order of the
README's tour."""


def home(ws: Any) -> dict[str, Any]:
    """``{"models": [model], "first_steps": [{"what", "command"}]}``; each model
    ``{"name", "versions", "latest", "aliases": [alias], "monitoring": window summary or
    None, "alerts": [alert], "automation": job summary or None, "decisions": [{"job",
    "decision", "challenger", "at", "link"}] (its newest jobs, oldest first), "links"}`` and
    each alias
    ``{"alias", "version", "ref", "verdict", "evaluation_id", "failing", "criteria",
    "declared_in", "datasets", "evaluated_on", "run_id", "trained_on", "created_at",
    "last_move", "move_verdict", "links"}`` —
    ``verdict`` ``passed``/``failed``, or None when no evaluation covers the declared
    criteria and datasets (or none are declared); ``failing`` the failed checks of that
    evaluation; ``move_verdict`` (``{"status", "reasons"}``) the verdict of the evaluation the
    alias's last move named when it is another one (a forced move's evidence). Models by name,
    aliases by name."""
    from rung.automation.jobs import recent_jobs
    from rung.web.automation import job_summary
    from rung.web.monitoring import window_summary

    versions = ws.models.list()
    names = sorted({v.name for v in versions})
    models = []
    for name in names:
        mine = [v for v in versions if v.name == name]
        history = ws.models.history(name)
        aliases = []
        for v in mine:
            for alias in v.aliases:
                moves = [e for e in history if e["alias"] == alias]
                aliases.append(_alias(ws, v, alias, moves[-1] if moves else None))
        aliases.sort(key=lambda a: a["alias"])
        windows = ws.monitor.windows(name, limit=1)
        with ws.store.read() as tx:
            jobs = recent_jobs(tx, name, DECISIONS)
        models.append(
            {
                "name": name,
                "versions": len(mine),
                "latest": max(v.version for v in mine),
                "aliases": aliases,
                "monitoring": window_summary(windows[-1]) if windows else None,
                "alerts": ws.monitor.alerts(name, ALERTS),
                "automation": job_summary(jobs[-1]) if jobs else None,
                "decisions": [
                    {
                        "job": j["id"],
                        "decision": j["decision"] or j["state"],
                        "challenger": j["challenger"],
                        "at": j["updated_at"],
                        "link": f"/automation/{j['id']}",
                    }
                    for j in jobs
                ],
                "links": {
                    "versions": f"/models/{name}",
                    "monitoring": f"/monitoring/{name}",
                    "automation": f"/automation?model={name}",
                },
            }
        )
    return {
        "models": models,
        "first_steps": [{"what": w, "command": c} for w, c in FIRST_STEPS] if not models else [],
    }


def _verdict(ws: Any, evaluation_id: int | None) -> dict[str, Any] | None:
    """``{"status", "reasons"}`` of a recorded evaluation's verdict (its failing checks,
    the first :data:`REASONS`); None for none."""
    if evaluation_id is None:
        return None
    from rung.core.errors import NotFound

    try:
        verdict = ws.evals.get(evaluation_id).verdict or {}
    except NotFound:  # deleted since the move
        return None
    return {
        "status": verdict.get("status"),
        "reasons": [str(r) for r in (verdict.get("reasons") or [])[:REASONS]],
    }


def _alias(ws: Any, v: Any, alias: str, move: dict[str, Any] | None) -> dict[str, Any]:
    """What an alias points at and the evidence behind it."""
    gate = v.gate or {}
    links: dict[str, str] = {
        "version": f"/models/{v.name}/{v.version}",
        "lineage": f"/lineage?from=model:{v.ref}",
    }
    if v.evaluation_id is not None:
        links["evaluation"] = f"/evaluations/{v.evaluation_id}"
    if v.run_id is not None:
        links["run"] = f"/runs/{v.run_id}"
    moved_by = move.get("evaluation_id") if move else None
    if moved_by is not None and moved_by != v.evaluation_id:
        links["move_evaluation"] = f"/evaluations/{moved_by}"
    else:
        moved_by = None
    return {
        "alias": alias,
        "version": v.version,
        "ref": v.ref,
        "verdict": v.verdict,
        "evaluation_id": v.evaluation_id,
        "failing": (_verdict(ws, v.evaluation_id) or {}).get("reasons", [])
        if v.verdict == "failed"
        else [],
        "criteria": list(gate.get("criteria") or []),
        "declared_in": gate.get("declared_in"),
        "datasets": list(gate.get("datasets") or []),
        "evaluated_on": list(gate.get("evaluated_on") or []),
        "run_id": v.run_id,
        "trained_on": list(v.datasets),
        "created_at": v.created_at,
        "last_move": move,
        "move_verdict": _verdict(ws, moved_by),
        "links": links,
    }


@router.get("/api/home", response_class=ApiJSON, tags=["home"])
def api_home(request: Request) -> Any:
    """Why each model is serving: every registered model's aliases with the version each
    points at, that version's verdict against the acceptance criteria and its evaluation,
    the alias's last move, the newest monitoring window (live performance, drift, health),
    the latest alerts, the last automation decision with its reasons, and links to each
    piece of evidence. ``first_steps`` (the commands to start with) when no model is
    registered."""
    return ApiJSON(home(workspace(request)))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home_page(request: Request) -> HTMLResponse:
    return page(request, "home.html", title="Home", home=home(workspace(request)))
