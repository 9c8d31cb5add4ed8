"""Text columns widened where a value rung itself writes could outgrow them.

* ``runs.trigger`` 32 → 200: ``automate job ID: TRIGGER`` with a 100-character trigger name
  (``retrain-on-new-training-data`` failed every job on PostgreSQL);
* ``monitor_windows.ref`` 200 → 301: ``NAME@ALIAS`` of a 200-character name and a
  100-character alias;
* ``monitor_references.key``, ``automation_state.key``, ``leases.name`` 300 → 320:
  ``MODEL/TRIGGER`` and ``HASH:DATASET@VERSION`` keys.

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


def upgrade() -> None:
    _alter(True)


def downgrade() -> None:
    _alter(False)
