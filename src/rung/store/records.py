"""Small write helpers shared by the features that record artifacts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rung.core.errors import InvalidInput
from rung.store.metadata import Conflict, Tx

T = TypeVar("T")


def ensure_artifact(
    tx: Tx,
    digest: str,
    kind: str,
    size: int,
    media_type: str,
    producer_step_id: int | None,
) -> None:
    """Insert the artifact's row unless it exists: the first producer is the one recorded.

    Idempotent under concurrency on both backends (``INSERT … ON CONFLICT DO NOTHING``):
    processes recording the same artifact at the same moment all succeed.
    """
    tx.insert_if_absent(
        "artifacts",
        {
            "hash": digest,
            "kind": kind,
            "size": size,
            "media_type": media_type,
            "producer_step_id": producer_step_id,
            "created_at": time.time(),
        },
        key=("hash",),
    )


def allocate(write: Callable[[], T], what: str) -> T:
    """Run a write transaction that takes the next number of a sequence (a version).

    Another process may take the same number first: its unique constraint refuses ours, and
    the transaction is simply tried again with the next number.
    """
    for _ in range(20):
        try:
            return write()
        except Conflict:
            continue
    raise InvalidInput(f"could not allocate {what}", "retry the command")
