"""``rung eval`` and ``rung evals``: models on several datasets at once."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _ws, app
from rung.core.limits import MAX_ID


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
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Opt in to load a run's or hash's model that can run code (pickle, or skops"
            " types outside rung's trusted list); recorded on the evaluation.",
        ),
    ] = False,
) -> None:
    """Evaluate a model on several dataset versions at once: Table 2 and a verdict.

    Exits 1 when the verdict is failed, so CI can gate on it. `rung eval show ID` renders a
    recorded evaluation again (exit 0).
    """
    from rung.core.errors import InvalidInput

    note: str | None = None
    if fmt not in ("table", "markdown", "json", "html"):
        raise InvalidInput(f"unknown format {fmt!r}", "use table, markdown, json or html")
    from rung.config import check_criteria, read_key

    # each option mirroring a key of [eval] is read as that key is, before anything runs
    if label is not None:
        read_key("eval.label", label, "--label")
    if on:
        read_key("eval.datasets", list(on), "--on")
    if criterion:
        check_criteria(list(criterion), "--criterion")  # the CLI computes rung's metrics only
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
                allow_pickle=allow_pickle,
            )
            note = _gate_note(ws, model, ev.id)
    _render_eval(ev, fmt, output, column)
    if model != "show" and note and fmt == "table":
        render.out.print(note, markup=False)
    if ev.status == "failed" and model != "show":  # a new verdict gates; re-rendering does not
        raise typer.Exit(1)


def _gate_note(ws: Any, model: str, eval_id: int) -> str | None:
    """Whether evaluation ``eval_id`` of a registered version is now its verdict for the
    registry's gate, or only informs (see docs/registry.md, the gate)."""
    declared = ws.evals.declared(model)
    if declared is None:
        return None
    version = ws.models.get(model)
    if version.evaluation_id == eval_id:
        return f"gate: this is now the verdict of {version.ref} for promotion"
    if declared.digest is None:
        return (
            f"gate: informs only — the project declares no acceptance criteria, so {version.ref}"
            " cannot pass (declare them under [eval] in rung.toml)"
        )
    return (
        f"gate: informs only — not the project's acceptance criteria ({declared.describe()});"
        f" the verdict of {version.ref} stays {version.verdict or 'none'}"
        + (f" (evaluation {version.evaluation_id})" if version.evaluation_id else "")
    )


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
            ["dataset", "metric", "delta", "95% CI", "reading", "one-sided p"],
            [
                [
                    d["dataset"],
                    d["metric"],
                    f"{d['delta']:+.4f}",
                    f"[{d['low']:+.4f}, {d['high']:+.4f}]",
                    d["reading"],
                    report.p_text(d),
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
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ID)] = 20,
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
        empty="no evaluations yet — run one with `rung eval MODEL --on DATASET@V`",
    )


# -- registry ----------------------------------------------------------------------------
