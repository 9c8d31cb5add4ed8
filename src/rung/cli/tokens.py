"""``rung token create|list|revoke``: the API tokens every rung server accepts (see
:mod:`rung.core.tokens` and docs/security.md, "Serving securely")."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from rung.cli import render
from rung.cli.app import RungGroup, _ws, app

token_app = typer.Typer(
    cls=RungGroup,
    help="API tokens with scopes (read, predict, feedback, admin) for rung serve and rung ui.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


def _path(file: str | None) -> Path:
    from rung.core.tokens import FILE

    if file:
        return Path(file)
    with _ws() as ws:
        return ws.config.state_dir / FILE


@token_app.command("create", short_help="Make a token; print it once.")
def create(
    name: Annotated[str, typer.Argument(help="A name for who uses it, e.g. ci-bot.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", "-s", help="read, predict, feedback or admin; repeat for several."),
    ],
    file: Annotated[
        str | None,
        typer.Option("--file", help="Store it in this token file (default: the workspace's)."),
    ] = None,
) -> None:
    """Make a random token with the given scopes, print it on stdout (it is not shown again)
    and store only its SHA-256 in the token file, which `rung serve` follows: a server
    started with tokens from that file accepts the new one within a second."""
    from rung.core.errors import InvalidInput
    from rung.core.tokens import make, read_file, write_file

    path = _path(file)
    tokens = read_file(path)
    if any(t.name == name for t in tokens):
        raise InvalidInput(
            f"a token named {name!r} exists in {path}",
            f"choose another name, or rung token revoke {name} first",
        )
    secret, token = make(name, scope)
    write_file(path, [*tokens, token])
    sys.stdout.write(secret + "\n")
    render.line(
        f"token {name!r} ({', '.join(sorted(token.scopes))}) stored in {path}; it is shown"
        " only now — send it as Authorization: Bearer <token>",
        sys.stderr,
    )


@token_app.command("list", short_help="The tokens' names and scopes.")
def list_(
    file: Annotated[
        str | None, typer.Option("--file", help="This token file (default: the workspace's).")
    ] = None,
) -> None:
    """Each token's name and scopes (never a secret: only digests are stored)."""
    from rung.core.tokens import SCOPES, read_file

    tokens = read_file(_path(file))
    if not tokens:
        render.line("no tokens (rung serve answers on loopback only, without them)")
    for t in tokens:
        render.line(f"{t.name}\t{','.join(s for s in SCOPES if s in t.scopes)}")


@token_app.command("revoke", short_help="Remove a token.")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    file: Annotated[
        str | None, typer.Option("--file", help="This token file (default: the workspace's).")
    ] = None,
) -> None:
    """Remove the token named NAME; servers that read this token file refuse it within a
    second, without a restart (servers given RUNG_SERVE_TOKENS keep theirs until restarted)."""
    from rung.core.errors import NotFound
    from rung.core.tokens import REFRESH_SECONDS, read_file, write_file

    path = _path(file)
    tokens = read_file(path)
    kept = [t for t in tokens if t.name != name]
    if len(kept) == len(tokens):
        raise NotFound(
            f"no token named {name!r} in {path}",
            "rung token list shows the names",
        )
    write_file(path, kept)
    render.line(
        f"token {name!r} revoked: servers reading {path} refuse it within {REFRESH_SECONDS:g} s"
    )
