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


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Only this automated model (default: every model [automate] configures).",
    ),
]


def _loops(ws: Any, model: str | None) -> list[Any]:
    """The loops to act on: the one named, else every configured model's (by name)."""
    if model is not None:
        return [ws.automation_of(model)]
    loops = ws.automations
    if not loops:
        ws.automation.require()  # says what to configure
    return [loops[name] for name in sorted(loops)]


@automate_app.command("tick", short_help="Check every trigger once; carry a job through.")
def automate_tick(model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """Check every trigger once; carry a fired one (or an unfinished job) through run,
    evaluation, decision and promotion — for each automated model in turn. Safe from cron:
    idempotent, one tick per model at a time. Exit 1 when a job failed (no alias moved)."""
    from rung.automation.loop import tick_each

    with _ws() as ws:
        loops = _loops(ws, model)
        for loop in loops:
            loop.require()
        named = len(loops) > 1
        # each line is printed as soon as what it says is committed (a tick killed in its
        # pipeline run has said what fired and which job started); --json prints once
        events = None if as_json else (lambda e: _print_event(e, named))
        if len(loops) == 1:  # one model: its error is the command's (one line, exit code)
            report = None if events is None else (lambda e: events({"model": loops[0].model, **e}))
            outcomes = [{"model": loops[0].model, **loops[0].tick(report)}]
        else:  # several: one model's error does not stop the others' ticks
            outcomes = tick_each(loops, events)
    if as_json:
        render.print_json(outcomes[0] if len(outcomes) == 1 else outcomes)
    else:
        for outcome in outcomes:
            _print_tick(outcome, named)
    for outcome in outcomes:
        if outcome["status"] == "error":
            render.line(f"error: {outcome['model']}: {outcome['message']}", sys.stderr)
    if any(o["status"] in ("failed", "error") for o in outcomes):
        raise typer.Exit(1)


def _event_lines(event: dict[str, Any]) -> list[str]:
    """The lines of what a tick reports as it goes (:meth:`Automation.tick`'s ``report``)."""
    lines = [f"fired: {f['trigger']}: {f['reason']}" for f in event.get("fired", [])]
    lines += [_held_line(h) for h in event.get("held", [])]
    job: dict[str, Any] = event.get("job") or {}
    if event["event"] == "started":
        doing = "judging the live evidence" if _is_live(job) else "running the pipeline"
        lines.append(f"job {job['id']}: started, {doing}")
    elif event["event"] == "resuming":
        lines.append(f"job {job['id']}: resuming an unfinished job (state {job['state']})")
    return lines


def _print_event(event: dict[str, Any], named: bool, stamp: bool = False) -> None:
    head = (f"[{render.when(time.time())}] " if stamp else "") + (
        f"{event['model']}: " if named else ""
    )
    for text in _event_lines(event):
        render.line(head + text)


def _print_tick(outcome: dict[str, Any], named: bool = False) -> None:
    """The end of a tick: what became of its job, or why there is none (what fired and
    the job's start were printed as they happened)."""
    head = f"{outcome['model']}: " if named else ""
    status, job = outcome["status"], outcome.get("job")
    if status == "busy":
        render.line(head + outcome["message"])
    elif status == "deferred":
        for pending in outcome.get("pending", []):
            render.line(head + _pending_line(pending))
        render.line(head + outcome["message"])
    elif status == "idle":
        render.line(f"{head}no trigger fired")
    elif job is not None:
        render.line(head + _job_line(job, resumed=bool(outcome.get("resumed"))))
        if outcome.get("retry"):
            render.line(head + _retry_line(outcome["retry"]))


def _retry_line(retry: dict[str, Any]) -> str:
    """What a failed job left: its triggers pending, and when the next job retries them."""
    names = ", ".join(retry["triggers"]) or "its triggers"
    when = f"from {render.when(retry['at'])} ({retry['why']})" if retry.get("why") else "now"
    return f"pending again: {names} — the next tick retries {when}"


def _held_line(held: dict[str, Any]) -> str:
    return (
        f"held: {held['trigger']} ({held['streak']} of {held['debounce']} ticks in a row, the"
        f" debounce): {held['reason']}"
    )


def _pending_line(pending: dict[str, Any]) -> str:
    text = (
        f"pending since {render.when(pending['since'])}: {pending['trigger']}: {pending['reason']}"
    )
    if pending.get("job") is not None:
        text += f" — job {pending['job']} is acting on it"
    elif pending.get("failed"):
        text += f" — {pending['failed']}"
    return text


def _run_line(o: dict[str, Any]) -> str:
    """One line per tick of `rung automate run`."""
    if o["status"] in ("error", "busy", "deferred"):
        return str(o["message"])
    if o.get("job"):
        line = _job_line(o["job"], bool(o.get("resumed")))
        return line + (f"; {_retry_line(o['retry'])}" if o.get("retry") else "")
    return "no trigger fired"


def _job_line(job: dict[str, Any], resumed: bool = False) -> str:
    head = f"job {job['id']}{' (resumed)' if resumed else ''}: "
    if job["state"] == "skipped":
        return head + f"skipped: {job.get('error') or job['reason']}"
    if job["state"] == "failed":
        return head + f"FAILED: {job['error']} — the alias was not moved"
    what = {
        "promote": f"PROMOTED version {job['challenger']} to {job['alias']}",
        "approved": f"version {job['challenger']} approved and promoted to {job['alias']}",
        "await": f"version {job['challenger']} passed; waiting for `rung model approve"
        f" {job['model']} {job['challenger']}`",
        "reject": f"REJECTED version {job['challenger']}",
    }.get(job["decision"] or "", job["state"])
    live = (job.get("evidence") or {}).get("live") or {}
    source = f"live {live['mode']} evidence" if "mode" in live else f"run {job['run_id']}"
    return head + f"{source}, {what}: {_why(job)}"


def _why(job: dict[str, Any]) -> str:
    """The decision's reasons and the metrics that decided, in one line, nothing cut."""
    return "; ".join(_why_parts(job))


def _why_parts(job: dict[str, Any]) -> list[str]:
    """Every reason of the decision (:func:`rung.automation.jobs.why_parts`)."""
    from rung.automation.jobs import why_parts

    return why_parts(job)


@automate_app.command("run", short_help="Tick on an interval until stopped.")
def automate_run(
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval",
            help="Time between ticks: seconds (60) or a duration (5m); above 0, at most a day"
            " (default: automate.interval).",
        ),
    ] = None,
    ticks: Annotated[
        int | None, typer.Option("--ticks", min=1, max=MAX_ID, help="Stop after this many ticks.")
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Tick on an interval until stopped (Ctrl-C or SIGTERM end it between ticks); each
    round ticks every automated model in turn (or the one --model names). The interval
    defaults to the smallest of the models' `interval`."""
    import signal
    import threading

    from rung.automation.loop import run_each
    from rung.config import read_key

    # the key's own type and check, before anything opens or prints
    given = (
        None if interval is None else float(read_key("automate.interval", interval, "--interval"))
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with _ws() as ws:
        loops = _loops(ws, model)  # a bad [automate] section fails here, before the banner
        for loop in loops:
            loop.require()
        every = float(
            given
            if given is not None
            else min(float(lp.config.get("interval", 60)) for lp in loops)
        )
        named = len(loops) > 1
        render.line(f"automate: ticking every {every:g} s (Ctrl-C to stop)", sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            run_each(
                loops,
                every,
                stop,
                ticks,
                lambda o: render.line(
                    f"[{render.when(time.time())}] "
                    + (f"{o['model']}: " if named else "")
                    + _run_line(o)
                ),
                lambda e: _print_event(e, named, stamp=True),
            )


@automate_app.command("history", short_help="What fired, ran, was decided, and why.")
def automate_history(
    last: Annotated[int, typer.Option("--last", min=1, max=MAX_ID, help="How many jobs.")] = 50,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What fired, what ran, what was decided, and why — every model's jobs, newest last
    (or one model's with --model)."""
    with _ws() as ws:
        loops = [ws.automation_of(model)] if model is not None else list(ws.automations.values())
        jobs = sorted(
            (j for loop in (loops or [ws.automation]) for j in loop.history(last)),
            key=lambda j: j["id"],
        )[-last:]
        statuses = [(lp.model, lp.status()) for lp in loops if lp.model and lp.triggers]
    if as_json:
        render.print_json(jobs)
        return
    # fits 80 columns: the model only when several are listed, the champion and challenger
    # in one column (1→2), the time without year and seconds (the lines below say the rest)
    several = len({j["model"] for j in jobs}) > 1
    render.table(
        "continuous training",
        [
            "job",
            *(["model"] if several else []),
            "when (UTC)",
            "trigger",
            "run",
            "versions",
            "eval",
            "decision",
        ],
        [
            [
                j["id"],
                *([j["model"]] if several else []),
                time.strftime("%m-%d %H:%M", time.gmtime(j["created_at"])),
                j["trigger"],
                "live" if j["run_id"] is None and _is_live(j) else j["run_id"],
                f"{j['champion'] or '-'}→{j['challenger'] or '-'}",
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
        elif j["state"] == "skipped":
            render.line(f"  skipped: {j['error']}")
        elif j["evidence"] and j["decision"]:
            render.line(f"  {j['decision']}:")
            for part in _why_parts(j):
                render.line(f"    {part}")
    named = len(statuses) > 1
    for name, status in statuses:
        for t in status["triggers"]:
            if t["state"] == "pending":
                render.line(
                    (f"{name}: " if named else "")
                    + _pending_line(t)
                    + ("" if t.get("job") is not None else " — no job yet" + _waits_for(status))
                )


def _is_live(job: dict[str, Any]) -> bool:
    """A live trigger's job: it judged a served challenger, no run."""
    return bool((job.get("evidence") or {}).get("live"))


def _waits_for(status: dict[str, Any]) -> str:
    if status["unfinished"]:
        return f" (job {status['unfinished']['id']} is unfinished)"
    if status["cooldown_until"]:
        return f" ({_waiting_for(status)} ends {render.when(status['cooldown_until'])})"
    return ""


def _waiting_for(status: dict[str, Any]) -> str:
    return str(status.get("waiting_for") or "the cooldown")


@automate_app.command("status", short_help="The lease, the cooldown, pending triggers.")
def automate_status(model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """Where each model's loop stands: who holds the lease (and its fencing token), when the
    cooldown ends, the unfinished job the next tick resumes, and each trigger — pending
    (fired, waiting for a job), held (its condition held, not yet on `debounce` ticks in a
    row) or quiet."""
    with _ws() as ws:
        loops = _loops(ws, model)
        statuses = [(lp.model, lp.status()) for lp in loops]
    if as_json:
        render.print_json(
            statuses[0][1] if len(statuses) == 1 else [{"model": m, **st} for m, st in statuses]
        )
        return
    for name, status in statuses:
        if len(statuses) > 1:
            render.line(f"{name}:")
        _print_status(status)


def _print_status(status: dict[str, Any]) -> None:
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
    render.line(
        f"cooldown: until {render.when(until)} ({_waiting_for(status)})"
        if until
        else "cooldown: over"
    )
    job = status["unfinished"]
    if job:
        render.line(f"unfinished: job {job['id']} ({job['state']}): the next tick resumes it")
    for t in status["triggers"]:
        if t["state"] == "pending":
            render.line(_pending_line(t) + _waits_for(status))
        elif t["state"] == "held":
            render.line(_held_line(t))
        else:
            why = f": {t['why']}" if t.get("why") else ""
            render.line(f"quiet: {t['trigger']} ({t['kind']}){why}")
    for job in status.get("awaiting") or []:
        render.line(
            f"waiting for approval: version {job['challenger']} (job {job['id']}, "
            + (
                f"evaluation {job['evaluation_id']}"
                if job["evaluation_id"] is not None
                else "live evidence"
            )
            + (f", compared with version {job['champion']}" if job["champion"] else "")
            + f", decided {render.when(job['updated_at'])}): `rung model approve"
            f" {status['model']} {job['challenger']}`"
        )
