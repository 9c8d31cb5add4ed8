"""``rung verify`` and ``rung gc``: check every stored byte, and sweep what nothing refers to."""

import sys
from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import JsonOpt, _ws, app


class _Bar:
    """A byte progress bar on a terminal (stderr); nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "hashing",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=render.err,
                transient=True,
            )
            self._bar.start()

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("hashing", total=total)
        self._bar.update(self._task, completed=done)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@app.command(short_help="Re-hash every stored object and check the database.")
def verify(as_json: JsonOpt = False) -> None:
    """Re-hash every object of the artifact store and check the metadata database.

    Each missing or corrupt object is listed with what refers to it (dataset versions and
    their files, runs and steps, model versions, evaluations). Exits 1 on any problem.
    """
    bar = _Bar(not as_json)
    with _ws() as ws:
        try:
            report = ws.verify(progress=bar)
        finally:
            bar.stop()
    if as_json:
        render.print_json(report.to_dict())
    else:
        for p in report.problems:
            render.line(f"{p.kind}: {p.message}")
            if p.path:
                render.line(f"  path         {p.path}")
            for r in p.referrers:
                render.line(f"  referred by  {r}")
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        render.line(
            f"verified {report.objects} objects ({render.size(report.bytes)}),"
            f" {report.referenced} referenced, database {report.database}"
            f" in {render.seconds(report.seconds)}: {verdict}"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command(short_help="Remove objects nothing refers to, and leftovers of killed writes.")
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option(
            "--grace", help="Keep anything younger than this: 90 (s), 30m, 6h, 1d (default)."
        ),
    ] = "1d",
    as_json: JsonOpt = False,
) -> None:
    """Sweep unreferenced objects older than the grace period, and .partial-* files of killed
    writes (a dead writer's at once, a live writer's never; see docs/maintenance.md).

    Live roots are every hash the metadata store refers to: dataset versions and their files,
    step inputs and outputs, run outputs, model versions, evaluations, monitor references.
    Safe while other processes write; two gcs never run at once. With ``[serve] retention``
    or ``max_log_rows`` in rung.toml, also deletes old prediction log records (see
    docs/maintenance.md for what is kept).
    """
    from rung.automation.triggers import parse_duration

    seconds = parse_duration(grace, "--grace")
    with _ws() as ws:
        report = ws.gc(dry_run=dry_run, grace=seconds)
    if as_json:
        render.print_json(report.to_dict())
        return
    verb = "would free" if report.dry_run else "freed"
    render.line(
        f"{verb} {render.size(report.bytes + report.partial_bytes)}:"
        f" {report.objects} unreferenced objects ({render.size(report.bytes)}),"
        f" {report.partials} stale .partial files ({render.size(report.partial_bytes)});"
        f" kept {report.kept_referenced} referenced and {report.kept_young} younger than {grace}"
    )
    if report.prediction_log_line:  # [serve] retention / max_log_rows
        render.line(report.prediction_log_line)
