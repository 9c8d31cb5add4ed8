"""``rung ui``: the workspace in a browser (:mod:`rung.web`)."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from rung.cli import render
from rung.cli.app import _ws, app


@app.command(short_help="Browse the workspace in a web browser.")
def ui(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    tokens: Annotated[
        Path | None,
        typer.Option(
            "--tokens",
            help="Token file to accept, re-read every second (default: $RUNG_SERVE_TOKENS,"
            " else the workspace's).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Also accept this Host name (repeat; * for any)."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Serve a non-loopback --host without tokens.")
    ] = False,
) -> None:
    """Why each model is serving, in a browser: runs, comparison, lineage, datasets,
    evaluations, the registry, monitoring and automation, with a JSON API under /api/.

    Read-only; with tokens (`rung token create NAME --scope read`) every page needs one, and
    admin tokens may approve, promote and roll back. See docs/ui.md."""
    from rung.core.errors import require

    for module in ("uvicorn", "fastapi", "jinja2"):
        require(module, "rung ui runs")
    import uvicorn

    from rung.cli.serve import _Announcing, _protection
    from rung.web.app import create_app

    with _ws() as ws:
        protection = _protection(
            ws, host, tokens, allow_host or [], insecure, "read its runs, data and models", "read"
        )
        shown = f"[{host}]" if ":" in host else host
        _Announcing(
            uvicorn.Config(
                create_app(ws, protection),
                host=host,
                port=port,
                log_level="warning",
                server_header=False,
            ),
            f"rung ui for {ws.root} on http://{shown}:{{port}}",
        ).run()
    render.line("rung ui stopped", sys.stderr)
