"""``rung``: every command opens the workspace, calls one method, renders the result.

Errors that rung raises on purpose print as one line, ``error: <what> — <fix>``, and exit
non-zero; ``--debug`` shows the traceback instead. The commands live in one module per rung;
importing them registers them on ``app``.
"""

import importlib
import sys
from typing import Any, NoReturn

from rung.cli import render
from rung.cli.app import app

# One module per rung, imported in the order `rung --help` lists their commands.
for _module in (
    "data",
    "runs",
    "evaluate",
    "models",
    "monitor",
    "automate",
    "serve",
    "ui",
    "tokens",
    "maintenance",
):
    importlib.import_module(f"rung.cli.{_module}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn rung's errors into one-line messages.

    Called with ``argv`` (in-process, as tests do) it ends by raising :class:`SystemExit`;
    called as the ``rung`` executable (``argv`` None) it ends the process by :func:`leave`.
    """
    code = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        leave(code)
    sys.exit(code)


def _run(args: list[str]) -> int:
    """The exit code of one command line; a bug (or anything under ``--debug``) raises."""
    import click

    from rung.core.errors import RungError

    render.line_buffered()  # every line reaches a file or pipe when printed (a kill loses none)
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
        return exc.exit_code
    except click.exceptions.Abort:
        render.err.print("aborted")
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `rung data`: the group's help
        exc.show()
        return exc.exit_code
    except click.exceptions.UsageError as exc:
        if debug:
            raise
        render.line(f"error: {usage_error(exc, args)}", sys.stderr)
        return exc.exit_code
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        render.err.print("interrupted")
        return 130
    except Exception as exc:
        # a failure of the machine beneath rung (a full disk, a database file that is not
        # one, an optional dependency not installed): one line too. Anything else is a bug
        # and keeps its traceback.
        from rung.workspace import explain

        error = explain(exc)
        if error is None or debug:
            raise
        hint = f" — {error.hint}" if error.hint else ""
        render.line(f"error: {error.message}{hint}", sys.stderr)
        return error.exit_code
    return code if isinstance(code, int) else 0


def usage_error(exc: Any, args: list[str]) -> str:
    """A click usage mistake (an unknown option, an extra argument, a value out of range) as
    rung's one line, ``<what> — <fix>`` (click's own message, then where to read the usage),
    instead of click's usage block. Extra arguments after ``-f``/``--filter`` are a filter the
    shell split at its spaces (``-f status = "failed"``): the fix says to quote it whole."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "rung"
    extra = message.startswith("Got unexpected extra argument")
    if extra and any(a in ("-f", "--filter") or a.startswith("--filter=") for a in args):
        from rung.core.query import SHELL_QUOTING

        left = message.partition("(")[2].rstrip(")")
        return f"the shell split the filter into words ({left!r} left over) — {SHELL_QUOTING}"
    return f"{message} — see `{path} --help`"


def leave(code: int) -> NoReturn:
    """End the ``rung`` process with ``code`` once its work is done and written.

    Python's own exit is followed by the C++ static destructors of the native libraries
    loaded; Arrow's thread pools, once used to read or write Parquet, can then abort the
    process with "terminate called without an active exception" (exit -6/134) after the
    command has succeeded or printed its error (apache/arrow#34314, open; seen here in about
    one ``rung`` process in 200 under load). When Arrow is loaded, rung therefore does what
    Python's exit does that matters — waits for non-daemon threads, runs the ``atexit``
    handlers (the access log's writer, ``logging``'s flush), flushes standard output and
    error — and ends with :func:`os._exit`, skipping only the native destructors. Committed
    metadata and published artifacts are durable before this point by construction (the
    same holds for a ``kill -9``).
    """
    if "pyarrow" not in sys.modules:
        sys.exit(code)
    import atexit
    import contextlib
    import os
    import threading

    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (``rung runs | head``): nothing more can be written anyway
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
