"""Small write helpers shared by the features that record artifacts."""

from __future__ import annotations

import time

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, CursorResult

from rung.store.schema import artifacts


def ensure_artifact(
    conn: Connection,
    digest: str,
    kind: str,
    size: int,
    media_type: str,
    producer_step_id: int | None,
) -> None:
    """Insert the artifact's row unless it exists: the first producer is the one recorded."""
    exists = conn.execute(select(artifacts.c.hash).where(artifacts.c.hash == digest)).first()
    if exists is None:
        conn.execute(
            insert(artifacts).values(
                hash=digest,
                kind=kind,
                size=size,
                media_type=media_type,
                producer_step_id=producer_step_id,
                created_at=time.time(),
            )
        )


def inserted_id(result: CursorResult[object]) -> int:
    """The primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
