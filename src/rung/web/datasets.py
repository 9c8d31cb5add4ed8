"""The datasets: ``GET /api/datasets`` (every dataset), ``/api/datasets/{name}`` (its
versions), ``/api/datasets/{name}/{version}`` (schema, statistics, a preview, the runs that
read it) and ``/api/datasets/{name}/diff?a=&b=`` (what changed), and the pages made from
them: ``/datasets``, ``/datasets/{name}``, ``/datasets/{name}@{v}`` (or ``/{name}/{v}``) and
``/datasets/{name}/diff``.

Every number comes from the workspace's own records: a version's rows, size, schema and
statistics are those :meth:`rung.data.datasets.Datasets.add` stored (profiled once, when it
was added: :func:`rung.data.profile.profile`); the diff is
:meth:`~rung.data.datasets.Datasets.diff` (as ``rung data diff``); the readers are
:meth:`rung.pipelines.history.Runs.read_by`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from rung.core.errors import IntegrityError
from rung.web.render import ApiJSON, bad_query, page, workspace

router = APIRouter()

PREVIEW_ROWS = 20
"""Rows shown in a version's preview by default."""
MAX_PREVIEW = 500
MAX_CELL = 500
"""Characters of one preview value at most (a longer text is cut, ending with …)."""

NameP = Annotated[str, Path(description="The dataset's name.", max_length=1000)]
VersionP = Annotated[str, Path(description="The version number.", max_length=40)]
RowsQ = Annotated[int, Query(ge=0, le=MAX_PREVIEW, description="Rows of the preview (first rows).")]
SideQ = Annotated[
    str | None,
    Query(description="A version number (default: the one before the latest).", max_length=40),
]
OtherQ = Annotated[
    str | None, Query(description="A version number (default: the latest).", max_length=40)
]

_STATS = ("missing", "missing_rate", "min", "max", "mean", "std", "p25", "p50", "p75", "unique")


def _summary(v: Any) -> dict[str, Any]:
    """A version without its schema and statistics."""
    return {k: val for k, val in v.to_dict().items() if k not in ("schema", "stats")}


def datasets_list(ws: Any) -> dict[str, Any]:
    """Every dataset: ``{"datasets": [{"name", "versions", "latest": summary of the latest
    version (``version``, ``ref``, ``rows``, ``size``, ``format``, ``files``, ``hash``,
    ``created_at``), "first_created_at"}]}`` by name."""
    by_name: dict[str, list[Any]] = {}
    for v in ws.data.list():  # by name, newest version first
        by_name.setdefault(v.name, []).append(v)
    return {
        "datasets": [
            {
                "name": name,
                "versions": len(versions),
                "latest": _summary(versions[0]),
                "first_created_at": min(v.created_at for v in versions),
            }
            for name, versions in sorted(by_name.items())
        ]
    }


def dataset_versions(ws: Any, name: str) -> dict[str, Any]:
    """One dataset's versions, newest first: ``{"name", "versions": [summary]}``. Raises
    :class:`~rung.core.errors.NotFound` (with the nearest names) for an unknown name and
    :class:`~rung.web.render.BadQuery` for an invalid one."""
    with bad_query():
        ws.data.get(name)  # unknown: NotFound with the nearest names
    return {"name": name, "versions": [_summary(v) for v in ws.data.list(name)]}


def _ref(name: str, version: str) -> str:
    return f"{name}@{version.strip()}"


