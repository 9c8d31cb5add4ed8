"""Feedback holds one label per (request, row): the latest wins, corrections are counted.

Before, feedback sent twice for the same row was stored twice. Now a unique index on
``(request_id, row)`` makes one row per predicted row, and ``corrections`` counts how many
times a different label replaced that row's label (see :mod:`rung.serving.feedback`).

Existing duplicates are folded into their latest row (the highest id, which readers already
took as the one that wins); its ``corrections`` is the number of times the label changed
from one of those rows to the next, in the order they were stored. The unique index replaces
``ix_feedback_request`` (its first column serves the same look-ups).

Revision ID: 0013
Revises: 0010
"""

import itertools

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("corrections", sa.Integer, nullable=False, server_default="0"))
    _fold_duplicates()
    op.drop_index("ix_feedback_request", table_name="feedback")
    op.create_index("ux_feedback_request_row", "feedback", ["request_id", "row"], unique=True)


def _fold_duplicates() -> None:
    conn = op.get_bind()
    keys = conn.execute(
        sa.text(
            'SELECT request_id, "row" FROM feedback GROUP BY request_id, "row" HAVING COUNT(*) > 1'
        )
    ).all()
    for request_id, row in keys:
        stored = conn.execute(
            sa.text(
                'SELECT id, label FROM feedback WHERE request_id = :r AND "row" = :w ORDER BY id'
            ),
            {"r": request_id, "w": row},
        ).all()
        changes = sum(a.label != b.label for a, b in itertools.pairwise(stored))
        latest = stored[-1].id
        conn.execute(
            sa.text("UPDATE feedback SET corrections = :c WHERE id = :i"),
            {"c": changes, "i": latest},
        )
        conn.execute(
            sa.text('DELETE FROM feedback WHERE request_id = :r AND "row" = :w AND id <> :i'),
            {"r": request_id, "w": row, "i": latest},
        )


def downgrade() -> None:
    op.drop_index("ux_feedback_request_row", table_name="feedback")
    op.create_index("ix_feedback_request", "feedback", ["request_id"])
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("corrections")
