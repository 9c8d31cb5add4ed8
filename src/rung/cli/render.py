"""Terminal rendering for the CLI: tables, trees, sizes, times, the live run display.

rich loads on first use (``out``, ``err``, tables, trees): a cached ``rung run`` in a script
or CI, which only prints plain lines, never pays for it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from rung.core.units import seconds, size  # noqa: F401 (the CLI formats with render.size)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree

    out: Console
    err: Console


def _width(stream: object) -> int | None:
    """Terminals report their width; pipes and CI logs get a wide page instead of 80 columns."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return None
    return int(os.environ.get("COLUMNS", "160"))


def __getattr__(name: str) -> Any:
    if name not in ("out", "err"):
        raise AttributeError(name)
    from rich.console import Console

    stream = sys.stderr if name == "err" else sys.stdout
    console = Console(stderr=name == "err", highlight=False, soft_wrap=True, width=_width(stream))
    globals()[name] = console
    return console


def line_buffered() -> None:
    """Make stdout and stderr flush at every newline, whatever they are connected to.

    Python buffers stdout in blocks when it is a file or a pipe (cron, ``> log``, ``| tee``),
    so a process killed mid-command lost every line it had printed since the last block —
    `rung automate tick` under cron left an empty log of a tick that had fired a trigger and
    started a job. Called once by the CLI's entry point, this covers every way a command
    writes (:func:`line`, rich's consoles, :func:`print_json`, a pipeline step's own
    ``print``), so no print needs its own flush."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a replaced stream (a test's capture) may not have it
            reconfigure(line_buffering=True)


def line(text: str, stream: Any = None) -> None:
    """A plain line, without rich, flushed at once."""
    (stream or sys.stdout).write(text + "\n")
    (stream or sys.stdout).flush()


def print_json(value: Any) -> None:
    """Strict JSON: a non-finite float (an infinite chi-squared, say) becomes a string."""
    try:
        text = json.dumps(value, indent=2, default=str, allow_nan=False)
    except ValueError:
        from rung.core.hashing import ordered_json

        text = json.dumps(json.loads(ordered_json(value)), indent=2, default=str)
    sys.stdout.write(text + "\n")


def when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def hint(text: str) -> None:
    """The one line a listing prints instead of an empty table: what to do next."""
    line(text)


def table(
    title: str | None,
    columns: list[str],
    rows: list[list[Any]],
    *,
    empty: str | None = None,
    keep_first: bool = False,
) -> None:
    """A table of ``rows``; with no rows and an ``empty`` hint, that hint line instead (every
    listing command passes one: "no datasets yet — add one with `rung data add …`").
    ``keep_first``: the first column (what each row is) is never cut short (up to 48
    characters) when the table is wider than the terminal; the others give way."""
    if not rows and empty is not None:
        hint(empty)
        return
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for i, c in enumerate(columns):
        if i == 0 and keep_first:
            widest = max([len(c), *(len(str(r[0])) for r in rows if r)])
            t.add_column(c, no_wrap=True, min_width=min(widest, 48))
        else:
            t.add_column(c)
    from rich.markup import escape

    from rung.core.text import printable

    for r in rows:  # stored text is shown as text: escaped controls, no rich markup
        t.add_row(*["-" if v is None else escape(printable(str(v))) for v in r])
    _console("out").print(t)


def tree(node: dict[str, Any]) -> None:
    from rich.tree import Tree

    root = Tree(_label(node))
    _grow(root, node)
    _console("out").print(root)


def _label(node: dict[str, Any]) -> str:
    label = str(node.get("label", node.get("name", "?")))
    step = node.get("step")
    if step:
        cached = (
            f", cached from run {step['cached_from_run']}" if step.get("cached_from_run") else ""
        )
        label += (
            f"  ← step [bold]{step['name']}[/] (run {step['run_id']}{cached};"
            f" code {step['code_hash'][:8]}: {', '.join(step['code'])})"
        )
        if step.get("params"):
            label += f" params {json.dumps(step['params'])}"
    if node.get("type") == "dataset":
        label = f"[green]{label}[/]"
    return label


def _grow(branch: Tree, node: dict[str, Any]) -> None:
    for child in node.get("children", []):
        _grow(branch.add(_label(child)), child)


def _console(name: str) -> Console:
    console: Console = __getattr__(name) if name not in globals() else globals()[name]
    return console


class LiveSteps:
    """Shows each step as it starts and ends: a spinner on a terminal, plain lines otherwise."""

    def __init__(self) -> None:
        self._status: Any = None
        self._tty = sys.stderr.isatty()

    def step_started(self, name: str) -> None:
        if self._tty:
            self._status = _console("err").status(f"[bold]{name}[/] …")
            self._status.start()

    def step_finished(self, name: str, outcome: str, secs: float) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if not self._tty:
            mark = {"executed": "✓", "cached": "○", "failed": "✗"}[outcome]
            line(f"  {mark} {name:<28} {outcome:<9} {seconds(secs):>8}", sys.stderr)
            return
        mark = {"executed": "[green]✓[/]", "cached": "[cyan]○[/]", "failed": "[red]✗[/]"}[outcome]
        _console("err").print(f"  {mark} {name:<28} {outcome:<9} {seconds(secs):>8}")

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
