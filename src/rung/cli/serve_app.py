"""The uvicorn factory behind ``rung serve``: each worker process opens the workspace itself."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import Any


class _Line(logging.Formatter):
    """A log record as one line on stderr: the access log's lines carry their own time; the
    service's (``rung.serve``: swaps, the follower's failures) get one, ISO 8601 UTC."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "rung.access":
            return record.getMessage()
        from rung.serving.metrics import utc_now

        return f"{utc_now()} {record.getMessage()}"


_listener: Any = None  # the thread that writes the log lines (logging.handlers.QueueListener)


def configure_logging(access_log: bool) -> None:
    """The service's loggers on stderr: ``rung.serve`` (swaps, follower failures) always,
    ``rung.access`` (one line per request) when ``access_log``.

    The lines are written by a thread of their own (``logging.handlers.QueueListener``): the
    event loop only queues them. Written on the loop, each line was a system call that let go
    of the GIL, and taking it back from the predicting thread cost a fifth of a request's
    time on the loop at concurrency 64 (py-spy). Queued lines are written at exit too."""
    import atexit
    import queue
    from logging.handlers import QueueListener

    global _listener
    _stop_writer()
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(_Line())
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = QueueListener(lines, stream)
    _listener.start()
    atexit.register(_stop_writer)  # idempotent: registered again by a second call, harmless
    handler = _Queued(lines)
    for name, on in (("rung.serve", True), ("rung.access", access_log)):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if on else []
        logger.setLevel(logging.INFO if on else logging.WARNING)
        logger.propagate = False


def _stop_writer() -> None:
    """Write what is queued and stop the writer thread, if one runs."""
    global _listener
    listener, _listener = _listener, None
    if listener is not None:
        listener.stop()


class _Queued(logging.handlers.QueueHandler):
    """Queues a record as it is: the writer formats it (``QueueHandler.prepare`` would format
    it on the event loop and copy it)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def app_from_env() -> Any:
    """``RUNG_SERVE_ROOT``, ``RUNG_SERVE_REFS`` (a JSON list; else ``RUNG_SERVE_REF``),
    ``RUNG_SERVE_SHADOW``, ``RUNG_SERVE_CANARY`` (JSON lists), ``RUNG_SERVE_POLL`` and
    ``RUNG_SERVE_ACCESS_LOG`` (``1``/``0``) say what to serve and how;
    ``RUNG_SERVE_TOKENS_FILE`` (a token file followed while serving) or ``RUNG_SERVE_TOKENS``
    (fixed tokens), ``RUNG_SERVE_ALLOWED_HOSTS`` and ``RUNG_SERVE_CORS_ORIGINS`` how to
    protect it (set by ``rung serve``: :meth:`rung.serving.guards.Protection.to_env`)."""
    import json

    from rung.core.errors import RungError
    from rung.serving.app import create_app
    from rung.serving.guards import Protection
    from rung.workspace import Workspace

    access = os.environ.get("RUNG_SERVE_ACCESS_LOG", "1") != "0"
    configure_logging(access)
    try:
        ws = Workspace.open(os.environ["RUNG_SERVE_ROOT"])
        refs = json.loads(os.environ.get("RUNG_SERVE_REFS") or "[]") or [
            os.environ["RUNG_SERVE_REF"]
        ]
        return create_app(
            ws,
            refs,
            float(os.environ.get("RUNG_SERVE_POLL", "1.0")),
            max_body=int(ws.config.settings.serve.max_body),
            protection=Protection.from_env(),
            access_log=access,
            shadows=json.loads(os.environ.get("RUNG_SERVE_SHADOW") or "[]"),
            canaries=json.loads(os.environ.get("RUNG_SERVE_CANARY") or "[]"),
        )
    except RungError as exc:  # e.g. the version changed to an untrusted model since the check
        hint = f" — {exc.hint}" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")
        raise SystemExit(exc.exit_code) from None
