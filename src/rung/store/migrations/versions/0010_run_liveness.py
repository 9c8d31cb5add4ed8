"""Run liveness: each run records the process that runs it and a heartbeat.

``host``, ``pid`` and ``pid_start`` (the process's start time, so a reused pid is not taken
for the run's process) identify the process; ``heartbeat_at`` is renewed every few seconds
while it runs. A run left ``running`` by a killed process is then shown as ``dead``.

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer, nullable=True))
        batch.add_column(sa.Column("pid_start", sa.String(64), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("pid_start")
        batch.drop_column("pid")
        batch.drop_column("host")
