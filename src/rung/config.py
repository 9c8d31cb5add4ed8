"""The workspace's configuration: ``rung.toml`` at its root, overridable by environment.

Zero configuration is the default: an empty ``rung.toml`` means a SQLite file at
``.rung/rung.db`` and artifacts under ``.rung/artifacts``. Environment variables win over the
file so that CI and teams can point a checkout at shared stores without editing it:

* ``RUNG_STORE_URL`` — e.g. ``postgresql+psycopg://user@host/db``
* ``RUNG_ARTIFACT_ROOT`` — any fsspec URL, e.g. ``s3://bucket/rung`` or ``/mnt/shared/rung``
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rung.core.errors import InvalidInput

CONFIG_FILE = "rung.toml"
STATE_DIR = ".rung"

TEMPLATE = """\
# rung workspace configuration. Everything here is optional.

[store]
# Metadata store. Empty: a SQLite file at .rung/rung.db.
# For a team: url = "postgresql+psycopg://user@host:5432/rung"   (env: RUNG_STORE_URL)
url = ""

[artifacts]
# Artifact store root, any fsspec URL. Empty: the folder .rung/artifacts.   (env: RUNG_ARTIFACT_ROOT)
root = ""

[pipelines]
# Short names for `rung run NAME`: name = "path/to/file.py:function"

[eval]
# The label column of evaluation datasets, and the acceptance criteria agreed in the scope.
# label = "down"
# criteria = ["precision_down >= 0.75 on every dataset", "f1_macro drop <= 0.01 vs baseline"]
"""


@dataclass
class Config:
    """Resolved settings of one workspace."""

    root: Path
    store_url: str
    artifact_root: str
    pipelines: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR


def load_config(root: Path) -> Config:
    """Read ``rung.toml`` under ``root`` and apply environment overrides."""
    path = root / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML ({exc})", "fix the file's syntax") from exc
    state = root / STATE_DIR
    store_url = (
        os.environ.get("RUNG_STORE_URL")
        or raw.get("store", {}).get("url")
        or f"sqlite:///{state / 'rung.db'}"
    )
    artifact_root = (
        os.environ.get("RUNG_ARTIFACT_ROOT")
        or raw.get("artifacts", {}).get("root")
        or str(state / "artifacts")
    )
    pipelines = {str(k): str(v) for k, v in raw.get("pipelines", {}).items()}
    return Config(root, store_url, artifact_root, pipelines, raw)
