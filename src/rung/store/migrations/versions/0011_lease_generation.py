"""Leases get a fencing token: ``generation``, increased by every acquisition.

Every state-changing write made under a lease (an automation job's updates, its alias move)
carries the generation it acquired, and is refused in the same transaction when the row's
generation has moved on — another process took the lease over (Kleppmann's fencing tokens).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("generation", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("generation")
