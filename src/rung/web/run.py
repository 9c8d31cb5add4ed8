"""One run: ``GET /api/runs/{id}``, the page ``/runs/{id}`` and the download of a stored
artifact, ``GET /api/artifacts/{hash}``.

What a run shows is what :meth:`Runs.get <rung.pipelines.history.Runs.get>` recorded (the
same record ``rung show RUN --json`` prints), plus:

* each metric's history (:meth:`Runs.metric_histories`), at most :data:`HISTORY_POINTS` points
  a metric (evenly thinned beyond, the last point always kept);
* the step graph: one node per step run and per dataset version a step read, an edge from
  the step (or dataset) that produced an input to the step that read it, each node in the
  layer after the deepest of its inputs (:func:`step_graph`);
* a preview of each distinct output (:func:`preview`; at most :data:`PREVIEW_MAX_OUTPUTS`
  of them and :data:`PREVIEW_BUDGET` bytes read in all): a DataFrame's first
  :data:`PREVIEW_ROWS` rows, JSON pretty-printed, an array's text — from bytes read through
  the artifact store, so verified against their hash as every read is. Pickle and skops
  objects are never loaded for a preview (loading them can run code).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from rung.core.errors import RungError
from rung.web.render import ApiJSON, page, workspace

router = APIRouter()

PREVIEW_ROWS = 20
"""Rows of a DataFrame shown in its preview."""
PREVIEW_COLUMNS = 40
"""Columns of a DataFrame shown in its preview."""
PREVIEW_CHARS = 20_000
"""Characters of a JSON, text or array preview at most."""
PREVIEW_MAX_BYTES = 32 * 2**20
"""An artifact larger than this (bytes) is not read for a preview: download it."""
PREVIEW_MAX_OUTPUTS = 50
"""Distinct outputs previewed per run at most."""
PREVIEW_BUDGET = 64 * 2**20
"""Bytes read for the previews of one run at most: the outputs beyond are not previewed."""
HISTORY_POINTS = 5_000
"""Points of one metric's history at most in a chart."""
_CELL_CHARS = 200
_EXTENSIONS = {
    "parquet": "parquet",
    "series": "parquet",
    "npy": "npy",
    "json": "json",
    "skops": "skops",
    "pickle": "pkl",
}
_DATASET_EXTENSIONS = {
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/json": "json",
}

RunId = Annotated[str, Path(description="A run id (a whole number, as `rung runs` lists).")]


def run_view(ws: Any, run_id: str | int, previews: bool = True) -> dict[str, Any]:
    """Everything the run page shows: ``{"run": ws.runs.get(run_id), "metric_history": {key:
    [[step, value|None]]}, "graph": {"nodes", "edges"}, "outputs": [{"step", "name", "hash",
    "kind", "size", "result"}], "previews": {hash: preview}, "datasets": ["NAME@V"],
    "lineage": url}``. Non-finite metric values are None in histories (a gap in a chart).

    Raises :class:`~rung.core.errors.InvalidInput` (422) for an id that is not a whole number
    and :class:`~rung.core.errors.NotFound` (404) for an unknown run."""
    run = ws.runs.get(run_id)
    rid = run["id"]
    logged = ws.runs.metric_histories([rid])[rid]
    history = {key: _thin(logged.get(key, [])) for key in run["metrics"]}
    results = set((run.get("outputs") or {}).values())
    outputs = [
        {**o, "step": s["name"], "result": o["hash"] in results}
        for s in run["steps"]
        for o in s["outputs"]
    ]
    shown: dict[str, dict[str, Any]] = {}
    budget = PREVIEW_BUDGET
    if previews:
        for o in outputs:
            if o["hash"] in shown or len(shown) >= PREVIEW_MAX_OUTPUTS:
                continue
            size = o.get("size") or 0
            if size > budget:
                reason = f"a page reads {PREVIEW_BUDGET // 2**20} MB at most for previews"
                shown[o["hash"]] = {"type": "none", "reason": reason}
                continue
            shown[o["hash"]] = preview(ws, o["hash"], o.get("kind"), o.get("size"))
            if shown[o["hash"]]["type"] != "none":
                budget -= size
    datasets = sorted(
        {str(r["dataset"]) for r in run.get("data_reads") or [] if r.get("dataset")}
        | {str(i["dataset"]) for s in run["steps"] for i in s["inputs"] if i.get("dataset")}
    )
    return {
        "run": run,
        "metric_history": history,
        "graph": step_graph(run["steps"]),
        "outputs": outputs,
        "previews": shown,
        "datasets": datasets,
        "lineage": f"/lineage?from=run:{rid}",
    }


