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
    for held in outcome.get("held", []):
        render.line(_held_line(held))
    if status == "busy":
        render.line(outcome["message"])
    elif status == "deferred":
        for pending in outcome.get("pending", []):
            render.line(_pending_line(pending))
        render.line(outcome["message"])
    elif status == "idle":
        render.line("no trigger fired")
    elif job is not None:
        render.line(_job_line(job, resumed=bool(outcome.get("resumed"))))


def _held_line(held: dict[str, Any]) -> str:
    return (
        f"held: {held['trigger']} ({held['streak']} of {held['debounce']} ticks in a row, the"
        f" debounce): {held['reason']}"
    )


def _pending_line(pending: dict[str, Any]) -> str:
    return (
        f"pending since {render.when(pending['since'])}: {pending['trigger']}: {pending['reason']}"
    )


def _run_line(o: dict[str, Any]) -> str:
    """One line per tick of `rung automate run`."""
    if o["status"] in ("error", "busy", "deferred"):
        return str(o["message"])
    if o.get("job"):
        return _job_line(o["job"], bool(o.get("resumed")))
    held = o.get("held") or []
    return "no trigger fired" + (f" ({'; '.join(_held_line(h) for h in held)})" if held else "")


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
                lambda o: render.line(f"[{render.when(time.time())}] {_run_line(o)}"),
            )


@automate_app.command("history", short_help="What fired, ran, was decided, and why.")
def automate_history(
    last: Annotated[int, typer.Option("--last", min=1, max=MAX_ID, help="How many jobs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What fired, what ran, what was decided, and why."""
    with _ws() as ws:
        automation = ws.automation
        jobs = automation.history(last)
        status = automation.status() if automation.model and automation.triggers else None
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
            render.line(f"  {j['decision']}: {_why(j)}")
    for t in status["triggers"] if status else []:
        if t["state"] == "pending":
            render.line(_pending_line(t) + " — no job yet" + _waits_for(status or {}))


def _waits_for(status: dict[str, Any]) -> str:
    if status["unfinished"]:
        return f" (job {status['unfinished']['id']} is unfinished)"
    if status["cooldown_until"]:
        return f" (the cooldown ends {render.when(status['cooldown_until'])})"
    return ""


@automate_app.command("status", short_help="The lease, the cooldown, pending triggers.")
def automate_status(as_json: JsonOpt = False) -> None:
    """Where the loop stands: who holds the lease (and its fencing token), when the cooldown
    ends, the unfinished job the next tick resumes, and each trigger — pending (fired, waiting
    for a job), held (its condition held, not yet on `debounce` ticks in a row) or quiet."""
    with _ws() as ws:
        status = ws.automation.status()
    if as_json:
        render.print_json(status)
        return
    lease = status["lease"]
    if lease and lease["holder"]:
        render.line(
            f"lease: held by {lease['holder']} until {render.when(lease['expires_at'])}"
            f" (fencing token {lease['generation']})"
        )
    else:
        token = f" (last fencing token {lease['generation']})" if lease else ""
        render.line(f"lease: free{token}")
    until = status["cooldown_until"]
    render.line(f"cooldown: until {render.when(until)}" if until else "cooldown: over")
    job = status["unfinished"]
    if job:
        render.line(f"unfinished: job {job['id']} ({job['state']}): the next tick resumes it")
    for t in status["triggers"]:
        if t["state"] == "pending":
            render.line(_pending_line(t) + _waits_for(status))
        elif t["state"] == "held":
            render.line(_held_line(t))
        else:
            render.line(f"quiet: {t['trigger']} ({t['kind']})")
