"""Predictions by model and time: what a monitor's windows select.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_predictions_model_at", "predictions", ["model", "at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_model_at", "predictions")
