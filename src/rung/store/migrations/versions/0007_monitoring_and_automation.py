"""Monitoring windows and their references, alerts, the continuous-training loop's jobs and state, and leases.

The prediction log gains a status: failed requests are logged too (no inputs), so that the
error rate of a window comes from the same log as its latency.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("status", sa.Integer, nullable=False, server_default="200"))
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("window", sa.String(50), nullable=False),
        sa.Column("first_id", sa.Integer, nullable=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("drifted", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_monitor_windows_model", "monitor_windows", ["model", "id"])
    op.create_table(
        "monitor_references",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("window_id", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("delivery", sa.Text, nullable=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_alerts_model", "alerts", ["model", "id"])
    op.create_table(
        "automation_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("challenger", sa.Integer, nullable=True),
        sa.Column("champion", sa.Integer, nullable=True),
        sa.Column("evaluation_id", sa.Integer, nullable=True),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_automation_jobs_model", "automation_jobs", ["model", "id"])
    op.create_table(
        "automation_state",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("automation_state")
    op.drop_table("automation_jobs")
    op.drop_table("alerts")
    op.drop_table("monitor_references")
    op.drop_table("monitor_windows")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("status")
