"""``rung``: every command opens the workspace, calls one method, renders the result.

Errors that rung raises on purpose print as one line, ``error: <what> — <fix>``, and exit
non-zero; ``--debug`` shows the traceback instead.
"""

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from rung.cli import render

if TYPE_CHECKING:
    from rung.workspace import Workspace

app = typer.Typer(
    help="rung — MLOps one rung at a time: versioned data, cached pipelines, validation, lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from rung import __version__

        render.line(f"rung {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """rung — MLOps one rung at a time: versioned data, cached pipelines, validation, lineage."""


app.add_typer(data_app, name="data")
model_app = typer.Typer(
    help="The model registry: versions, aliases, promotions.", no_args_is_help=True
)
app.add_typer(model_app, name="model")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _ws() -> "Workspace":
    from rung.workspace import Workspace

    return Workspace.open()


# -- workspace ---------------------------------------------------------------------------


@app.command(short_help="Create a workspace (rung.toml and .rung/).")
def init(
    path: Annotated[Path, typer.Argument(help="Folder of the workspace.")] = Path("."),
) -> None:
    """Create a workspace: rung.toml plus .rung/ (SQLite metadata, local artifacts)."""
    from rung.workspace import Workspace

    with Workspace.init(path) as ws:
        render.out.print(f"Initialised rung workspace in {ws.root}")
        render.out.print(f"  metadata:  {ws.config.store_url}")
        render.out.print(f"  artifacts: {ws.config.artifact_root}")


# -- data --------------------------------------------------------------------------------


@data_app.command("add", short_help="Version a file or folder.")
def data_add(
    path: Annotated[Path, typer.Argument(help="A file or a folder.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    as_json: JsonOpt = False,
) -> None:
    """Version a file or folder (CSV and Parquet also get a schema and statistics)."""
    with _ws() as ws:
        before = {v.hash for v in ws.data.list(name)}
        version = ws.data.add(path, name=name)
        if as_json:
            render.print_json({**version.to_dict(), "new": version.hash not in before})
            return
        if version.hash in before:
            render.out.print(
                f"{version.ref} unchanged (same content as before) {version.hash[:12]}"
            )
        else:
            render.out.print(
                f"Added {version.ref}: {version.format}, {version.files} file(s),"
                f" {render.size(version.size)}"
                + (f", {version.rows} rows" if version.rows is not None else "")
                + f"  {version.hash[:12]}"
            )


@data_app.command("list")
def data_list(
    name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List dataset versions."""
    with _ws() as ws:
        versions = ws.data.list(name)
    if as_json:
        render.print_json(
            [
                {k: v for k, v in d.to_dict().items() if k not in ("schema", "stats")}
                for d in versions
            ]
        )
        return
    render.table(
        None,
        ["dataset", "format", "files", "rows", "size", "hash", "added"],
        [
            [
                v.ref,
                v.format,
                v.files,
                v.rows,
                render.size(v.size),
                v.hash[:12],
                render.when(v.created_at),
            ]
            for v in versions
        ],
    )


@data_app.command("show")
def data_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a dataset version with its schema and statistics."""
    with _ws() as ws:
        v = ws.data.get(ref)
    if as_json:
        render.print_json(v.to_dict())
        return
    render.out.print(f"[bold]{v.ref}[/]  {v.format}, {v.files} file(s), {render.size(v.size)}")
    render.out.print(f"  hash    {v.hash}")
    render.out.print(f"  source  {v.source}")
    render.out.print(f"  added   {render.when(v.created_at)}")
    if v.rows is not None:
        render.out.print(f"  rows    {v.rows}")
    if v.schema and v.stats:
        rows = []
        for col, info in v.schema["columns"].items():
            s = v.stats["columns"].get(col, {})
            summary = (
                f"min {_fmt(s.get('min'))} max {_fmt(s.get('max'))} mean {_fmt(s.get('mean'))}"
                if info["kind"] == "numeric"
                else f"{s.get('unique', '-')} unique"
                if "unique" in s
                else f"{s.get('min', '-')} … {s.get('max', '-')}"
            )
            rows.append(
                [col, info["dtype"], info["kind"], f"{s.get('missing_rate', 0):.1%}", summary]
            )
        render.table(None, ["column", "dtype", "kind", "missing", "summary"], rows)


@data_app.command("diff", short_help="What changed between two dataset versions.")
def data_diff(
    a: Annotated[str, typer.Argument(help="NAME@A")],
    b: Annotated[str, typer.Argument(help="NAME@B")],
    as_json: JsonOpt = False,
) -> None:
    """What changed between two dataset versions: rows, columns, schema, statistics."""
    with _ws() as ws:
        d = ws.data.diff(a, b)
    if as_json:
        render.print_json(d)
        return
    render.out.print(f"[bold]{d['from']} → {d['to']}[/]")
    if d["same_content"]:
        render.out.print("  identical content")
        return
    if "rows" in d:
        render.out.print(f"  rows: {d['rows']['from']} → {d['rows']['to']}")
        for key in ("columns_added", "columns_removed"):
            if d[key]:
                render.out.print(f"  {key.replace('_', ' ')}: {', '.join(d[key])}")
        for col, t in d["types_changed"].items():
            render.out.print(f"  type of {col}: {t['from']} → {t['to']}")
        rows = [
            [col, stat, _fmt(ch["from"]), _fmt(ch["to"])]
            for col, changes in d["stats_changed"].items()
            for stat, ch in changes.items()
        ]
        if rows:
            render.table("statistics that changed", ["column", "statistic", "from", "to"], rows)
    for key in ("files_added", "files_removed", "files_changed"):
        if d.get(key):
            render.out.print(f"  {key.replace('_', ' ')} ({len(d[key])}): {', '.join(d[key][:10])}")
    if "size" in d:
        render.out.print(
            f"  size: {render.size(d['size']['from'])} → {render.size(d['size']['to'])}"
        )


@data_app.command("schema", short_help="Infer a dataset version's schema.")
def data_schema(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION of a CSV or Parquet version.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema as JSON.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Infer a schema: columns, types, ranges, categories, missing rates."""
    import json

    with _ws() as ws:
        schema = ws.data.schema(ref)
    if output is not None:
        output.write_text(json.dumps(schema, indent=2) + "\n")
        render.err.print(f"wrote {output}")
    if as_json:
        render.print_json(schema)
        return
    if output is not None:
        return
    rows = []
    for col, spec in schema["columns"].items():
        if "categories" in spec:
            cats = list(spec["categories"])
            detail = f"{len(cats)} categories: {', '.join(cats[:6])}{' …' if len(cats) > 6 else ''}"
        elif "min" in spec:
            detail = f"{_fmt(spec['min'])} … {_fmt(spec['max'])}"
        else:
            detail = "-"
        rows.append(
            [
                col,
                spec["kind"],
                spec["dtype"],
                "yes" if spec["nullable"] else "no",
                f"{spec['missing_rate']:.1%}",
                detail,
            ]
        )
    render.table(
        f"schema of {schema['source']} ({schema['rows']} rows)",
        ["column", "kind", "dtype", "nulls", "missing", "range / categories"],
        rows,
    )


@data_app.command("validate", short_help="Check a version against a schema.")
def data_validate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to check.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Schema JSON (default: the previous version's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Report anomalies: schema skew (exit 1) and value skew (reported)."""
    with _ws() as ws:
        report = ws.data.validate(ref, schema)
    if as_json:
        render.print_json(report.to_dict())
    else:
        render.out.print(f"[bold]{report.source}[/] against schema of {report.schema_source}")
        if report.ok:
            render.out.print("  no anomalies")
        for title, items in (
            ("schema skew", report.schema_skew),
            ("value skew", report.value_skew),
        ):
            if items:
                render.table(
                    title,
                    ["column", "anomaly", "detail"],
                    [[a.column, a.problem, a.detail] for a in items],
                )
    if report.schema_skew:
        raise typer.Exit(1)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "-" if v is None else str(v)


# -- pipelines and runs ------------------------------------------------------------------


@app.command()
def run(
    pipeline: Annotated[
        str, typer.Argument(help="file.py:function, module:function, or a name from rung.toml.")
    ],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value (repeatable).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Execute every step.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a pipeline; unchanged steps come from the cache."""
    from rung.core.refs import parse_params

    params = parse_params(param or [])
    live = render.LiveSteps() if not as_json else None
    with _ws() as ws:
        try:
            result = ws.run(pipeline, params, cache=not no_cache, progress=live)
        finally:
            if live:
                live.stop()
    if as_json:
        render.print_json(
            {
                "run": result.id,
                "status": result.status,
                "executed": result.executed,
                "cached": result.cached,
                "outputs": result.outputs,
                "steps": [s.__dict__ for s in result.steps],
            }
        )
        return
    total = len(result.steps)
    if total and result.executed == 0:
        render.line(f"run {result.id}: all {total} steps cached — nothing executed")
    else:
        render.line(f"run {result.id}: {result.executed} executed, {result.cached} cached")


@app.command("runs")
def runs_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List recent runs."""
    with _ws() as ws:
        items = ws.runs.list(limit)
    if as_json:
        render.print_json([r.to_dict() for r in items])
        return
    render.table(
        None,
        ["run", "name", "kind", "status", "steps", "cached", "trigger", "started", "took"],
        [
            [
                r.id,
                r.name,
                r.kind,
                r.status,
                r.steps,
                r.cached,
                r.trigger,
                render.when(r.started_at),
                render.seconds(r.seconds),
            ]
            for r in items
        ],
    )


@app.command(short_help="Show a run: parameters, metrics, code, steps.")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a run: parameters, metrics, code, environment, steps and errors."""
    with _ws() as ws:
        d = ws.runs.get(run_id)
    if as_json:
        render.print_json(d)
        return
    o = render.out
    o.print(
        f"[bold]run {d['id']}[/] {d['name']} ({d['kind']}) — {d['status']}, trigger {d['trigger']}"
    )
    if d["target"]:
        o.print(f"  target    {d['target']}")
    code = d["code"]
    dirty = " (dirty)" if code["dirty"] else ""
    o.print(
        f"  code      commit {code['commit'] or '-'}{dirty}, source hash {(code['hash'] or '-')[:12]}"
    )
    env = d["environment"]
    if env:
        pk = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
        o.print(f"  python    {env.get('python')} — {pk}")
    o.print(
        f"  started   {render.when(d['started_at'])}, took {render.seconds((d['ended_at'] or d['started_at']) - d['started_at'])}"
    )
    if d["reproduces"]:
        o.print(f"  reproduces run {d['reproduces']}")
    if d["params"]:
        o.print("  params    " + ", ".join(f"{k}={v!r}" for k, v in d["params"].items()))
    if d["metrics"]:
        render.table(
            "metrics (last value)",
            ["metric", "value", "values logged"],
            [[k, _fmt(v), d["metric_counts"][k]] for k, v in d["metrics"].items()],
        )
    if d["steps"]:
        render.table(
            "steps",
            ["step", "status", "cache", "took", "outputs"],
            [
                [
                    s["name"],
                    s["status"],
                    "hit" if s["cache_hit"] else "miss",
                    render.seconds(s["seconds"]),
                    ", ".join(f"{x['name']} {x['hash'][:12]}" for x in s["outputs"]),
                ]
                for s in d["steps"]
            ],
        )
    for s in d["steps"]:
        if s["traceback"]:
            o.print(f"\n[red]step {s['name']} failed: {s['error']}[/]")
            o.print(s["traceback"], markup=False)
    if d["error"] and not any(s["traceback"] for s in d["steps"]):
        o.print(f"\n[red]error:[/] {d['error']}", markup=True)


@app.command(short_help="Trace a run or artifact back to data and code.")
def lineage(
    what: Annotated[str, typer.Argument(metavar="RUN|ARTIFACT|DATASET@V")],
    as_json: JsonOpt = False,
) -> None:
    """Trace a run or artifact back to datasets and code, or a dataset version forward."""
    with _ws() as ws:
        tree = ws.runs.lineage(what)
    if as_json:
        render.print_json(tree)
    else:
        render.tree(tree)


@app.command(short_help="Re-execute a run without the cache, compare.")
def reproduce(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    as_json: JsonOpt = False,
) -> None:
    """Re-execute a run without the cache; report whether outputs and metrics match."""
    live = render.LiveSteps() if not as_json else None
    with _ws() as ws:
        try:
            report = ws.runs.reproduce(run_id, progress=live)
        finally:
            if live:
                live.stop()
    if as_json:
        render.print_json(report)
    else:
        render.table(
            None,
            ["output", "original", "reproduced", "match"],
            [
                [
                    r["output"],
                    (r["original"] or "-")[:12],
                    (r["reproduced"] or "-")[:12],
                    "yes" if r["match"] else "NO",
                ]
                for r in report["outputs"]
            ],
        )
        if report["metrics"]:
            render.table(
                None,
                ["metric", "original", "reproduced", "match"],
                [
                    [
                        r["metric"],
                        _fmt(r["original"]),
                        _fmt(r["reproduced"]),
                        "yes" if r["match"] else "NO",
                    ]
                    for r in report["metrics"]
                ],
            )
        verdict = "reproduced exactly" if report["reproduced"] else "did NOT reproduce"
        render.out.print(
            f"run {report['reproduction']} re-executed run {report['original']}: {verdict}"
        )
    if not report["reproduced"]:
        raise typer.Exit(1)


# -- evaluation --------------------------------------------------------------------------


@app.command("eval", short_help="Evaluate a model on several datasets at once.")
def eval_cmd(
    model: Annotated[
        str,
        typer.Argument(metavar="MODEL", help="Run id, RUN:STEP.OUTPUT or model hash; or `show`."),
    ],
    eval_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="With `show`: the evaluation.")
    ] = None,
    on: Annotated[
        list[str] | None, typer.Option("--on", help="Dataset NAME@VERSION (repeatable).")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="Label column (default: [eval] label).")
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Metric to compute (repeatable).")
    ] = None,
    slice_: Annotated[
        list[str] | None, typer.Option("--slice", help="Column to slice by (repeatable).")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Champion to compare with.")
    ] = None,
    criterion: Annotated[
        list[str] | None, typer.Option("--criterion", help="Overrides [eval] criteria.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | markdown | json | html")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to a file.")
    ] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", help="Metric columns to show.")
    ] = None,
) -> None:
    """Evaluate a model on several dataset versions at once: Table 2 and a verdict.

    Exits 1 when the verdict is failed, so CI can gate on it. `rung eval show ID` renders a
    recorded evaluation again (exit 0).
    """
    from rung.core.errors import InvalidInput

    if fmt not in ("table", "markdown", "json", "html"):
        raise InvalidInput(f"unknown format {fmt!r}", "use table, markdown, json or html")
    with _ws() as ws:
        if model == "show":
            if eval_id is None:
                raise InvalidInput("`rung eval show` needs an evaluation id", "see `rung evals`")
            ev = ws.evals.get(eval_id)
        else:
            if eval_id is not None:
                raise InvalidInput(
                    f"unexpected argument {eval_id!r}", "datasets go with --on NAME@V"
                )
            ev = ws.evaluate(
                model,
                on or [],
                label=label,
                metrics=metric,
                slices=slice_,
                baseline=baseline,
                criteria=criterion,
            )
    _render_eval(ev, fmt, output, column)
    if ev.status == "failed" and model != "show":  # a new verdict gates; re-rendering does not
        raise typer.Exit(1)


def _render_eval(ev: Any, fmt: str, output: Path | None, column: list[str] | None) -> None:
    from rung.evaluation import report

    if fmt == "json":
        import json

        text = json.dumps(ev.to_dict(), indent=2, default=str) + "\n"
    elif fmt == "markdown":
        text = report.to_markdown(ev, column)
    elif fmt == "html":
        text = report.to_html(ev, column)
    else:
        text = ""
    if output is not None:
        output.write_text(text if fmt != "table" else report.to_markdown(ev, column))
        render.err.print(f"wrote {output}")
    if fmt != "table":
        if output is None:
            sys.stdout.write(text)
        return
    cols = report.columns(ev, column)
    title = f"evaluation {ev.id}: model {ev.model} ({ev.model_hash[:12]})"
    if ev.baseline:
        title += f" vs baseline {ev.baseline}"
    render.table(
        title,
        ["dataset", *cols],
        [[n, *[report.cell(r.get(c)) for c in cols]] for n, r in ev.table()],
    )
    deltas = report.delta_rows(ev, cols)
    if deltas:
        render.table(
            "against the baseline (95% bootstrap CI)",
            ["dataset", "metric", "delta", "95% CI", "reading"],
            [
                [
                    d["dataset"],
                    d["metric"],
                    f"{d['delta']:+.4f}",
                    f"[{d['low']:+.4f}, {d['high']:+.4f}]",
                    d["reading"],
                ]
                for d in deltas
            ],
        )
    worst = ev.worst_slices()
    if worst:
        render.table(
            f"worst slices by {worst[0]['metric']}",
            ["dataset", "slice", "examples", worst[0]["metric"]],
            [[w["dataset"], w["slice"], w["examples"], report.cell(w["value"])] for w in worst],
        )
    status = ev.status
    style = {"passed": "green", "failed": "red"}.get(status or "", "yellow")
    render.out.print(f"[bold {style}]{report.verdict_line(ev)}[/]")
    for reason in ev.verdict.get("reasons", []):
        render.out.print(f"  ✗ {reason}", markup=False)
    for note in ev.verdict.get("notes", []):
        render.out.print(f"  note: {note}", markup=False)


@app.command("evals")
def evals_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List recorded evaluations."""
    with _ws() as ws:
        items = ws.evals.list(limit)
    if as_json:
        render.print_json(items)
        return
    render.table(
        None,
        ["id", "model", "baseline", "datasets", "verdict", "when"],
        [
            [
                e["id"],
                e["model"],
                e["baseline"],
                ", ".join(e["datasets"]),
                e["verdict"] or "none",
                render.when(e["created_at"]),
            ]
            for e in items
        ],
    )


# -- registry ----------------------------------------------------------------------------


@model_app.command("register")
def model_register(
    source: Annotated[
        str, typer.Argument(metavar="RUN_OR_ARTIFACT", help="Run id, RUN:STEP.OUTPUT or hash.")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name.")],
    allow_pickle: Annotated[
        bool, typer.Option("--allow-pickle", help="Opt in for a model stored with pickle.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a model artifact as the next version of NAME."""
    with _ws() as ws:
        v = ws.models.register(source, name, allow_pickle=allow_pickle)
    if as_json:
        render.print_json(v.to_dict())
        return
    feats = len((v.signature or {}).get("features", []))
    render.line(
        f"Registered {v.ref} from {v.source} ({v.hash[:12]}), trained on "
        f"{', '.join(v.datasets) or 'no recorded dataset'}, signature of {feats} feature(s)"
    )


@model_app.command("list", short_help="List model versions and their aliases.")
def model_list(as_json: JsonOpt = False) -> None:
    """List registered model versions with their aliases and latest verdict."""
    with _ws() as ws:
        versions = ws.models.list()
    if as_json:
        render.print_json([v.to_dict() for v in versions])
        return
    render.table(
        None,
        ["model", "aliases", "verdict", "source", "datasets", "hash", "registered"],
        [
            [
                v.ref,
                ", ".join(v.aliases),
                v.verdict or "-",
                v.source,
                ", ".join(v.datasets),
                v.hash[:12],
                render.when(v.created_at),
            ]
            for v in versions
        ],
    )


@model_app.command("show", short_help="Show a model version and its provenance.")
def model_show(
    ref: Annotated[str, typer.Argument(metavar="NAME[@VERSION|@ALIAS]")],
    as_json: JsonOpt = False,
) -> None:
    """Show a model version: source, datasets, metrics, signature, aliases, verdict."""
    with _ws() as ws:
        v = ws.models.get(ref)
    if as_json:
        render.print_json(v.to_dict())
        return
    o = render.out
    o.print(
        f"[bold]{v.ref}[/] {v.kind} {v.hash[:12]}"
        + (f"  aliases: {', '.join(v.aliases)}" if v.aliases else "")
    )
    o.print(f"  source    {v.source}" + (f" (run {v.run_id})" if v.run_id else ""))
    o.print(f"  datasets  {', '.join(v.datasets) or '-'}")
    o.print(
        f"  verdict   {v.verdict or 'none'}"
        + (f" (evaluation {v.evaluation_id})" if v.evaluation_id else "")
    )
    if v.metrics:
        o.print("  metrics   " + ", ".join(f"{k}={_fmt(x)}" for k, x in v.metrics.items()))
    sig = v.signature or {}
    rows = [
        [
            f,
            c.get("kind", "-"),
            c.get("dtype", "-"),
            ", ".join(map(str, c.get("categories", [])[:8])) or "-",
        ]
        for f in sig.get("features", [])
        for c in [sig.get("columns", {}).get(f, {})]
    ]
    if rows:
        render.table("signature", ["feature", "kind", "dtype", "categories"], rows)


@model_app.command("promote", short_help="Point an alias at a version (gated).")
def model_promote(
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="Promote despite a failed or missing verdict.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (required with --force).")
    ] = None,
) -> None:
    """Point ALIAS at VERSION; refused unless its latest evaluation passed."""
    with _ws() as ws:
        event = ws.models.promote(name, version, alias, force=force, reason=reason)
    before = f" (was {event['from_version']})" if event["from_version"] else ""
    render.line(f"{name}@{alias} → version {event['to_version']}{before} [{event['action']}]")


@model_app.command("rollback", short_help="Move an alias back to its previous version.")
def model_rollback(
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Option("--alias")] = "champion",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Move ALIAS back to the version it pointed at before its last move."""
    with _ws() as ws:
        event = ws.models.rollback(name, alias, reason)
    render.line(
        f"{name}@{alias} → version {event['to_version']} (was {event['from_version']}) [rollback]"
    )


class _DefaultCheck(TyperGroup):
    """``rung monitor NAME@ALIAS`` runs ``check``; ``rung monitor show NAME`` the series."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


monitor_app = typer.Typer(
    cls=_DefaultCheck,
    help="Monitoring: `rung monitor NAME@ALIAS` checks a window; `show`, `alerts`, `report`"
    " read back.",
    short_help="Drift, live performance and health of served models.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("check", short_help="Check the latest window of a served model.")
def monitor_check(
    ref: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="Model alias or version.")],
    window: Annotated[
        str | None,
        typer.Option("--window", help="Latest N predicted rows (1000) or a period (1d)."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="A dataset version instead of the training data."),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store the window and its alerts.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Drift of inputs and predictions, live performance and health of the latest window;
    stored, and its alerts logged and sent to the webhook. Exit 0 on drift, 1 on errors."""
    with _ws() as ws:
        report = ws.monitor.check(ref, window, reference=reference, save=save)
    assert report is not None
    if as_json:
        render.print_json(report)
    else:
        _print_window(report)
    failed = [a for a in report["alerts"] if a.get("delivery") not in (None, "delivered")]
    for alert in failed:
        render.line(
            f"error: alert {alert['id']} is logged but not delivered: {alert['delivery']}"
            " (check webhook in [monitor] of rung.toml)",
            sys.stderr,
        )
    if failed:
        raise typer.Exit(1)


def _drift_row(name: str, f: dict[str, Any]) -> list[Any]:
    """One row of the drift table: a feature, or the predictions."""
    v, st = f["verdict"], f["stats"]
    pvalue = st.get("ks_pvalue", st.get("chi2_pvalue"))
    return [
        name,
        f["kind"],
        f["rows"],
        v["statistic"],
        _num(v["value"]),
        _num(v["threshold"]),
        _verdict(v["drift"]),
        _num(pvalue),
    ]


def _print_window(report: dict[str, Any]) -> None:
    rows = [_drift_row(name, f) for name, f in report["features"].items()]
    if report.get("prediction"):
        rows.append(_drift_row("(predictions)", report["prediction"]))
    render.table(
        f"{report['model']}, window {report['window']} ({report['rows']} rows) against the"
        f" {report['reference']}",
        ["feature", "kind", "rows", "statistic", "value", "threshold", "verdict", "p-value"],
        rows,
    )
    drifted = report["drifted"]
    render.line(
        f"{len(drifted)} of {len(report['features'])} features drifted"
        + (f": {', '.join(drifted)}" if drifted else "")
        + (
            " (fewer than 1000 rows: the KS/chi-squared p-value decides, below 0.05)"
            if report["rows"] < 1000
            else " (verdicts by effect size; p-values for information)"
        )
    )
    render.line(_performance_line(report["performance"]))
    h = report["health"]
    lat = h["latency_ms"]
    render.line(
        f"health: {h['requests']} requests, {h['errors']} failed"
        f" ({_pct(h['error_rate'])}), latency p50 {_num(lat['p50'])} ms,"
        f" p95 {_num(lat['p95'])} ms, p99 {_num(lat['p99'])} ms"
    )
    for alert in report["alerts"]:
        render.line(f"ALERT {alert['kind']}: {alert['message']}")
    if "same_as" in report:
        render.line(
            f"the same rows as window {report['same_as']}: not stored again, its alerts were"
            " raised then"
        )
    if "id" in report:
        render.line(
            f"stored as window {report['id']} (rung monitor show {report['model'].partition('@')[0]})"
        )


def _performance_line(perf: dict[str, Any]) -> str:
    if not perf["labelled"]:
        return f"live performance: no labels back yet for the {perf['rows']} rows (POST /feedback)"
    mae = f", MAE {perf['mae']:.4g}" if perf["mae"] is not None else ""
    return (
        f"live performance: accuracy {perf['accuracy']:.4g}{mae} on {perf['labelled']}"
        f" labelled rows of {perf['rows']} ({perf['missing']} labels not back yet)"
    )


def _verdict(drift: bool | None) -> str:
    return "DRIFT" if drift else "-" if drift is None else "ok"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@monitor_app.command("show", short_help="The stored windows as a time series.")
def monitor_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    last: Annotated[int, typer.Option("--last", help="How many windows.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The stored windows as a time series; live performance recomputed with the labels
    that came back since."""
    with _ws() as ws:
        windows = ws.monitor.windows(name, last)
    if as_json:
        render.print_json(windows)
        return
    render.table(
        f"monitoring of {name}: {len(windows)} windows",
        [
            "window",
            "when",
            "served",
            "rows",
            "drifted",
            "predictions",
            "accuracy",
            "labelled",
            "p99 ms",
            "errors",
            "alerts",
        ],
        [
            [
                w["id"],
                render.when(w["at"]),
                w["model"],
                w["rows"],
                f"{len(w['drifted'])}/{len(w['features'])}",
                _prediction_cell(w.get("prediction")),
                _num(w["performance"]["accuracy"]),
                f"{w['performance']['labelled']}/{w['performance']['rows']}",
                _num(w["health"]["latency_ms"]["p99"]),
                _pct(w["health"]["error_rate"]),
                ", ".join(a["kind"] for a in w["alerts"]) or "-",
            ]
            for w in windows
        ],
    )


def _prediction_cell(prediction: dict[str, Any] | None) -> str:
    if not prediction:
        return "-"
    v = prediction["verdict"]
    return f"{_verdict(v['drift'])} {_num(v['value'])}"


@monitor_app.command("alerts", short_help="The alerts raised and their delivery.")
def monitor_alerts(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    last: Annotated[int, typer.Option("--last", help="How many alerts.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The alerts raised, newest first, and whether the webhook took them."""
    with _ws() as ws:
        alerts = ws.monitor.alerts(name, last)
    if as_json:
        render.print_json(alerts)
        return
    render.table(
        f"alerts of {name}",
        ["alert", "when", "window", "kind", "message", "webhook"],
        [
            [
                a["id"],
                render.when(a["at"]),
                a["window_id"],
                a["kind"],
                a["message"],
                a["delivery"] or "-",
            ]
            for a in alerts
        ],
    )


@monitor_app.command("report", short_help="Write the HTML monitoring report.")
def monitor_report(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "monitoring.html"
    ),
    last: Annotated[
        int, typer.Option("--last", help="How many windows (and automation jobs).")
    ] = 50,
) -> None:
    """An HTML page: drift and live performance over time, the automation's decisions
    marked on both, and the tables of windows and decisions. Prints the file's path."""
    from rung.monitoring.report import monitoring_html

    with _ws() as ws:
        windows = ws.monitor.windows(name, last)  # NotFound for an unknown model
        jobs = ws.automation.history(last, model=name)
        alerts = ws.monitor.alerts(name, 10 * last)
    output.write_text(monitoring_html(name, windows, jobs, alerts), encoding="utf-8")
    render.line(f"wrote {output}")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


automate_app = typer.Typer(
    help="Continuous training: triggers, retrain, judge against the champion, promote.",
    short_help="Continuous training: triggers, retrain, promote.",
    no_args_is_help=True,
)
app.add_typer(automate_app, name="automate")


@automate_app.command("tick", short_help="Check every trigger once; carry a job through.")
def automate_tick(as_json: JsonOpt = False) -> None:
    """Check every trigger once; carry a fired one (or an unfinished job) through run,
    evaluation, decision and promotion. Safe from cron: idempotent, one tick at a time.
    Exit 1 when the job failed (no alias moved)."""
    with _ws() as ws:
        outcome = ws.automation.tick()
    _print_tick(outcome, as_json)
    if outcome["status"] == "failed":
        raise typer.Exit(1)


def _print_tick(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(outcome)
        return
    status, job = outcome["status"], outcome.get("job")
    for fired in outcome.get("fired", []):
        render.line(f"fired: {fired['trigger']}: {fired['reason']}")
    if status == "busy":
        render.line(outcome["message"])
    elif status == "idle":
        render.line("no trigger fired")
    elif job is not None:
        render.line(_job_line(job, resumed=bool(outcome.get("resumed"))))


def _job_line(job: dict[str, Any], resumed: bool = False) -> str:
    head = f"job {job['id']}{' (resumed)' if resumed else ''}: "
    if job["state"] == "skipped":
        return head + f"skipped: {job['reason']}"
    if job["state"] == "failed":
        return head + f"FAILED: {job['error']} — the alias was not moved"
    what = {
        "promote": f"PROMOTED version {job['challenger']} to {job['alias']}",
        "approved": f"version {job['challenger']} approved and promoted to {job['alias']}",
        "await": f"version {job['challenger']} passed; waiting for `rung model approve"
        f" {job['model']} {job['challenger']}`",
        "reject": f"REJECTED version {job['challenger']}",
    }.get(job["decision"] or "", job["state"])
    return head + f"run {job['run_id']}, {what}: {_why(job)}"


def _why(job: dict[str, Any]) -> str:
    """The decision's reasons in a line: failed criteria in full, significant drops counted."""
    evidence = job.get("evidence") or {}
    reasons = evidence.get("reasons", [])
    worse = [
        r.removeprefix("significantly worse: ") for r in reasons if r.startswith("significantly")
    ]
    parts = [r for r in reasons if not r.startswith("significantly")]
    if worse:
        parts.append(
            f"significantly worse on {len(worse)} metric(s): {'; '.join(worse[:2])}"
            + ("; ..." if len(worse) > 2 else "")
        )
    if not parts:
        parts.append(f"evaluation {job['evaluation_id']} passed, nothing significantly worse")
        better = evidence.get("better", [])
        if better:
            parts.append(f"significantly better: {'; '.join(better[:2])}")
    for dataset, metrics in (evidence.get("compared") or {}).items():
        m = metrics.get("accuracy")
        if m and m.get("serving") is not None:
            parts.append(
                f"accuracy {m['challenger']:.3f} vs {m['serving']:.3f} served, on {dataset}"
            )
    return "; ".join(parts)


@automate_app.command("run", short_help="Tick on an interval until stopped.")
def automate_run(
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between ticks (default 60).")
    ] = None,
    ticks: Annotated[
        int | None, typer.Option("--ticks", help="Stop after this many ticks.")
    ] = None,
) -> None:
    """Tick on an interval until stopped (Ctrl-C or SIGTERM end it between ticks)."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _ws() as ws:
        every = float(interval or ws.config.raw.get("automate", {}).get("interval", 60))
        automation = ws.automation  # a bad [automate] section fails here, before the banner
        automation.require()
        render.line(f"automate: ticking every {every:g} s (Ctrl-C to stop)", sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            automation.run(
                every,
                stop,
                ticks,
                lambda o: render.line(
                    f"[{render.when(time.time())}] "
                    + (
                        o["message"]
                        if o["status"] in ("error", "busy")
                        else _job_line(o["job"], bool(o.get("resumed")))
                        if o.get("job")
                        else "no trigger fired"
                    )
                ),
            )


@automate_app.command("history", short_help="What fired, ran, was decided, and why.")
def automate_history(
    last: Annotated[int, typer.Option("--last", help="How many jobs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What fired, what ran, what was decided, and why."""
    with _ws() as ws:
        jobs = ws.automation.history(last)
    if as_json:
        render.print_json(jobs)
        return
    render.table(
        "continuous training",
        ["job", "when", "trigger", "run", "champion", "challenger", "eval", "decision"],
        [
            [
                j["id"],
                render.when(j["created_at"]),
                j["trigger"],
                j["run_id"],
                j["champion"],
                j["challenger"],
                j["evaluation_id"],
                j["decision"] or j["state"],
            ]
            for j in jobs
        ],
    )
    for j in jobs:
        render.line(f"job {j['id']} fired: {j['reason']}")
        if j["state"] == "failed":
            render.line(f"  failed: {j['error']}; no alias moved")
        elif j["evidence"]:
            render.line(f"  {j['decision']}: {_why(j)}")


@model_app.command("approve", short_help="Promote a challenger waiting for approval.")
def model_approve(
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
) -> None:
    """Promote a challenger that the manual policy left waiting for approval."""
    with _ws() as ws:
        job = ws.automation.approve(name, version)
    render.line(_job_line(job))


@model_app.command("history", short_help="The audit trail of alias moves.")
def model_history(name: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
    """The audit trail of alias moves: what, who, when, why, which evaluation."""
    with _ws() as ws:
        events = ws.models.history(name)
    if as_json:
        render.print_json(events)
        return
    render.table(
        f"history of {name}",
        ["when", "alias", "from", "to", "action", "who", "why", "evaluation"],
        [
            [
                render.when(e["at"]),
                e["alias"],
                e["from_version"],
                e["to_version"],
                e["action"],
                e["who"],
                e["why"],
                e["evaluation_id"],
            ]
            for e in events
        ],
    )


# -- serving -----------------------------------------------------------------------------


@app.command(short_help="Serve a model alias over HTTP.")
def serve(
    ref: Annotated[
        str, typer.Argument(metavar="NAME@ALIAS", help="Model alias (or version) to serve.")
    ],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between checks of the alias.")
    ] = 1.0,
) -> None:
    """Serve a model alias over HTTP: /predict, Open Inference Protocol v2, /metrics."""
    import os
    import shutil
    import tempfile

    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        from rung.core.errors import RungError

        raise RungError("serving needs FastAPI and uvicorn", "pip install 'rung[serve]'") from exc
    with _ws() as ws:
        version = ws.models.get(ref)  # fail here, in one line, if the alias does not exist
        root = str(ws.root)
    os.environ.update(RUNG_SERVE_ROOT=root, RUNG_SERVE_REF=ref, RUNG_SERVE_POLL=str(poll))
    shared = None
    if workers > 1:  # one /metrics for all workers: prometheus-client's multiprocess mode
        shared = tempfile.mkdtemp(prefix="rung-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
    render.line(f"serving {ref} (version {version.version}) on http://{host}:{port}", sys.stderr)
    try:
        uvicorn.run(
            "rung.cli.serve_app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    finally:
        if shared:
            shutil.rmtree(shared, ignore_errors=True)


@app.command(short_help="Score a file with a registered version.")
def predict(
    ref: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="Model alias or version.")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet to score.")],
    output_file: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet to write.")],
    chunk: Annotated[int, typer.Option("--chunk", help="Rows per chunk.")] = 50_000,
) -> None:
    """Score a file in chunks with a registered version; logged like the service."""
    from rung.serving.batch import score_file

    bar: Any = None
    if sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(console=render.err)
        bar.start()
        task = bar.add_task("scoring", total=None)

    def step(done: int, total: int) -> None:
        if bar is not None:
            bar.update(task, completed=done, total=total)

    try:
        with _ws() as ws:
            summary = score_file(ws, ref, input_file, output_file, chunk, step)
    finally:
        if bar is not None:
            bar.stop()
    render.line(
        f"scored {summary['rows']} rows with {summary['model']} → {summary['output']}"
        f" ({len(summary['request_ids'])} chunk(s) logged)"
    )


# -- entry point -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn rung's errors into one-line messages."""
    import click

    from rung.core.errors import RungError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:  # accepted anywhere on the line, handed to the app as its global option
        args = ["--debug", *[a for a in args if a != "--debug"]]
    try:
        code = app(args=args, prog_name="rung", standalone_mode=False)
    except RungError as exc:
        if debug:
            raise
        hint = f" — {exc.hint}" if exc.hint else ""
        render.line(f"error: {exc.message}{hint}", sys.stderr)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        render.err.print("aborted")
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        render.err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
