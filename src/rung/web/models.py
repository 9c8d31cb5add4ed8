"""The registry: ``GET /api/models``, ``/api/models/{name}``, ``/api/models/{name}/{version}``
and the pages ``/models``, ``/models/{name}`` and ``/models/{name}/{version}``.

Everything comes from :attr:`Workspace.models` (:class:`rung.registry.models.Registry`): the
versions with their provenance (the run and step output, the dataset versions of its
lineage, the run's code) and signature, the aliases, each version's verdict (its gate
evaluation against the project's declared acceptance criteria, :mod:`rung.registry.gate`)
and the alias history (``rung model history``) with the evaluation behind each move. An
automated model's challengers waiting for approval come from its automation jobs
(:func:`rung.automation.jobs.awaiting`). The actions (promote, roll back, approve) are
:mod:`rung.web.actions`; the pages show their forms to admin tokens only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from rung.core.errors import NotFound
from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

NameP = Annotated[str, Path(max_length=200, description="The model's name.")]
VersionP = Annotated[int, Path(ge=1, le=2**62, description="The version's number.")]
MAX_EVALUATIONS = 50
"""Evaluations of one version listed at most."""


def models_index(ws: Any) -> dict[str, Any]:
    """Every registered model: ``{"models": [{"name", "versions": count, "latest": N,
    "registered_at": UNIX seconds of the latest, "aliases": [{"alias", "version",
    "verdict", "evaluation_id"}], "automated": bool}]}``, by name; each alias with the
    version it points to and that version's verdict."""
    by_name: dict[str, list[Any]] = {}
    for v in ws.models.list():
        by_name.setdefault(v.name, []).append(v)
    automated = set(ws.automations)
    models = []
    for name, versions in by_name.items():
        aliases = sorted(
            (
                {
                    "alias": a,
                    "version": v.version,
                    "verdict": v.verdict,
                    "evaluation_id": v.evaluation_id,
                }
                for v in versions
                for a in v.aliases
            ),
            key=lambda a: a["alias"],
        )
        models.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": versions[0].version,
                "registered_at": versions[0].created_at,
                "aliases": aliases,
                "automated": name in automated,
            }
        )
    return {"models": models}


def model_detail(ws: Any, name: str) -> dict[str, Any]:
    """One model: ``{"name", "acceptance"`` (the declared criteria and datasets its
    versions are judged by), ``"aliases": {alias: version}``, ``"versions"`` (each
    :meth:`ModelVersion.to_dict`, newest first), ``"history"`` (each alias move of
    ``rung model history``, oldest first, with ``evaluation``: the verdict and datasets of
    the evaluation behind it), ``"awaiting"`` (challengers the manual policy left waiting:
    job ``id``, ``challenger``, ``champion``, ``evaluation_id``, ``updated_at``),
    ``"automated"}``; each version also has ``"rejected"``: the automation's standing
    rejections of it (``alias``, ``job``, ``reason``), which the gate refuses without force.
    Raises :class:`~rung.core.errors.NotFound` (with the nearest names)
    for a model with no version."""
    history = ws.models.history(name)  # NotFound with the nearest names for a typo
    versions = ws.models.list(name)
    aliases = {a: v.version for v in versions for a in v.aliases}
    cited = {e["evaluation_id"] for e in history if e["evaluation_id"] is not None}
    evaluations = ws.evals.summaries(sorted(cited))
    events = [{**e, "evaluation": evaluations.get(e["evaluation_id"])} for e in history]
    rejected = ws.models.rejections(name)
    return {
        "name": name,
        "acceptance": ws.acceptance.of(name).to_dict(),
        "aliases": dict(sorted(aliases.items())),
        "versions": [{**v.to_dict(), "rejected": rejected.get(v.version, [])} for v in versions],
        "history": events,
        "awaiting": awaiting(ws, name),
        "automated": name in ws.automations,
    }


def model_version(ws: Any, name: str, version: int) -> dict[str, Any]:
    """One version: :meth:`ModelVersion.to_dict` (source, run, datasets, metrics, signature,
    aliases, verdict and its gate) plus ``"run"`` (the run that made it: ``id``, ``name``,
    ``target``, ``status``, ``code`` {commit, dirty, hash}, ``params``, ``started_at``;
    None when registered from a bare hash), ``"evaluations"`` (of its bytes, newest first,
    at most :data:`MAX_EVALUATIONS`) and ``"moves"`` (the alias moves onto or off it).
    Raises NotFound for an unknown model or version."""
    v = ws.models.get(f"{name}@{version}")
    run = None
    if v.run_id is not None:
        try:
            detail = ws.runs.get(v.run_id)
        except NotFound:  # the run was deleted since
            detail = None
        if detail is not None:
            run = {
                k: detail[k]
                for k in ("id", "name", "target", "status", "code", "params", "started_at")
            }
    moves = [
        e for e in ws.models.history(name) if v.version in (e["to_version"], e["from_version"])
    ]
    return {
        **v.to_dict(),
        "run": run,
        "evaluations": ws.evals.list(MAX_EVALUATIONS, model_hash=v.hash),
        "moves": moves,
    }


def awaiting(ws: Any, name: str) -> list[dict[str, Any]]:
    """The challengers of automated model ``name`` waiting for approval (``rung model
    approve``), oldest first; ``[]`` for a model that is not automated."""
    if name not in ws.automations:
        return []
    from rung.automation.jobs import awaiting as waiting

    with ws.store.read() as tx:
        return list(waiting(tx, name))


@router.get("/api/models", response_class=ApiJSON, tags=["models"])
def api_models(request: Request) -> Any:
    """Every registered model with its aliases and the version each points to."""
    return ApiJSON(models_index(workspace(request)))


@router.get("/api/models/{name}", response_class=ApiJSON, tags=["models"])
def api_model(request: Request, name: NameP) -> Any:
    """One model: its versions (provenance, signature, verdict), its aliases, the alias
    history with the evaluation behind each move, and the challengers waiting for approval.
    An unknown model is a 404 naming the nearest ones."""
    return ApiJSON(model_detail(workspace(request), name))


@router.get("/api/models/{name}/{version}", response_class=ApiJSON, tags=["models"])
def api_model_version(request: Request, name: NameP, version: VersionP) -> Any:
    """One version: its provenance (run, datasets, code), signature, verdict, the
    evaluations of it and the alias moves onto or off it."""
    return ApiJSON(model_version(workspace(request), name, version))


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
def models_page(request: Request) -> HTMLResponse:
    return page(request, "models.html", title="Models", index=models_index(workspace(request)))


@router.get("/models/{name}", response_class=HTMLResponse, include_in_schema=False)
def model_page(request: Request, name: NameP) -> HTMLResponse:
    detail = model_detail(workspace(request), name)
    return page(request, "model.html", title=f"Model {name}", model=detail)


@router.get("/models/{name}/{version}", response_class=HTMLResponse, include_in_schema=False)
def model_version_page(request: Request, name: NameP, version: VersionP) -> HTMLResponse:
    detail = model_version(workspace(request), name, version)
    return page(request, "model_version.html", title=f"{name}@{version}", v=detail)
