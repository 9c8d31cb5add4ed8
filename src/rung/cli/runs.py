"""``rung run``, ``runs``, ``show``, ``lineage``, ``reproduce``: pipelines and their runs."""

from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _fmt, _ws, app
from rung.core.limits import MAX_ID


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
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_ID, help="How many runs, newest first.")
    ] = 20,
    name: Annotated[
        str | None, typer.Option("--name", help="Only runs of this pipeline or tracking run.")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Comma-separated metrics and parameters to show (default: the main metrics"
            " and the parameters that vary).",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            help="Only the runs this selects, e.g. 'metrics.accuracy > 0.9 and params.C in"
            ' (0.1, 1) and status = "succeeded"\' (see docs/pipelines.md#filtering-runs);'
            " repeated, the runs every one selects.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent runs with their main metrics and the parameters that vary between them."""
    with _ws() as ws:
        items = ws.runs.list(limit, name, where or None)
        hints = ws.runs.filter_hints(where) if where and not items and not as_json else []
    if as_json:
        render.print_json([r.to_dict() for r in items])
        return
    if not items:
        shown = " and ".join(map(repr, where or []))
        render.hint(
            f"no run matches the filter{'s' if len(where or []) > 1 else ''} {shown}"
            if where
            else "no runs yet — run a pipeline with `rung run FILE.py:PIPELINE`"
            if name is None
            else f"no runs named {name!r} yet"
        )
        for line in hints:
            render.hint(line)
        return
    if columns is not None:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        known = {k for r in items for k in (*r.metrics, *r.params)}
        for c in wanted:
            if c not in known:
                from rung.core.suggest import unknown

                raise unknown(
                    "column",
                    c,
                    known,
                    "name metrics or parameters of the listed runs (see `rung show RUN`)",
                    message=f"no listed run has a metric or parameter {c!r}",
                )
        metrics = [c for c in wanted if any(c in r.metrics for r in items)]
        params = [c for c in wanted if c not in metrics]
    else:
        from rung.pipelines.history import worth_columns

        metrics, params = worth_columns(items)
    render.table(
        None,
        ["run", "name", "status", *metrics, *params, "steps", "cached", "started", "took"],
        [
            [
                r.id,
                r.name,
                r.status,
                *[_fmt(r.metrics.get(m)) for m in metrics],
                *[_fmt(r.params.get(p)) for p in params],
                r.steps,
                r.cached,
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


@app.command(short_help="Runs side by side: what differs between them.")
def compare(
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN RUN...", help="Two or more run ids.")
    ],
    show_all: Annotated[
        bool, typer.Option("--all", help="Every field, not only those that differ.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs: parameters, metrics, code, data read, environment and steps' cache, one
    column per run — by default only the fields whose values differ."""
    with _ws() as ws:
        got = ws.runs.compare(run_ids, only_differences=not show_all)
    if as_json:
        render.print_json(got)
        return
    rows = got["rows"]
    runs = got["runs"]
    if not rows:
        render.line(f"runs {', '.join(map(str, runs))}: no field differs")
        return

    def shown(key: str, v: object) -> str:
        if v is None:
            return "—"
        if key == "started_at" and isinstance(v, int | float):
            return render.when(float(v))
        if key == "hash" and isinstance(v, str):
            return v[:12]
        return _fmt(v) if isinstance(v, float) else str(v)

    header = ["field", *[f"run {r}" for r in runs]]
    cells = [
        [
            f"{r['section']}.{r['key']}" if r["section"] != "run" else r["key"],
            *(shown(r["key"], v) for v in r["values"]),
        ]
        for r in rows
    ]
    render.table(
        f"runs {', '.join(map(str, runs))}" + ("" if show_all else " — fields that differ"),
        header,
        cells,
        keep_first=True,
    )
    # a column per run: past the terminal's width, values are cut short — say where they
    # are whole (rich pads each column with a space either side and draws one rule between)
    needed = sum(max(len(c) for c in column) + 3 for column in zip(header, *cells, strict=True))
    width = render.out.width
    if needed > width:
        render.hint(
            f"{len(runs)} runs need {needed} columns, the terminal has {width}: values are cut"
            " short — `--json` holds them whole, or compare fewer runs"
        )


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


@app.command(short_help="Re-execute a run as recorded, compare, explain.")
def reproduce(
    run_id: Annotated[str, typer.Argument(metavar="RUN")],
    as_json: JsonOpt = False,
) -> None:
    """Re-execute a run without the cache, pinned to the parameters and dataset versions it
    recorded; report whether outputs and metrics match, and why the first step that differs
    does (code, data, parameters, environment, or none of these). Exits 1 on a difference."""
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
        _print_reproduction(report)
    if not report["reproduced"]:
        raise typer.Exit(1)


def _print_reproduction(report: dict[str, Any]) -> None:
    o = render.out
    pinned = report["pinned"]
    if pinned["datasets"]:
        read = ", ".join(f"{n} → {ref}" for n, ref in pinned["datasets"].items())
        o.print(f"pinned datasets (as run {report['original']} read them): {read}", markup=False)
    if pinned["not_recorded"]:
        names = ", ".join(pinned["not_recorded"])
        o.print(f"parameters run {report['original']} did not record (defaults used): {names}")
    if pinned["dropped"]:
        names = ", ".join(pinned["dropped"])
        o.print(f"recorded parameters the pipeline no longer has (not passed): {names}")
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
    first = report["diverged"]
    if first is not None:
        what = [f"outputs {', '.join(first['outputs'])}"] if first.get("outputs") else []
        what += [f"metrics {', '.join(first['metrics'])}"] if first.get("metrics") else []
        detail = f" ({'; '.join(what)})" if what else ""
        o.print(f"first difference: step {first['step']}{detail}", markup=False)
        if first.get("error"):
            o.print(f"  it failed: {first['error']}", markup=False)
        for cause in first["causes"]:
            o.print(f"  {cause['text']}", markup=False)
        if report["later"]:
            o.print(f"  later steps that differ too: {', '.join(report['later'])}", markup=False)
    verdict = "reproduced exactly" if report["reproduced"] else "did NOT reproduce"
    o.print(f"run {report['reproduction']} re-executed run {report['original']}: {verdict}")
