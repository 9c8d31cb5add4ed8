"""The uvicorn factory behind ``rung serve``: each worker process opens the workspace itself."""

from __future__ import annotations

import os
from typing import Any


def app_from_env() -> Any:
    """``RUNG_SERVE_ROOT``, ``RUNG_SERVE_REF`` and ``RUNG_SERVE_POLL`` say what to serve;
    ``RUNG_SERVE_TOKENS``, ``RUNG_SERVE_ALLOWED_HOSTS`` and ``RUNG_SERVE_CORS_ORIGINS`` how
    to protect it (set by ``rung serve``: :meth:`rung.serving.guards.Protection.to_env`)."""
    import sys

    from rung.core.errors import RungError
    from rung.serving.app import create_app
    from rung.serving.guards import Protection
    from rung.workspace import Workspace

    try:
        ws = Workspace.open(os.environ["RUNG_SERVE_ROOT"])
        return create_app(
            ws,
            os.environ["RUNG_SERVE_REF"],
            float(os.environ.get("RUNG_SERVE_POLL", "1.0")),
            protection=Protection.from_env(),
        )
    except RungError as exc:  # e.g. the version changed to an untrusted model since the check
        hint = f" — {exc.hint}" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")
        raise SystemExit(exc.exit_code) from None
