"""What the prediction log's retention and bounded records need.

* ``predictions.answered``: the rows a request was answered with when its record keeps only
  a sample of them (``[serve] log_sample_rows``); NULL when every row is stored (``rows``).
  The sample's row numbers are in the record's outputs (``"sample"``), see
  :mod:`rung.core.predlog`.
* an index on ``predictions.at``: retention deletes by age across every model.

Revision ID: 0016
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("answered", sa.Integer, nullable=True))
    op.create_index("ix_predictions_at", "predictions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_at", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("answered")
