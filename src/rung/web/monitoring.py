"""The monitoring pages: ``GET /api/monitoring`` and ``/monitoring`` (every model),
``GET /api/monitoring/{model}`` and ``/monitoring/{model}`` (one model over time).

Each point of a model's series is one stored monitoring window (``rung monitor``,
``ws.monitor.windows``: :mod:`rung.monitoring.monitor`), its live performance recomputed
with the labels that came back since. On the same time axis: the alias moves (which version
served from when: ``rung model history``) and the automation decisions (``rung automate
history``); under the charts, the alerts and their delivery to the webhook.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

MAX_WINDOWS = 1000
"""Windows in one series at most."""

LimitQ = Annotated[
    int, Query(ge=1, le=MAX_WINDOWS, description="The newest windows shown (oldest first).")
]

ModelP = Annotated[str, Path(description="A registered model's name.")]

PERFORMANCE = ("accuracy", "log_loss", "mae", "rmse", "r2")
"""The live metrics of :data:`rung.monitoring.performance.METRICS`, in chart order."""


def window_summary(report: dict[str, Any]) -> dict[str, Any]:
    """One stored window (a report of ``ws.monitor.windows``) as a point of the series:
    ``{"id", "at", "ref", "served", "window", "rows", "first_id", "last_id", "features",
    "drifted": [names], "drift": {feature: {"statistic", "value", "threshold", "drift"}},
    "prediction_drift": verdict or None, "performance": {"task", "labelled", "missing",
    METRIC: value}, "health": {"requests", "errors", "error_rate", "client_error_rate",
    "p50_ms", "p95_ms", "p99_ms"}, "alerts": n}`` — ``served`` is the version
    (``NAME@V``) whose predictions the window judged; ``at`` its UNIX time."""
    perf = report.get("performance") or {}
    health = report.get("health") or {}
    latency = health.get("latency_ms") or {}
    features = report.get("features") or {}
    prediction = report.get("prediction")
    return {
        "id": report.get("id"),
        "at": report.get("at"),
        "ref": report.get("ref"),
        "served": report.get("model"),
        "window": report.get("window"),
        "rows": report.get("rows"),
        "first_id": report.get("first_id"),
        "last_id": report.get("last_id"),
        "features": len(features),
        "drifted": list(report.get("drifted") or []),
        "drift": {name: f.get("verdict") for name, f in features.items()},
        "prediction_drift": prediction.get("verdict") if prediction else None,
        "performance": {
            "task": perf.get("task"),
            "labelled": perf.get("labelled"),
            "missing": perf.get("missing"),
            **{m: perf[m] for m in PERFORMANCE if m in perf},
        },
        "health": {
            "requests": health.get("requests"),
            "errors": health.get("errors"),
            "error_rate": health.get("error_rate"),
            "client_error_rate": health.get("client_error_rate"),
            **{f"{q}_ms": latency.get(q) for q in ("p50", "p95", "p99")},
        },
        "alerts": len(report.get("alerts") or []),
    }


def monitoring_index(ws: Any) -> dict[str, Any]:
    """Every registered model (and any model with stored windows): ``{"models": [{"name",
    "windows", "alerts", "last_at", "latest": window summary or None, "link"}]}`` by
    name — ``windows``/``alerts`` count every stored one."""
    counts = ws.monitor.counts()
    names = sorted({v.name for v in ws.models.list()} | set(counts))
    models = []
    for name in names:
        count = counts.get(name) or {"windows": 0, "alerts": 0, "last_at": None}
        latest = ws.monitor.windows(name, limit=1) if count["windows"] else []
        models.append(
            {
                "name": name,
                **count,
                "latest": window_summary(latest[-1]) if latest else None,
                "link": f"/monitoring/{name}",
            }
        )
    return {"models": models}


def monitoring_of(ws: Any, model: str, limit: int = 200) -> dict[str, Any]:
    """Model ``model`` over time: ``{"model", "windows": [window summary] (oldest first, the
    newest ``limit``), "alerts": [{"id", "window_id", "kind", "message", "delivery", "at"}]
    (newest first), "moves": [alias event] (oldest first), "jobs": [{"id", "at", "trigger",
    "state", "decision", "champion", "challenger", "link"}] (oldest first), "served":
    [NAME@V whose predictions the windows judged]}``.

    Raises :class:`~rung.core.errors.NotFound` (with the nearest names) for a model that has
    no registered version."""
    from rung.automation.jobs import recent_jobs

    windows = [window_summary(w) for w in ws.monitor.windows(model, limit)]
    moves = ws.models.history(model)
    with ws.store.read() as tx:
        jobs = recent_jobs(tx, model, MAX_WINDOWS)
    served: list[str] = []
    for w in windows:
        if w["served"] and w["served"] not in served:
            served.append(str(w["served"]))
    return {
        "model": model,
        "windows": windows,
        "alerts": ws.monitor.alerts(model, limit),
        "moves": moves,
        "jobs": [
            {
                "id": j["id"],
                "at": j["updated_at"],
                "trigger": j["trigger"],
                "state": j["state"],
                "decision": j["decision"],
                "champion": j["champion"],
                "challenger": j["challenger"],
                "link": f"/automation/{j['id']}",
            }
            for j in jobs
        ],
        "served": served,
    }


@router.get("/api/monitoring", response_class=ApiJSON, tags=["monitoring"])
def api_monitoring(request: Request) -> Any:
    """Every model's monitoring at a glance: how many windows and alerts are stored, and
    its newest window (live performance, drift, health)."""
    return ApiJSON(monitoring_index(workspace(request)))


@router.get("/api/monitoring/{model}", response_class=ApiJSON, tags=["monitoring"])
def api_monitoring_of(request: Request, model: ModelP, limit: LimitQ = 200) -> Any:
    """One model's drift, live performance and health per stored window over time, with its
    alias moves and automation jobs (to mark on the time axis) and its alerts with their
    delivery. An unknown model is a 404 naming the nearest."""
    return ApiJSON(monitoring_of(workspace(request), model, limit))


@router.get("/monitoring", response_class=HTMLResponse, include_in_schema=False)
def monitoring_page(request: Request) -> HTMLResponse:
    return page(
        request, "monitoring.html", title="Monitoring", index=monitoring_index(workspace(request))
    )


@router.get("/monitoring/{model}", response_class=HTMLResponse, include_in_schema=False)
def monitoring_model_page(request: Request, model: ModelP, limit: LimitQ = 200) -> HTMLResponse:
    from rung.core.hashing import ordered_json

    data = monitoring_of(workspace(request), model, limit)
    return page(
        request,
        "monitoring_model.html",
        title=f"Monitoring · {model}",
        data=data,
        chart_json=ordered_json(data),  # an attribute, escaped; the script parses it
    )