def dataset_version(ws: Any, name: str, version: str, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """One version: its summary plus ``source``, ``schema``, ``stats`` (as stored),
    ``columns`` ([{"name", "dtype", "kind", "timezone", "nullable", and the statistics
    ``missing``, ``missing_rate``, ``min``, ``max``, ``mean``, ``std``, ``p25``, ``p50``,
    ``p75``, ``unique``, ``top``}]), ``preview`` (``{"columns", "rows"}``: the first
    ``rows`` rows, values as JSON; None for a file or folder, or when the stored bytes are
    missing or corrupt: ``preview_error`` says so), ``read_by`` (the runs that
    read it, :meth:`Runs.read_by`), ``versions`` (every version number of the dataset) and
    ``lineage`` (the lineage page's reference). Raises NotFound for an unknown dataset or
    version, BadQuery for a malformed one."""
    with bad_query():
        v = ws.data.get(_ref(name, version))
    schema = (v.schema or {}).get("columns", {})
    stats = (v.stats or {}).get("columns", {})
    columns = []
    for col, info in schema.items():
        s = stats.get(col, {})
        columns.append(
            {
                "name": col,
                "dtype": info.get("dtype"),
                "kind": info.get("kind"),
                "timezone": info.get("timezone"),
                "nullable": info.get("nullable"),
                **{k: s.get(k) for k in _STATS},
                "top": s.get("top"),
            }
        )
    preview = None
    preview_error = None
    if v.tabular:
        try:
            frame = v.head(rows)
        except IntegrityError as exc:  # the record stands; only the bytes are gone
            preview_error = f"{exc.message}" + (f" — {exc.hint}" if exc.hint else "")
        else:
            preview = {
                "columns": [str(c) for c in frame.columns],
                "rows": [
                    [_cell(x) for x in row] for row in frame.itertuples(index=False, name=None)
                ],
            }
    return {
        **_summary(v),
        "schema": v.schema,
        "stats": v.stats,
        "columns": columns,
        "preview": preview,
        "preview_error": preview_error,
        "read_by": ws.runs.read_by(v.ref),
        "versions": [d.version for d in ws.data.list(v.name)],
        "lineage": f"dataset:{v.ref}",
    }


def _cell(value: Any) -> Any:
    """One preview value as JSON: numbers, text, booleans, ISO 8601 times; missing values
    None; a non-finite float as its text; anything else as its text; a text longer than
    :data:`MAX_CELL` cut."""
    from rung.core.columns import plain

    out = plain(value)
    if isinstance(out, float) and not math.isfinite(out):
        return None if math.isnan(out) else repr(out)
    if out is None or isinstance(out, int | float | bool):
        return out
    text = out if isinstance(out, str) else str(out)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def dataset_diff(ws: Any, name: str, a: str | None, b: str | None) -> dict[str, Any]:
    """What changed from version ``a`` to ``b`` of ``name`` (default: the one before the
    latest to the latest): :meth:`Datasets.diff` plus ``name``, ``a``, ``b`` and
    ``versions``. Raises NotFound for an unknown dataset or version."""
    numbers = [v["version"] for v in dataset_versions(ws, name)["versions"]]
    b = b.strip() if b and b.strip() else str(numbers[0])
    a = a.strip() if a and a.strip() else str(numbers[1] if len(numbers) > 1 else numbers[0])
    with bad_query():
        diff = ws.data.diff(_ref(name, a), _ref(name, b))
    return {"name": name, "a": int(a), "b": int(b), "versions": numbers, **diff}


# -- API ---------------------------------------------------------------------------------


@router.get("/api/datasets", response_class=ApiJSON, tags=["datasets"])
def api_datasets(request: Request) -> Any:
    """Every dataset with its number of versions and its latest version (rows, size,
    format, hash, created_at)."""
    return ApiJSON(datasets_list(workspace(request)))


@router.get("/api/datasets/{name}", response_class=ApiJSON, tags=["datasets"])
def api_dataset(request: Request, name: NameP) -> Any:
    """One dataset's versions, newest first. An unknown name is a 404 naming the nearest."""
    return ApiJSON(dataset_versions(workspace(request), name))


@router.get("/api/datasets/{name}/diff", response_class=ApiJSON, tags=["datasets"])
def api_dataset_diff(request: Request, name: NameP, a: SideQ = None, b: OtherQ = None) -> Any:
    """What changed from version ``a`` to ``b`` (as ``rung data diff``): ``same_content``;
    for tables ``rows`` (from, to, added, removed), ``append``, ``columns_added``,
    ``columns_removed``, ``types_changed`` and ``stats_changed`` (per column, each statistic
    that moved: from, to); for folders the files added, removed and changed."""
    return ApiJSON(dataset_diff(workspace(request), name, a, b))


@router.get("/api/datasets/{name}/{version}", response_class=ApiJSON, tags=["datasets"])
def api_dataset_version(
    request: Request, name: NameP, version: VersionP, rows: RowsQ = PREVIEW_ROWS
) -> Any:
    """One version: schema, statistics per column, the first ``rows`` rows, the runs that
    read it. An unknown dataset or version is a 404."""
    return ApiJSON(dataset_version(workspace(request), name, version, rows))


# -- pages -------------------------------------------------------------------------------


@router.get("/datasets", response_class=HTMLResponse, include_in_schema=False)
def datasets_page(request: Request) -> HTMLResponse:
    return page(
        request, "datasets.html", title="Datasets", listing=datasets_list(workspace(request))
    )


@router.get("/datasets/{name}/diff", response_class=HTMLResponse, include_in_schema=False)
def dataset_diff_page(
    request: Request, name: NameP, a: SideQ = None, b: OtherQ = None
) -> HTMLResponse:
    diff = dataset_diff(workspace(request), name, a, b)
    return page(request, "dataset_diff.html", title=f"{name}: diff", diff=diff)


@router.get("/datasets/{name}/{version}", response_class=HTMLResponse, include_in_schema=False)
def dataset_version_page(
    request: Request, name: NameP, version: VersionP, rows: RowsQ = PREVIEW_ROWS
) -> HTMLResponse:
    v = dataset_version(workspace(request), name, version, rows)
    return page(request, "dataset_version.html", title=v["ref"], v=v)


@router.get("/datasets/{ref}", response_class=HTMLResponse, include_in_schema=False)
def dataset_page(request: Request, ref: NameP, rows: RowsQ = PREVIEW_ROWS) -> HTMLResponse:
    name, sep, version = ref.partition("@")
    if sep:
        return dataset_version_page(request, name, version, rows)
    listing = dataset_versions(workspace(request), name)
    return page(request, "dataset.html", title=name, listing=listing)
