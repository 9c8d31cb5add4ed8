"""``rung serve``, ``rung predict`` and ``rung feedback``: online and batch scoring, and the
labels that come back for them."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rung.cli import render
from rung.cli.app import _ws, app
from rung.core.limits import MAX_ID


@app.command(short_help="Serve model aliases over HTTP.")
def serve(
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME@ALIAS...",
            help="Model alias (or version) to serve; several: each under its own name.",
        ),
    ],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=256, help="Worker processes.")
    ] = 1,
    poll: Annotated[
        float,
        typer.Option("--poll", min=0.05, max=86400, help="Seconds between checks of the alias."),
    ] = 1.0,
    tokens: Annotated[
        Path | None,
        typer.Option(
            "--tokens",
            help="Token file to accept, re-read every second while serving (default:"
            " $RUNG_SERVE_TOKENS, else the workspace's).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Also accept this Host name (repeat; * for any)."),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            "--header-timeout",
            min=0.1,
            max=3600,
            help="Seconds a connection may take to send its headers ([serve] header_timeout).",
        ),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(
            "--body-timeout",
            min=0.1,
            max=3600,
            help="Seconds a request's body may send nothing before a 408 ([serve] body_timeout).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Serve a non-loopback --host without tokens."),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log", help="One line per request on stderr (default on)."
        ),
    ] = True,
    shadow: Annotated[
        list[str] | None,
        typer.Option(
            "--shadow",
            metavar="NAME@ALIAS[=SHARE%]",
            help="A challenger that also predicts every request (or the share), off the"
            " request path, logged as a shadow prediction; clients see only the answer.",
        ),
    ] = None,
    canary: Annotated[
        list[str] | None,
        typer.Option(
            "--canary",
            metavar="NAME@ALIAS=SHARE%",
            help="A challenger that answers that share of requests (stable hash of"
            " X-Canary-Key, else the request id).",
        ),
    ] = None,
) -> None:
    """Serve model aliases over HTTP: /predict, Open Inference Protocol v2, /metrics; with
    challengers in shadow (--shadow) or as a canary (--canary).

    With tokens (`rung token create`), every route but the health checks needs one; without
    them the service binds loopback only. See docs/security.md, "Serving securely"."""
    import json
    import os
    import shutil
    import tempfile

    from rung.core.errors import require

    for module in ("uvicorn", "fastapi"):
        require(module, "serving runs")
    import uvicorn

    from rung.serving.connections import H11_LIMIT, PROTOCOL
    from rung.serving.fleet import Challenger

    shadows, canaries = list(shadow or []), list(canary or [])
    challengers = [Challenger.parse(t, "--shadow", required=False).ref for t in shadows]
    challengers += [Challenger.parse(t, "--canary", required=True).ref for t in canaries]
    with _ws() as ws:
        protection = _protection(ws, host, tokens, allow_host or [], insecure)
        # fail here, in one line, if an alias does not exist or its model is not trusted
        versions = [ws.models.check_loadable(ref) for ref in refs]
        for ref in challengers:
            ws.models.check_loadable(ref)
        root = str(ws.root)
        settings = ws.config.settings.serve
    ref = refs[0]
    timeout = header_timeout if header_timeout is not None else float(settings.header_timeout)
    os.environ.update(
        RUNG_SERVE_ROOT=root,
        RUNG_SERVE_REF=ref,
        RUNG_SERVE_REFS=json.dumps(refs),
        RUNG_SERVE_SHADOW=json.dumps(shadows),
        RUNG_SERVE_CANARY=json.dumps(canaries),
        RUNG_SERVE_POLL=str(poll),
        RUNG_SERVE_ACCESS_LOG="1" if access_log else "0",
    )
    body = body_timeout if body_timeout is not None else float(settings.body_timeout)
    os.environ.update(
        protection.to_env(),
        RUNG_SERVE_HEADER_TIMEOUT=str(timeout),
        RUNG_SERVE_BODY_TIMEOUT=str(body),
    )
    shared = None
    if workers > 1:  # one /metrics for all workers: prometheus-client's multiprocess mode
        shared = tempfile.mkdtemp(prefix="rung-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
    served = ", ".join(f"{r} (version {v.version})" for r, v in zip(refs, versions, strict=True))
    besides = "".join(f", shadow {t}" for t in shadows) + "".join(f", canary {t}" for t in canaries)
    announce = f"serving {served}{besides} on http://{host}:{{port}}"
    try:
        if workers == 1:
            # said once the model is loaded and warmed and the socket is bound: a model that
            # raises on its warm-up row exits with its one error line and no "serving" line
            _Announcing(
                uvicorn.Config(
                    "rung.cli.serve_app:app_from_env",
                    factory=True,
                    host=host,
                    port=port,
                    log_level="warning",
                    http=PROTOCOL,
                    h11_max_incomplete_event_size=H11_LIMIT,
                    server_header=False,  # no "server: uvicorn": nothing to fingerprint
                ),
                announce,
            ).run()
        else:
            with _ws() as ws:  # the workers load it each: warm it here first, once
                from rung.registry.models import require_signature
                from rung.serving.predictor import ready

                for each in [*refs, *challengers]:
                    v, model = ws.models.load(each)
                    ready(v.name, v.version, model, require_signature(v))
            _check_port(host, port)  # a busy port: one line, and no "serving" line before it
            if port == 0:  # the workers bind one port each: pick it here, once
                from rung.serving.connections import listening

                with listening(host, 0) as probe:
                    port = int(probe.getsockname()[1])
            _announce_when_answering(host, port, announce.format(port=port))
            from uvicorn.supervisors import Multiprocess

            from rung.serving.connections import OwnSocket

            config = uvicorn.Config(
                "rung.cli.serve_app:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="warning",
                http=PROTOCOL,
                h11_max_incomplete_event_size=H11_LIMIT,
                server_header=False,
            )
            # each worker listens on a socket of its own (SO_REUSEPORT): see OwnSocket
            Multiprocess(config, sockets=[OwnSocket(host, port)]).run()  # type: ignore[list-item]
    finally:
        if shared:
            shutil.rmtree(shared, ignore_errors=True)


def _protection(
    ws: Any,
    host: str,
    tokens_file: Path | None,
    allow_host: list[str],
    insecure: bool,
    reach: str = "predict and send feedback",
    scope: str = "predict",
) -> Any:
    """The service's tokens (``--tokens FILE``, else ``RUNG_SERVE_TOKENS``, else the
    workspace's token file; a file is followed while serving, see
    :class:`rung.core.tokens.TokenFile`), ``Host`` allowlist and CORS origins; refuses a
    non-loopback ``host`` without tokens unless ``insecure``. Whether tokens are required is
    decided here, once: a server started without any stays open (on loopback)."""
    import ipaddress
    import os

    from rung.core.errors import InvalidInput
    from rung.core.refs import check_host
    from rung.core.tokens import FILE, TokenFile, TokenSet, parse
    from rung.serving.guards import Protection, default_hosts

    found: TokenSet
    if tokens_file is not None:
        if not tokens_file.is_file():
            raise InvalidInput(
                f"no token file {tokens_file}", "make one with rung token create --file PATH"
            )
        found = TokenFile(tokens_file.absolute())  # followed while serving
    elif os.environ.get("RUNG_SERVE_TOKENS"):
        found = TokenSet(parse(os.environ["RUNG_SERVE_TOKENS"], "RUNG_SERVE_TOKENS"))
    else:
        found = TokenFile((ws.config.state_dir / FILE).absolute())
    if not found.tokens:  # none at start: no authentication, loopback only (below)
        found = TokenSet()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not found and not loopback and not insecure:
        raise InvalidInput(
            f"--host {host} without tokens would let anyone who reaches it {reach}",
            f"make a token (rung token create NAME --scope {scope}), or add --insecure to serve"
            " it open",
        )
    for name in allow_host:
        check_host(name, "--allow-host")
    settings = ws.config.settings.serve
    return Protection(
        found,
        default_hosts(host, [*settings.allowed_hosts, *allow_host]),
        tuple(settings.cors_origins),
    )


@app.command(short_help="Score a file with a registered version.")
def predict(
    ref: Annotated[str, typer.Argument(metavar="NAME@ALIAS", help="Model alias or version.")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet to score.")],
    output_file: Annotated[Path, typer.Option("--output", "-o", help="CSV or Parquet to write.")],
    chunk: Annotated[
        int, typer.Option("--chunk", min=1, max=MAX_ID, help="Rows per chunk.")
    ] = 50_000,
) -> None:
    """Score a file in chunks with a registered version; logged like the service."""
    from rung.serving.batch import score_file

    bar: Any = None
    if sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(console=render.err)
        bar.start()
        task = bar.add_task("scoring", total=None)

    def step(done: int, total: int) -> None:
        if bar is not None:
            bar.update(task, completed=done, total=total)

    try:
        with _ws() as ws:
            summary = score_file(ws, ref, input_file, output_file, chunk, step)
    finally:
        if bar is not None:
            bar.stop()
    render.line(
        f"scored {summary['rows']} rows with {summary['model']} → {summary['output']}"
        f" ({len(summary['request_ids'])} chunk(s) logged; send labels back with"
        f" `rung feedback {summary['output']} --label COLUMN`)"
    )


@app.command(short_help="Send labels back for scored rows.")
def feedback(
    file: Annotated[
        Path, typer.Argument(help="CSV or Parquet with request_id, request_row and a label.")
    ],
    label: Annotated[str, typer.Option("--label", "-l", help="The label column.")] = "label",
) -> None:
    """Send the ground truth of batch predictions back, keyed by the request_id and request_row
    columns `rung predict` wrote; rows whose label is missing are left out and counted. Each
    label must be a class of the model version that scored the row (or a number for a
    regressor); a row labelled before gets the new label (the latest wins)."""
    from rung.serving.feedback import feedback_file

    with _ws() as ws:
        done = feedback_file(ws.store, file, label)
    render.line(
        f"{done['accepted']} label(s) recorded"
        + (f", {done['replaced']} replacing an earlier label" if done["replaced"] else "")
        + (f", {done['unlabelled']} row(s) without a label left out" if done["unlabelled"] else "")
    )
    if done.get("note"):  # labels for rows a sampled log record did not keep
        render.line(done["note"])


# -- entry point -------------------------------------------------------------------------


def _check_port(host: str, port: int) -> None:
    """Refuse a port that another process listens on (or that cannot be bound) in one line,
    before uvicorn tries and after-the-fact prints its own ``[Errno 98]``: the address is
    bound as uvicorn will bind it (``SO_REUSEADDR``, so a port in TIME_WAIT is free) and
    released at once. Port 0 (the system picks a free one) is never busy."""
    import errno
    import socket

    from rung.core.errors import InvalidInput

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInput(
            f"cannot serve on host {host!r}: {exc.strerror}",
            "give an address of this machine, e.g. --host 127.0.0.1",
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InvalidInput(
                    f"port {port} on {host} is already in use by another process",
                    "stop that process, or serve on another port (--port 0 picks a free one)",
                ) from None
            raise InvalidInput(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                "give an address of this machine and a port you may bind (above 1023 unless"
                " root), or --port 0",
            ) from None


def _announce_when_answering(host: str, port: int, line: str, wait: float = 600.0) -> None:
    """Print ``line`` once a worker answers HTTP on the port, from a thread (several workers:
    uvicorn's supervisor binds the port long before a worker has loaded its models, and a
    connection is then accepted by nobody). Any HTTP answer counts, a 401 included; nothing
    is printed if none comes within ``wait`` seconds or the process ends first."""
    import socket
    import threading
    import time

    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host

    def probe() -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((target, port), timeout=2) as conn:
                    conn.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    if conn.recv(5) == b"HTTP/":
                        render.line(line, sys.stderr)
                        return
            except OSError:
                pass
            time.sleep(0.2)

    threading.Thread(target=probe, name="rung-announce", daemon=True).start()


def _announcing_server() -> Any:
    import uvicorn

    class Announcing(uvicorn.Server):
        """uvicorn's server, saying where it serves once it does (the real port of --port 0)."""

        def __init__(self, config: Any, line: str) -> None:
            super().__init__(config)
            self.line = line

        async def startup(self, sockets: Any = None) -> None:
            # the model is loaded and warmed (its errors come first); the port is next
            if sockets is None:
                _check_port(self.config.host, self.config.port)
            await super().startup(sockets)
            if self.started and not self.should_exit:
                bound = [s.getsockname()[1] for srv in self.servers for s in srv.sockets]
                render.line(self.line.format(port=bound[0] if bound else "?"), sys.stderr)

    return Announcing


def _Announcing(config: Any, line: str) -> Any:
    return _announcing_server()(config, line)
