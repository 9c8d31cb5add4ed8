"""``rung automate``: continuous training."""

import contextlib
import sys
import time
from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, RungGroup, _ws, app
from rung.core.limits import MAX_ID

automate_app = typer.Typer(
    cls=RungGroup,
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
    """The decision's reasons and the metrics that decided, in one line, nothing cut."""
    return "; ".join(_why_parts(job))


def _why_parts(job: dict[str, Any]) -> list[str]:
    """Every reason of the decision and every metric that decided it, in full: the failed
    criteria, the decisive and guardrail tests with their p-values, a person's approval."""
    evidence = job.get("evidence") or {}
    reasons = list(evidence.get("reasons") or [])
    parts = list(reasons)
    if not reasons:
        parts.append(f"evaluation {job['evaluation_id']} passed")
    decided_by = evidence.get("decided_by")
    if decided_by is None:  # a job decided before the policy recorded its tests
        parts += [f"significantly better: {b}" for b in evidence.get("better", [])]
    else:
        parts += [
            f"decided by {line}" for line in decided_by if not any(line in r for r in reasons)
        ]
    notes = evidence.get("notes") or []
    parts += [f"note: {n}" for n in notes]
    approval = evidence.get("approval")
    if approval:
        parts.append(
            f"approved by {approval['by']}"
            + (" (forced over the policy's rejection)" if approval.get("forced") else "")
            + (f": {approval['reason']}" if approval.get("reason") else "")
        )
    return parts


@automate_app.command("run", short_help="Tick on an interval until stopped.")
def automate_run(
    interval: Annotated[
        float | None, typer.Option("--interval", help="Seconds between ticks (default 60).")
    ] = None,
    ticks: Annotated[
        int | None, typer.Option("--ticks", min=1, max=MAX_ID, help="Stop after this many ticks.")
    ] = None,
) -> None:
    """Tick on an interval until stopped (Ctrl-C or SIGTERM end it between ticks)."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _ws() as ws:
        every = float(interval or ws.config.settings.automate.interval)
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
    last: Annotated[int, typer.Option("--last", min=1, max=MAX_ID, help="How many jobs.")] = 50,
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
        empty="no automation jobs yet — declare triggers under [automate] in rung.toml,"
        " then run `rung automate tick`",
    )
    for j in jobs:
        render.line(f"job {j['id']} fired: {j['reason']}")
        if j["state"] == "failed":
            render.line(f"  failed: {j['error']}; no alias moved")
        elif j["evidence"]:
            render.line(f"  {j['decision']}:")
            for part in _why_parts(j):
                render.line(f"    {part}")
