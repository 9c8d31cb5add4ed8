"""What bounded prediction log records need: ``predictions.answered``.

The rows a request was answered with. A record that keeps only a sample of them (``[serve]
log_sample_rows``) has ``answered`` > ``rows`` (the rows stored); the sample's row numbers
are in its outputs (``"sample"``), see :mod:`rung.core.predlog`. Every other record has
``answered`` = ``rows`` (set here for the records already logged). Not NULL: on PostgreSQL
a NULL would add a null bitmap, 8 bytes, to every record.

Retention needs no index: the log's ids follow its time (records are committed in the order
they are written), so the boundary of an age is found by a binary search on the primary key
(:mod:`rung.serving.retention`).

Revision ID: 0016
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("answered", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE predictions SET answered = rows")


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("answered")
