"""What the registry's gate needs to know of each evaluation.

* ``evaluations.criteria_digest``: the digest of the criteria set the evaluation judged
  (:func:`rung.core.criteria.criteria_digest`; NULL for none). The gate counts an evaluation
  toward a version's verdict only when it equals the digest of the project's declared
  acceptance criteria. Existing rows are filled in from the criteria their result recorded.
* ``evaluations.informs_only``: true for an evaluation that must never set the verdict of the
  model it evaluated — the loop's evaluation of a challenger that is the serving version
  itself (a run that reproduced it).

Revision ID: 0012
Revises: 0010
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("criteria_digest", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("informs_only", sa.Boolean, nullable=False, server_default=sa.false())
        )
    from rung.core.criteria import criteria_digest
    from rung.core.errors import RungError

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, result FROM evaluations")).fetchall()
    for row in rows:
        try:
            texts = json.loads(row.result).get("verdict", {}).get("criteria") or []
            digest = criteria_digest([str(t) for t in texts])
        except (ValueError, AttributeError, RungError):
            continue  # unreadable: it counts toward no verdict
        if digest is not None:
            conn.execute(
                sa.text("UPDATE evaluations SET criteria_digest = :d WHERE id = :id"),
                {"d": digest, "id": row.id},
            )


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("informs_only")
        batch.drop_column("criteria_digest")
