"""The uvicorn factory behind ``rung serve``: each worker process opens the workspace itself."""

from __future__ import annotations

import os
from typing import Any


def app_from_env() -> Any:
    """``RUNG_SERVE_ROOT``, ``RUNG_SERVE_REFS`` (a JSON list; else ``RUNG_SERVE_REF``),
    ``RUNG_SERVE_SHADOW``, ``RUNG_SERVE_CANARY`` (JSON lists) and ``RUNG_SERVE_POLL`` say
    what to serve."""
    import json
    import sys

    from rung.core.errors import RungError
    from rung.serving.app import create_app
    from rung.workspace import Workspace

    try:
        ws = Workspace.open(os.environ["RUNG_SERVE_ROOT"])
        refs = json.loads(os.environ.get("RUNG_SERVE_REFS") or "[]") or [
            os.environ["RUNG_SERVE_REF"]
        ]
        return create_app(
            ws,
            refs,
            float(os.environ.get("RUNG_SERVE_POLL", "1.0")),
            shadows=json.loads(os.environ.get("RUNG_SERVE_SHADOW") or "[]"),
            canaries=json.loads(os.environ.get("RUNG_SERVE_CANARY") or "[]"),
        )
    except RungError as exc:  # e.g. the version changed to an untrusted model since the check
        hint = f" — {exc.hint}" if exc.hint else ""
        sys.stderr.write(f"error: {exc.message}{hint}\n")
        raise SystemExit(exc.exit_code) from None
