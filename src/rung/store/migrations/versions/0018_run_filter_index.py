"""What the run filter (:mod:`rung.pipelines.run_filter`) reads, indexed by name and value.

* ``latest_metrics`` — each run's last logged value of each metric (the ``metrics`` row with
  the highest id for that run and name; NaN kept as the metrics table keeps it), with that
  row's id (``metric_id``);
* ``run_params`` — each run's parameters as ``rung runs`` shows them (the one logged during the
  run, ``params``, or else the pipeline's, ``runs.params``), typed: ``num`` holds a JSON
  number, ``text`` a JSON string (``COLLATE "C"`` on PostgreSQL: code point order), both
  NULL for the other kinds (booleans, null, lists, mappings).

Both are keyed ``(run_id, key)`` and indexed by ``(key, value)`` (``(key, num)`` and ``(key,
substr(text, 1, 200))``: PostgreSQL's B-tree refuses entries over ~2.7 kB, a parameter's text
has no limit), so that a selective condition (``metrics.acc > 0.99``) is a range scan of the
index instead of a lookup per run.

Database triggers keep them in step with their sources, inside the writing transaction,
whatever writes: a row inserted into ``metrics`` (``rung.log_metric``, a cached step's copied
metrics); a run inserted into ``runs`` (its pipeline parameters); any insert, update or delete
in ``params`` (``rung.log_params``). ``metrics`` and ``runs.params`` are never updated or
deleted by rung; rows of a deleted run are removed with it. Existing stores are back-filled
here.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

PREFIX = 200  # characters of a text parameter in the (key, text) index

# -- SQLite --------------------------------------------------------------------------------


def _sqlite_typed(value: str) -> tuple[str, str]:
    """``num`` and ``text`` of a JSON document ``value`` (NULL for invalid JSON)."""
    num = (
        f"CASE WHEN NOT json_valid({value}) THEN NULL"
        f" WHEN json_type({value}) IN ('integer', 'real') THEN json_extract({value}, '$') END"
    )
    text = (
        f"CASE WHEN NOT json_valid({value}) THEN NULL"
        f" WHEN json_type({value}) = 'text' THEN json_extract({value}, '$') END"
    )
    return num, text


def _sqlite_object(value: str) -> str:
    """``value`` when it is a JSON object, else ``'{}'`` (json_each of anything else would
    yield array elements or fail)."""
    return (
        f"CASE WHEN NOT json_valid({value}) THEN '{{}}'"
        f" WHEN json_type({value}) = 'object' THEN {value} ELSE '{{}}' END"
    )


_EACH_NUM = "CASE WHEN je.type IN ('integer', 'real') THEN je.atom END"
_EACH_TEXT = "CASE WHEN je.type = 'text' THEN je.atom END"


def _sqlite_param(run: str, key: str) -> str:
    """Statements that set ``run_params`` for one run and key from the sources."""
    num, text = _sqlite_typed("p.value")
    return (
        f"DELETE FROM run_params WHERE run_id = {run} AND key = {key};"
        f" INSERT OR REPLACE INTO run_params (run_id, key, num, text)"
        f" SELECT p.run_id, p.key, {num}, {text} FROM params p"
        f" WHERE p.run_id = {run} AND p.key = {key};"
        f" INSERT OR IGNORE INTO run_params (run_id, key, num, text)"
        f" SELECT r.id, je.key, {_EACH_NUM}, {_EACH_TEXT}"
        f" FROM runs r, json_each({_sqlite_object('r.params')}) je"
        f" WHERE r.id = {run} AND je.key = {key};"
    )


SQLITE_TRIGGERS = [
    # a new metric value is the latest unless a higher id is there already
    """CREATE TRIGGER rung_latest_metric AFTER INSERT ON metrics BEGIN
    INSERT INTO latest_metrics (run_id, key, value, metric_id)
    VALUES (NEW.run_id, NEW.key, NEW.value, NEW.id)
    ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, metric_id = excluded.metric_id
    WHERE excluded.metric_id > latest_metrics.metric_id;
    END""",
    f"""CREATE TRIGGER rung_run_params AFTER INSERT ON runs BEGIN
    INSERT OR REPLACE INTO run_params (run_id, key, num, text)
    SELECT NEW.id, je.key, {_EACH_NUM}, {_EACH_TEXT}
    FROM json_each({_sqlite_object("NEW.params")}) je
    WHERE NOT EXISTS (SELECT 1 FROM params p WHERE p.run_id = NEW.id AND p.key = je.key);
    END""",
    """CREATE TRIGGER rung_run_gone AFTER DELETE ON runs BEGIN
    DELETE FROM run_params WHERE run_id = OLD.id;
    DELETE FROM latest_metrics WHERE run_id = OLD.id;
    END""",
    f"CREATE TRIGGER rung_param_insert AFTER INSERT ON params BEGIN"
    f" {_sqlite_param('NEW.run_id', 'NEW.key')} END",
    f"CREATE TRIGGER rung_param_delete AFTER DELETE ON params BEGIN"
    f" {_sqlite_param('OLD.run_id', 'OLD.key')} END",
    f"CREATE TRIGGER rung_param_update AFTER UPDATE ON params BEGIN"
    f" {_sqlite_param('OLD.run_id', 'OLD.key')} {_sqlite_param('NEW.run_id', 'NEW.key')} END",
]


def _sqlite_backfill() -> list[str]:
    num, text = _sqlite_typed("p.value")
    return [
        "INSERT INTO latest_metrics (run_id, key, value, metric_id)"
        " SELECT m.run_id, m.key, m.value, m.id FROM metrics m"
        " JOIN (SELECT MAX(id) AS id FROM metrics GROUP BY run_id, key) l ON l.id = m.id",
        f"INSERT INTO run_params (run_id, key, num, text)"
        f" SELECT p.run_id, p.key, {num}, {text} FROM params p",
        f"INSERT OR IGNORE INTO run_params (run_id, key, num, text)"
        f" SELECT r.id, je.key, {_EACH_NUM}, {_EACH_TEXT}"
        f" FROM runs r, json_each({_sqlite_object('r.params')}) je",
    ]


# -- PostgreSQL ----------------------------------------------------------------------------

PG_FUNCTIONS = [
    # a text as JSON, NULL when it is not JSON
    """CREATE OR REPLACE FUNCTION rung_jsonb(t text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN t::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END $$""",
    # a JSON number as float8 (beyond its range: ±infinity or 0, as Python's float reads it)
    """CREATE OR REPLACE FUNCTION rung_json_num(j jsonb) RETURNS float8
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE n numeric;
    BEGIN
        IF jsonb_typeof(j) IS DISTINCT FROM 'number' THEN
            RETURN NULL;
        END IF;
        n := j::numeric;
        IF n = 0 OR abs(n) BETWEEN 1e-300 AND 1e300 THEN
            RETURN n::float8;
        END IF;
        BEGIN
            RETURN n::float8;
        EXCEPTION WHEN others THEN
            IF abs(n) < 1 THEN RETURN 0; END IF;
            RETURN CASE WHEN n > 0 THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END;
        END;
    END $$""",
    """CREATE OR REPLACE FUNCTION rung_json_text(j jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}' END
    $$""",
    # the JSON object of a run's pipeline parameters ('{}' when not an object)
    """CREATE OR REPLACE FUNCTION rung_json_object(t text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(rung_jsonb(t)) = 'object' THEN rung_jsonb(t)
        ELSE '{}'::jsonb END
    $$""",
    """CREATE OR REPLACE FUNCTION rung_set_run_param(r bigint, k text) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM run_params WHERE run_id = r AND key = k;
        IF EXISTS (SELECT 1 FROM params WHERE run_id = r AND key = k) THEN
            INSERT INTO run_params (run_id, key, num, text)
            SELECT r, k, rung_json_num(j), rung_json_text(j)
            FROM (SELECT rung_jsonb(value) AS j FROM params WHERE run_id = r AND key = k) s;
        ELSE
            INSERT INTO run_params (run_id, key, num, text)
            SELECT r, k, rung_json_num(j), rung_json_text(j)
            FROM (SELECT rung_json_object(params) -> k AS j FROM runs WHERE id = r) s
            WHERE s.j IS NOT NULL;
        END IF;
    END $$""",
    """CREATE OR REPLACE FUNCTION rung_latest_metric() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO latest_metrics (run_id, key, value, metric_id)
        VALUES (NEW.run_id, NEW.key, NEW.value, NEW.id)
        ON CONFLICT (run_id, key) DO UPDATE
        SET value = EXCLUDED.value, metric_id = EXCLUDED.metric_id
        WHERE latest_metrics.metric_id < EXCLUDED.metric_id;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION rung_run_params() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM run_params WHERE run_id = OLD.id;
            DELETE FROM latest_metrics WHERE run_id = OLD.id;
            RETURN NULL;
        END IF;
        INSERT INTO run_params (run_id, key, num, text)
        SELECT NEW.id, e.key, rung_json_num(e.value), rung_json_text(e.value)
        FROM jsonb_each(rung_json_object(NEW.params)) e
        WHERE NOT EXISTS (SELECT 1 FROM params p WHERE p.run_id = NEW.id AND p.key = e.key)
        ON CONFLICT (run_id, key) DO NOTHING;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION rung_param_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM rung_set_run_param(OLD.run_id, OLD.key);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM rung_set_run_param(NEW.run_id, NEW.key);
        END IF;
        RETURN NULL;
    END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER rung_latest_metric AFTER INSERT ON metrics"
    " FOR EACH ROW EXECUTE FUNCTION rung_latest_metric()",
    "CREATE TRIGGER rung_run_params AFTER INSERT OR DELETE ON runs"
    " FOR EACH ROW EXECUTE FUNCTION rung_run_params()",
    "CREATE TRIGGER rung_param_changed AFTER INSERT OR UPDATE OR DELETE ON params"
    " FOR EACH ROW EXECUTE FUNCTION rung_param_changed()",
]
PG_BACKFILL = [
    "INSERT INTO latest_metrics (run_id, key, value, metric_id)"
    " SELECT DISTINCT ON (run_id, key) run_id, key, value, id FROM metrics"
    " ORDER BY run_id, key, id DESC",
    "INSERT INTO run_params (run_id, key, num, text)"
    " SELECT run_id, key, rung_json_num(rung_jsonb(value)), rung_json_text(rung_jsonb(value))"
    " FROM params",
    "INSERT INTO run_params (run_id, key, num, text)"
    " SELECT r.id, e.key, rung_json_num(e.value), rung_json_text(e.value)"
    " FROM runs r, jsonb_each(rung_json_object(r.params)) e"
    " ON CONFLICT (run_id, key) DO NOTHING",
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS rung_latest_metric ON metrics",
    "DROP TRIGGER IF EXISTS rung_run_params ON runs",
    "DROP TRIGGER IF EXISTS rung_param_changed ON params",
    "DROP FUNCTION IF EXISTS rung_param_changed()",
    "DROP FUNCTION IF EXISTS rung_run_params()",
    "DROP FUNCTION IF EXISTS rung_latest_metric()",
    "DROP FUNCTION IF EXISTS rung_set_run_param(bigint, text)",
    "DROP FUNCTION IF EXISTS rung_json_object(text)",
    "DROP FUNCTION IF EXISTS rung_json_text(jsonb)",
    "DROP FUNCTION IF EXISTS rung_json_num(jsonb)",
    "DROP FUNCTION IF EXISTS rung_jsonb(text)",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "rung_latest_metric",
        "rung_run_params",
        "rung_run_gone",
        "rung_param_insert",
        "rung_param_delete",
        "rung_param_update",
    )
]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("metric_id", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_latest_metrics_key_value",
        "latest_metrics",
        ["key", "value"],
        postgresql_include=["run_id"],
    )
    op.create_table(
        "run_params",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("num", sa.Float, nullable=True),
        sa.Column("text", sa.Text().with_variant(sa.Text(collation="C"), "postgresql")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_run_params_key_num", "run_params", ["key", "num"], postgresql_include=["run_id"]
    )
    op.execute(
        f'CREATE INDEX ix_run_params_key_text ON run_params (key, substr("text", 1, {PREFIX}))'
    )
    for statement in (
        (PG_FUNCTIONS + PG_TRIGGERS + PG_BACKFILL) if pg else (SQLITE_TRIGGERS + _sqlite_backfill())
    ):
        op.execute(statement)
    if pg:
        op.execute("ANALYZE latest_metrics")
        op.execute("ANALYZE run_params")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if pg else SQLITE_DROP:
        op.execute(statement)
    op.drop_table("run_params")
    op.drop_table("latest_metrics")
