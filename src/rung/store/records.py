"""Small write helpers shared by the features that record artifacts."""

from __future__ import annotations

import time

from rung.store.metadata import Tx


def ensure_artifact(
    tx: Tx,
    digest: str,
    kind: str,
    size: int,
    media_type: str,
    producer_step_id: int | None,
) -> None:
    """Insert the artifact's row unless it exists: the first producer is the one recorded."""
    if tx.one("SELECT hash FROM artifacts WHERE hash = :h", {"h": digest}) is None:
        tx.insert(
            "artifacts",
            {
                "hash": digest,
                "kind": kind,
                "size": size,
                "media_type": media_type,
                "producer_step_id": producer_step_id,
                "created_at": time.time(),
            },
            returning=None,
        )
