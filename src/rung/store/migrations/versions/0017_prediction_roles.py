"""Each prediction-log record says in which role its model version predicted.

``predictions.role``:

* ``answer`` — the version that answered the client (every record before this revision);
* ``canary`` — a challenger answering its share of requests (``rung serve --canary``);
* ``shadow`` — a challenger that predicted the same request off the request path, its answer
  never sent (``rung serve --shadow``); logged under the answered request's id.

Readers of what clients were answered (monitoring windows, live performance, feedback, the
labelled served rows of automation) leave ``shadow`` records out; ``rung monitor compare``
pairs them with the answers.

Revision ID: 0017
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="answer"))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("role")