def _thin(points: list[tuple[int, float]], limit: int = HISTORY_POINTS) -> list[list[Any]]:
    """``points`` (in step order) as ``[step, value]`` pairs (non-finite values None), at
    most about ``limit`` of them: all when they fit; else, of each run of ``k`` consecutive
    points, the first, the lowest and the highest (in step order), and the last point — a
    spike or a dip survives thinning (min-max decimation, as chart libraries thin long
    series: a plain every-k-th point dropped them)."""
    if len(points) <= limit:
        kept = list(points)
    elif limit < 3:  # too few for a bucket's three: every k-th point
        kept = points[:: math.ceil(len(points) / limit)]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
    else:
        k = math.ceil(len(points) / (limit // 3))
        kept = []
        for start in range(0, len(points), k):
            bucket = points[start : start + k]
            numbers = [p for p in bucket if isinstance(p[1], int | float) and math.isfinite(p[1])]
            chosen = {id(bucket[0]): bucket[0]}
            if numbers:
                low = min(numbers, key=lambda p: p[1])
                high = max(numbers, key=lambda p: p[1])
                chosen[id(low)], chosen[id(high)] = low, high
            kept += [p for p in bucket if id(p) in chosen]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
    out: list[list[Any]] = []
    for i, (step, value) in enumerate(kept):
        finite = isinstance(value, int | float) and math.isfinite(value)
        out.append([step if step is not None else i, value if finite else None])
    return out


def step_graph(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The graph of a run's steps (as :meth:`Runs.get` lists them): ``{"nodes": [{"id",
    "name", "kind" ("step"|"dataset"), "status", "cache_hit", "seconds", "layer", "row"}],
    "edges": [{"source", "target", "name"}]}``. An edge joins the step run (or dataset) whose
    output hash a step read; a node's layer is one more than the deepest of its sources (0
    for a step that reads nothing produced in this run), its row its place in that layer."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    producer: dict[str, str] = {}
    for s in steps:
        nid = f"step:{s['id']}"
        nodes[nid] = {
            "id": nid,
            "name": s["name"],
            "kind": "step",
            "status": s["status"],
            "cache_hit": s["cache_hit"],
            "seconds": s["seconds"],
        }
        for o in s["outputs"]:
            producer.setdefault(o["hash"], nid)
    for s in steps:
        target = f"step:{s['id']}"
        for i in s["inputs"]:
            if i.get("dataset"):
                source = f"dataset:{i['dataset']}"
                nodes.setdefault(
                    source,
                    {"id": source, "name": i["dataset"], "kind": "dataset", "status": None,
                     "cache_hit": None, "seconds": None},
                )  # fmt: skip
            elif i.get("hash") in producer:
                source = producer[i["hash"]]
            else:
                continue
            if source != target:
                edges.append({"source": source, "target": target, "name": i["name"]})
    layer = _layers(list(nodes), edges)
    rows: dict[int, int] = {}
    for nid, node in nodes.items():
        node["layer"] = layer[nid]
        node["row"] = rows.get(node["layer"], 0)
        rows[node["layer"]] = node["row"] + 1
    return {"nodes": list(nodes.values()), "edges": edges}


def _layers(ids: list[str], edges: list[dict[str, Any]]) -> dict[str, int]:
    """Each node's layer: the length of the longest path of ``edges`` ending at it (Kahn's
    topological order, so a chain of thousands of steps needs no recursion). Nodes on a
    cycle — a run's steps cannot form one — stay in layer 0 rather than failing the page."""
    from collections import deque

    outgoing: dict[str, list[str]] = {}
    waiting = dict.fromkeys(ids, 0)
    for e in edges:
        outgoing.setdefault(e["source"], []).append(e["target"])
        waiting[e["target"]] += 1
    layer = dict.fromkeys(ids, 0)
    ready = deque(n for n in ids if waiting[n] == 0)
    while ready:
        nid = ready.popleft()
        for target in outgoing.get(nid, []):
            layer[target] = max(layer[target], layer[nid] + 1)
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    return layer


def preview(ws: Any, digest: str, kind: str | None, size: int | None) -> dict[str, Any]:
    """What the run page shows of the artifact ``digest``: ``{"type": "table", "columns",
    "rows", "total_rows", "total_columns"}`` for a DataFrame or Series (its first
    :data:`PREVIEW_ROWS` rows and :data:`PREVIEW_COLUMNS` columns, each cell at most 200
    characters), ``{"type": "text", "text", "truncated"}`` for JSON (pretty-printed), a numpy
    array or a CSV dataset (at most :data:`PREVIEW_CHARS` characters), ``{"type": "none",
    "reason"}`` when it is not previewed (pickle, skops, larger than
    :data:`PREVIEW_MAX_BYTES`), ``{"type": "error", "message"}`` when its bytes cannot be read
    or do not match their hash."""
    if kind in ("pickle", "skops"):
        return {"type": "none", "reason": f"a {kind} object: loading it can run code"}
    if size is not None and size > PREVIEW_MAX_BYTES:
        return {"type": "none", "reason": "too large to preview"}
    try:
        data = ws.artifacts.get_bytes(digest)  # verified against its hash
        return _preview(data, kind or "", ws.runs.artifact(digest)["media_type"])
    except RungError as exc:
        return {"type": "error", "message": exc.message}
    except Exception as exc:  # a preview never breaks the page: the download still works
        return {"type": "error", "message": f"cannot preview: {type(exc).__name__}: {exc}"}


