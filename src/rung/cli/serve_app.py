"""The uvicorn factory behind ``rung serve``: each worker process opens the workspace itself."""

from __future__ import annotations

import os
from typing import Any


def app_from_env() -> Any:
    """``RUNG_SERVE_ROOT``, ``RUNG_SERVE_REF`` and ``RUNG_SERVE_POLL`` say what to serve."""
    from rung.serving.app import create_app
    from rung.workspace import Workspace

    ws = Workspace.open(os.environ["RUNG_SERVE_ROOT"])
    return create_app(
        ws, os.environ["RUNG_SERVE_REF"], float(os.environ.get("RUNG_SERVE_POLL", "1.0"))
    )
