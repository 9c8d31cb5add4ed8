"""Evaluations: a model (and baseline) on several dataset versions, with the verdict.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("model_hash", sa.String(64), nullable=False),
        sa.Column("baseline", sa.Text, nullable=True),
        sa.Column("baseline_hash", sa.String(64), nullable=True),
        sa.Column("label", sa.String(250), nullable=True),
        sa.Column("datasets", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_evaluations_model_hash", "evaluations", ["model_hash"])


def downgrade() -> None:
    op.drop_table("evaluations")
