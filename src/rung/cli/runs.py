"""``rung run``, ``runs``, ``show``, ``lineage``, ``reproduce``: pipelines and their runs."""

from typing import Annotated

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _fmt, _ws, app


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
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
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
