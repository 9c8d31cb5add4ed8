"""What ``rung reproduce`` needs to pin a run and explain a difference.

* ``runs.data_reads``: every dataset reference resolved while the run executed — in the
  pipeline body, as a step input, or inside a step through any rung API — as JSON
  ``[{"ref", "dataset", "step"}]``, so a reproduction resolves ``rung.dataset("x")`` to the
  version the run used, not to the newest one.
* ``step_runs.code_detail``: the step's code per function (``[[qualname, hash], ...]``) and
  the versions of the installed packages its code refers to, as JSON, so that a difference
  names the functions and packages that changed.

Revision ID: 0014
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("data_reads", sa.Text, nullable=True))
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("code_detail", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("code_detail")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("data_reads")
