"""``rung model``: the registry's versions, aliases and promotions."""

import sys
from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _fmt, _ws, model_app
from rung.cli.automate import _job_line
from rung.core.limits import MAX_ID


@model_app.command("register")
def model_register(
    source: Annotated[
        str, typer.Argument(metavar="RUN_OR_ARTIFACT", help="Run id, RUN:STEP.OUTPUT or hash.")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name.")],
    allow_pickle: Annotated[
        bool,
        typer.Option(
            "--allow-pickle",
            help="Opt in to a model that can run code when loaded (pickle, or skops types"
            " outside rung's trusted list); recorded on the version.",
        ),
    ] = False,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="For a model fitted on an array: its input columns in the order it was fitted"
            " on, separated by commas (a,b,c; only commas separate: spaces are part of a"
            " name); checked against the training step's input columns when known.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model artifact as the next version of NAME."""
    stated = None if features is None else features.split(",")
    with _ws() as ws:
        v = ws.models.register(source, name, allow_pickle=allow_pickle, features=stated)
    if as_json:
        render.print_json(v.to_dict())
        return
    sig = v.signature or {}
    feats = len(sig.get("features", []))
    named = {"user": " (names as stated with --features)"}.get(sig.get("names") or "", "")
    render.line(
        f"Registered {v.ref} from {v.source} ({v.hash[:12]}), trained on "
        f"{', '.join(v.datasets) or 'no recorded dataset'}, signature of {feats} feature(s)" + named
    )
    from rung.serving.predictor import unchecked_features

    unchecked = unchecked_features(sig)
    if feats and unchecked:
        render.line(
            f"warning: {v.ref} records no column kinds for {len(unchecked)} of its {feats}"
            f" feature(s) ({', '.join(unchecked[:5])}{', …' if len(unchecked) > 5 else ''}):"
            " its training step read no frame rung could trace, so serve and predict can only"
            " check that each value is present and single — train it from a step that"
            " receives the training frame (e.g. from rung.dataset) to record them",
            sys.stderr,
        )
    if not feats:
        from rung.registry.models import fix_unnamed

        n = sig.get("n_features")
        seen = sig.get("lineage_columns")
        render.line(
            f"warning: {v.ref} was fitted without column names"
            + (f" on {n} column(s)" if n else "")
            + ", so rung cannot know their order"
            + (f" (its training step's input had {', '.join(seen[:8])})" if seen else "")
            + ": eval, serve, predict and monitor refuse it — "
            + fix_unnamed(v.name),
            sys.stderr,
        )


@model_app.command("list", short_help="List model versions and their aliases.")
def model_list(as_json: JsonOpt = False) -> None:
    """List registered model versions with their aliases and verdict (from the evaluation
    against the project's acceptance criteria; `rung model show` says which)."""
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
                _verdict(v),
                v.source,
                ", ".join(v.datasets),
                v.hash[:12],
                render.when(v.created_at),
            ]
            for v in versions
        ],
        empty="no registered models yet — register a run's model with"
        " `rung model register RUN --name NAME`",
    )


def _verdict(v: Any) -> str:
    """``passed (eval 4)``, ``failed (eval 5)``, ``-`` (none yet), ``no criteria``."""
    if not (v.gate or {}).get("criteria"):
        return "no criteria"
    return f"{v.verdict} (eval {v.evaluation_id})" if v.evaluation_id else "-"


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
    if v.allow_pickle:
        o.print("  loading   may run code: registered with --allow-pickle")
    gate = v.gate or {}
    if not gate.get("criteria"):
        o.print(
            "  verdict   none: the project declares no acceptance criteria"
            " (set criteria under [eval] in rung.toml)",
            markup=False,
        )
    else:
        o.print(
            f"  verdict   {v.verdict or 'none'}"
            + (
                f" (evaluation {v.evaluation_id}, on {', '.join(gate.get('evaluated_on', []))})"
                if v.evaluation_id
                else ": no evaluation against the acceptance criteria yet"
            ),
            markup=False,
        )
        o.print(
            f"  criteria  {'; '.join(gate['criteria'])} ({gate.get('declared_in')})", markup=False
        )
        if gate.get("datasets"):
            o.print(f"  on        {', '.join(gate['datasets'])}", markup=False)
    if v.metrics:
        o.print("  metrics   " + ", ".join(f"{k}={_fmt(x)}" for k, x in v.metrics.items()))
    sig = v.signature or {}
    rows = [
        [
            f,
            c.get("kind", "-") + (f" ({c['timezone']})" if c.get("timezone") else ""),
            c.get("dtype", "-") + (" nullable" if c.get("nullable") else ""),
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
    version: Annotated[int, typer.Argument(min=1, max=MAX_ID)],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Promote despite a failed or missing verdict, or the loop's rejection.",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (required with --force).")
    ] = None,
) -> None:
    """Point ALIAS at VERSION; refused unless its evaluation against the project's acceptance
    criteria passed and the automation did not reject it for ALIAS (or --force --reason,
    recorded)."""
    with _ws() as ws:
        event = ws.models.promote(name, version, alias, force=force, reason=reason)
    before = f" (was {event['from_version']})" if event["from_version"] else ""
    render.line(f"{name}@{alias} → version {event['to_version']}{before} [{event['action']}]")


@model_app.command("rollback", short_help="Move an alias back to its previous version.")
def model_rollback(
    name: Annotated[str, typer.Argument()],
    alias: Annotated[str, typer.Option("--alias")] = "champion",
    force: Annotated[
        bool,
        typer.Option("--force", help="Roll back onto a version that does not pass the gate."),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (required with --force).")
    ] = None,
) -> None:
    """Move ALIAS back to the version it pointed at before its last move; gated like promote."""
    with _ws() as ws:
        event = ws.models.rollback(name, alias, reason, force=force)
    render.line(
        f"{name}@{alias} → version {event['to_version']} (was {event['from_version']})"
        f" [{event['action']}]"
    )


@model_app.command("approve", short_help="Promote a challenger waiting for approval.")
def model_approve(
    name: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument(min=1, max=MAX_ID)],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Approve a challenger the policy rejected, or one compared with another"
            " champion than the one serving now (needs --reason).",
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; recorded in the job and the alias event.")
    ] = None,
) -> None:
    """Promote a challenger that the manual policy left waiting for approval; with --force
    --reason, one that the policy rejected, or one whose job compared it with another version
    than the alias points at now (refused without: the evidence is stale). Who approved, why and whether it was forced are
    recorded in the job (`rung automate history`) and the alias event (`rung model history`)."""
    with _ws() as ws:
        job = ws.automation_of(name).approve(name, version, force=force, reason=reason)
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
        empty=f"no alias of {name} has moved yet — promote a version with"
        f" `rung model promote {name} VERSION`",
    )


# -- serving -----------------------------------------------------------------------------
