"""Text columns widened where a value rung itself writes could outgrow them.

* ``runs.trigger`` 32 → 200: ``automate job ID: TRIGGER`` with a 100-character trigger name
  (``retrain-on-new-training-data`` failed every job on PostgreSQL);
* ``monitor_windows.ref`` 200 → 301: ``NAME@ALIAS`` of a 200-character name and a
  100-character alias;
* ``monitor_references.key``, ``automation_state.key``, ``leases.name`` 300 → 320:
  ``MODEL/TRIGGER`` and ``HASH:DATASET@VERSION`` keys.

And on PostgreSQL only, the ids of the logs that grow with traffic become 64-bit
(``predictions.id``, ``feedback.id`` and their sequences, ``monitor_windows.first_id`` and
``last_id``): INTEGER stops at 2^31-1. SQLite's INTEGER is 64-bit already.

Only widenings: no row can fail to fit. The limits live in :mod:`rung.core.limits`.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CHANGES = [  # table, column, old length, new length
    ("runs", "trigger", 32, 200),
    ("monitor_windows", "ref", 200, 301),
    ("monitor_references", "key", 300, 320),
    ("automation_state", "key", 300, 320),
    ("leases", "name", 300, 320),
]


def _alter(to_new: bool) -> None:
    for table, column, old, new in _CHANGES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.String(old if to_new else new),
                type_=sa.String(new if to_new else old),
                existing_nullable=False,
            )


_LOG_IDS = [
    ("predictions", "id"),
    ("feedback", "id"),
    ("monitor_windows", "first_id"),
    ("monitor_windows", "last_id"),
]


def _log_ids(to_new: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _LOG_IDS:
        op.alter_column(
            table,
            column,
            existing_type=sa.Integer() if to_new else sa.BigInteger(),
            type_=sa.BigInteger() if to_new else sa.Integer(),
            existing_nullable=False,
        )
    for table in ("predictions", "feedback"):
        op.execute(f"ALTER SEQUENCE {table}_id_seq AS {'bigint' if to_new else 'integer'}")


def upgrade() -> None:
    _alter(True)
    _log_ids(True)


def downgrade() -> None:
    _log_ids(False)
    _alter(False)
