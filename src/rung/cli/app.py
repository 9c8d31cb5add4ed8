"""The ``rung`` command tree: the Typer apps every command module registers on, and their
shared helpers. The commands live by rung: ``data``, ``runs``, ``evaluate``, ``models``,
``monitor``, ``automate``, ``serve``; ``main`` wires them and turns errors into one line.
"""

from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from rung.cli import render

if TYPE_CHECKING:
    from rung.workspace import Workspace


def _option_names(command: click.Command) -> list[str]:
    return [
        o for p in command.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts
    ]


class AsciiIntRange(click.IntRange):
    """click's ``IntRange`` reading ASCII digits only (an optional leading ``-``).

    Python's ``int()`` accepts every Unicode decimal digit (``"١"`` is 1), spaces and
    underscores; rung reads one spelling per number (:func:`rung.core.limits.is_digits`,
    docs/limits.md), so ``-n ١`` is refused like ``rung show ١``. A range without a bound is
    bounded by :data:`rung.core.limits.MAX_ID` and its negative.
    """

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            from rung.core.limits import is_digits

            body = value[1:] if value.startswith("-") else value
            if not is_digits(body) or len(body) > 40:
                self.fail(
                    f"{value!r} is not a whole number written with the digits 0-9", param, ctx
                )
        return super().convert(value, param, ctx)


class AsciiFloatRange(click.FloatRange):
    """click's ``FloatRange`` reading ASCII text only, and finite numbers only.

    ``float()`` reads Unicode digits (``"١.٥"``) and ``nan``/``inf``; rung reads neither."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.isascii():
            self.fail(f"{value!r} is not a number written with the digits 0-9", param, ctx)
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), -float("inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def ascii_ints(command: click.Command) -> None:
    """Give every integer option and argument of ``command`` and its subcommands an
    :class:`AsciiIntRange` keeping its range, and every float one an :class:`AsciiFloatRange`.
    Run once on the whole tree when it is built (by :class:`RungGroup`), so a new command is
    covered without a line of its own."""
    from rung.core.limits import MAX_ID

    for param in command.params:
        kind = param.type
        if isinstance(kind, click.types.IntParamType) and not isinstance(kind, AsciiIntRange):
            if isinstance(kind, click.IntRange):
                low, high = kind.min, kind.max
                opens, clamp = (kind.min_open, kind.max_open), kind.clamp
            else:
                low, high, opens, clamp = None, None, (False, False), False
            param.type = AsciiIntRange(
                -MAX_ID if low is None else low,
                MAX_ID if high is None else high,
                min_open=opens[0],
                max_open=opens[1],
                clamp=clamp,
            )
        elif isinstance(kind, click.types.FloatParamType) and not isinstance(kind, AsciiFloatRange):
            r = kind if isinstance(kind, click.FloatRange) else click.FloatRange()
            param.type = AsciiFloatRange(
                r.min, r.max, min_open=r.min_open, max_open=r.max_open, clamp=r.clamp
            )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            ascii_ints(sub)


class RungGroup(TyperGroup):
    """Every ``rung`` command group: a mistyped command or option is answered with the
    nearest names (:func:`rung.core.suggest.closest`, the same rule as every unknown dataset,
    model or alias), or with the list of valid ones when none is near. Its integer options
    and arguments read ASCII digits only (:func:`ascii_ints`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ascii_ints(self)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return click.Group.resolve_command(self, ctx, args)
        except click.UsageError as exc:
            if args and not args[0].startswith("-") and args[0] not in self.commands:
                message = _unknown_name("command", args[0], self.list_commands(ctx))
                raise click.UsageError(message, exc.ctx or ctx) from None
            raise

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise _suggest_option(exc, self) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:  # raised while a subcommand parsed its options
            raise _suggest_option(exc, exc.ctx.command if exc.ctx else self) from None


def _unknown_name(what: str, word: str, known: list[str]) -> str:
    from rung.core.suggest import closest

    near = closest(word, known)
    if near:
        return f"No such {what} {word!r}. Did you mean {' or '.join(map(repr, near))}?"
    return f"No such {what} {word!r}. Valid {what}s: {', '.join(known)}."


class _UnknownOption(click.NoSuchOption):
    """click's "No such option", its message carrying rung's suggestion (built once)."""


def _suggest_option(exc: click.NoSuchOption, command: click.Command) -> click.NoSuchOption:
    if isinstance(exc, _UnknownOption):
        return exc
    message = _unknown_name("option", exc.option_name, _option_names(command))
    return _UnknownOption(exc.option_name, message, ctx=exc.ctx)


app = typer.Typer(
    cls=RungGroup,
    help="rung — MLOps one rung at a time: versioned data, cached pipelines, validation, lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(cls=RungGroup, help="Versioned datasets.", no_args_is_help=True)


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
    cls=RungGroup, help="The model registry: versions, aliases, promotions.", no_args_is_help=True
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