def _preview(data: bytes, kind: str, media_type: str) -> dict[str, Any]:
    if kind in ("parquet", "series") or (
        kind == "dataset" and media_type == "application/vnd.apache.parquet"
    ):
        from rung.data.tables import read_frame

        return _table(read_frame(data, "parquet"))
    if kind == "json" or (kind == "dataset" and media_type == "application/json"):
        text = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
        return _text(text)
    if kind == "npy":
        import io

        import numpy as np

        array = np.load(io.BytesIO(data), allow_pickle=False)
        head = np.array2string(array, threshold=200, edgeitems=5)
        return _text(f"shape {array.shape}, dtype {array.dtype}\n{head}")
    if kind == "dataset" and media_type.startswith("text/"):
        return _text(
            data[: PREVIEW_CHARS * 4].decode("utf-8", "replace"), len(data) > PREVIEW_CHARS * 4
        )
    return {"type": "none", "reason": f"no preview for {media_type or kind}"}


def _text(text: str, cut: bool = False) -> dict[str, Any]:
    return {
        "type": "text",
        "text": text[:PREVIEW_CHARS],
        "truncated": cut or len(text) > PREVIEW_CHARS,
    }


def _table(frame: Any) -> dict[str, Any]:
    head = frame.iloc[:PREVIEW_ROWS, :PREVIEW_COLUMNS]
    return {
        "type": "table",
        "columns": [str(c)[:_CELL_CHARS] for c in head.columns],
        "rows": [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)],
        "total_rows": int(frame.shape[0]),
        "total_columns": int(frame.shape[1]),
    }


def _cell(value: Any) -> Any:
    """A cell as a JSON value: numbers and booleans as such (non-finite as None), anything
    else as its text (at most 200 characters)."""
    if value is None:
        return None
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        value = item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    text = str(value)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


def filename(digest: str, kind: str, media_type: str) -> str:
    """The download's file name: ``HASH12.EXT``, the extension from the artifact's kind (a
    dataset's from its media type)."""
    ext = _DATASET_EXTENSIONS.get(media_type, "bin") if kind == "dataset" else None
    return f"{digest[:12]}.{ext or _EXTENSIONS.get(kind, 'bin')}"


def _shown(value: Any) -> str:
    """A parameter's value as text: a string as itself, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _distinct(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each output hash once (two steps may return the same bytes), in first-seen order."""
    first: dict[str, dict[str, Any]] = {}
    for o in outputs:
        first.setdefault(o["hash"], o)
    return list(first.values())


@router.get("/api/runs/{run_id}", response_class=ApiJSON, tags=["runs"])
def api_run(
    request: Request,
    run_id: RunId,
    previews: Annotated[bool, Query(description="Include each output's preview.")] = True,
) -> Any:
    """One run: ``run`` (what ``rung show RUN --json`` prints: parameters, last metrics,
    code, environment, steps with cache hits and seconds, inputs, outputs, errors and
    tracebacks), ``metric_history`` per metric (``[step, value]``, non-finite as null),
    ``graph`` (the step graph), ``outputs``, ``previews`` by hash, ``datasets`` read and the
    ``lineage`` page. 422 for an id that is not a whole number, 404 for an unknown run."""
    return ApiJSON(run_view(workspace(request), run_id, previews))


@router.get(
    "/api/artifacts/{digest}",
    tags=["runs"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
def api_artifact(
    request: Request,
    digest: Annotated[str, Path(description="The artifact's full hash (64 hex digits).")],
) -> Response:
    """The stored bytes of an artifact (a step's output, a dataset version), verified against
    its hash before they are sent, as an attachment named ``HASH12.EXT`` with the media type
    recorded for it. 422 for a malformed hash, 404 for an unknown artifact, 500 when the
    stored bytes are missing or no longer match the hash."""
    from fastapi.responses import FileResponse

    ws = workspace(request)
    art = ws.runs.artifact(digest)
    path = ws.artifacts.local_path(art["hash"])  # verified (a remote store's verified copy)
    return FileResponse(
        path,
        media_type=art["media_type"] or "application/octet-stream",
        filename=filename(art["hash"], art["kind"], art["media_type"] or ""),
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def run_page(request: Request, run_id: RunId) -> HTMLResponse:
    view = run_view(workspace(request), run_id)
    run = view["run"]
    charts = {
        "history": view["metric_history"],
        "graph": view["graph"],
    }
    return page(
        request,
        "run.html",
        title=f"Run {run['id']} · {run['name']}",
        view=view,
        run=run,
        outputs=_distinct(view["outputs"]),
        params={k: _shown(v) for k, v in run["params"].items()},
        histories=[k for k, points in view["metric_history"].items() if len(points) > 1],
        same_name='name = "' + run["name"].replace('"', '""') + '"',
        charts=charts,
    )
