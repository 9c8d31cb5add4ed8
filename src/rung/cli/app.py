"""The ``rung`` command tree: the Typer apps every command module registers on, and their
shared helpers. The commands live by rung: ``data``, ``runs``, ``evaluate``, ``models``,
``monitor``, ``automate``, ``serve``; ``main`` wires them and turns errors into one line.
"""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from rung.cli import render

if TYPE_CHECKING:
    from rung.workspace import Workspace

app = typer.Typer(
    help="rung — MLOps one rung at a time: versioned data, cached pipelines, validation, lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from rung import __version__

        render.line(f"rung {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """rung — MLOps one rung at a time: versioned data, cached pipelines, validation, lineage."""


app.add_typer(data_app, name="data")
model_app = typer.Typer(
    help="The model registry: versions, aliases, promotions.", no_args_is_help=True
)
app.add_typer(model_app, name="model")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _ws() -> "Workspace":
    """Open the workspace of the current folder (or RUNG_WORKSPACE)."""
    from rung.workspace import Workspace

    return Workspace.open()


# -- workspace ---------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "-" if v is None else str(v)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"
