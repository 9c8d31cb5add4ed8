"""``rung``: every command opens the workspace, calls one method, renders the result.

Errors that rung raises on purpose print as one line, ``error: <what> — <fix>``, and exit
non-zero; ``--debug`` shows the traceback instead. The commands live in one module per rung;
importing them registers them on ``app``.
"""

import importlib
import sys

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
    "tokens",
    "maintenance",
):
    importlib.import_module(f"rung.cli.{_module}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn rung's errors into one-line messages."""
    import click

    from rung.core.errors import RungError

    render.line_buffered()  # every line reaches a file or pipe when printed (a kill loses none)
    args = list(sys.argv[1:] if argv is None else argv)
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
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        render.err.print("aborted")
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        render.err.print("interrupted")
        sys.exit(130)
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
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
