"""Tables of the metadata store (SQLAlchemy Core).

Times are UNIX seconds as floats: portable across SQLite and PostgreSQL and cheap to compare.
JSON documents are stored as text written by :func:`rung.core.hashing.canonical_json`.
Every change here needs a migration in ``migrations/versions``; a test compares the two.
Text columns are declared ``String`` here and get their length from
:data:`rung.core.limits.COLUMNS`, the one list of limits that the entry points check too.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from rung.core.limits import COLUMNS

metadata = MetaData()

# Ids of the logs that grow with traffic: 64-bit on PostgreSQL, where INTEGER (and its
# sequence) stops at 2^31-1 — 25 days of a service answering 1,000 requests a second.
# SQLite's INTEGER PRIMARY KEY is 64-bit already (and must stay INTEGER to be the rowid).
LOG_ID = BigInteger().with_variant(Integer(), "sqlite")

artifacts = Table(
    "artifacts",
    metadata,
    Column("hash", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String, nullable=False),
    Column("producer_step_id", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_hash", String, ForeignKey("artifacts.hash"), nullable=False),
    Column("format", String, nullable=False),
    Column("source", Text, nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("files", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("schema", Text, nullable=True),
    Column("stats", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version", name="uq_datasets_name_version"),
)
Index("ix_datasets_artifact", datasets.c.artifact_hash)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),  # pipeline | tracking
    Column("target", Text, nullable=True),  # import path of the pipeline function
    Column("status", String, nullable=False),  # running | succeeded | failed | dead
    Column("trigger", String, nullable=False),
    Column("params", Text, nullable=False),
    Column("outputs", Text, nullable=True),
    Column("code_commit", String, nullable=True),
    Column("code_dirty", Boolean, nullable=True),
    Column("code_hash", String, nullable=True),
    Column("environment", Text, nullable=True),
    Column("reproduces", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    # the process that runs it, and its heartbeat (rung.pipelines.liveness)
    Column("host", String, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("pid_start", String, nullable=True),  # start time: a reused pid is another process
    Column("heartbeat_at", Float, nullable=True),
    # dataset references resolved while it ran, JSON [{ref, dataset, step}] (reproduce pins them)
    Column("data_reads", Text, nullable=True),
)
Index("ix_runs_name", runs.c.name)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),  # running | succeeded | failed | dead
    Column("cache_key", String, nullable=False),
    Column("cache_hit", Boolean, nullable=False),
    Column("cached_from", Integer, nullable=True),  # step run whose outputs were reused
    Column("code_hash", String, nullable=False),
    Column("code_names", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    # JSON {"functions": [[qualname, hash], ...], "packages": {dist: version}}
    Column("code_detail", Text, nullable=True),
)
Index("ix_step_runs_cache_key", step_runs.c.cache_key)
Index("ix_step_runs_run", step_runs.c.run_id)

step_io = Table(
    "step_io",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_run_id", Integer, ForeignKey("step_runs.id"), nullable=False),
    Column("direction", String, nullable=False),  # in | out
    Column("name", String, nullable=False),
    Column("artifact_hash", String, nullable=False),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=True),
)
Index("ix_step_io_step", step_io.c.step_run_id)
Index("ix_step_io_artifact", step_io.c.artifact_hash)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("step_run_id", Integer, nullable=True),
    Column("key", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
)
Index("ix_metrics_run_key", metrics.c.run_id, metrics.c.key)

params = Table(
    "params",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

# What the run filter reads (rung.pipelines.run_filter), kept by database triggers (migration
# 0018): each run's last value of each metric, and its parameters typed as number or text.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Float, nullable=False),
    Column("metric_id", Integer, nullable=False),
    sqlite_with_rowid=False,
)
Index(
    "ix_latest_metrics_key_value",
    latest_metrics.c.key,
    latest_metrics.c.value,
    postgresql_include=["run_id"],
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("num", Float, nullable=True),  # a JSON number
    Column("text", Text().with_variant(Text(collation="C"), "postgresql"), nullable=True),
    sqlite_with_rowid=False,
)
Index("ix_run_params_key_num", run_params.c.key, run_params.c.num, postgresql_include=["run_id"])
# and ix_run_params_key_text on (key, substr(text, 1, 200)), created by migration 0018 only
# (Alembic cannot compare an index on an expression)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", Text, nullable=False),  # what the user named: a run, an artifact, a version
    Column("model_hash", String, nullable=False),
    Column("baseline", Text, nullable=True),
    Column("baseline_hash", String, nullable=True),
    Column("label", String, nullable=True),
    Column("datasets", Text, nullable=False),  # JSON list of {"ref", "hash"}
    Column("result", Text, nullable=False),  # JSON: table, aggregates, slices, charts, deltas
    Column("verdict", String, nullable=True),  # passed | failed | None (no criteria)
    Column("created_at", Float, nullable=False),
    # the digest of the criteria set it judged (rung.core.criteria.criteria_digest), for the
    # registry's gate; NULL for none
    Column("criteria_digest", String, nullable=True),
    # never sets the verdict of the model it evaluated (the loop re-judging the serving version)
    Column("informs_only", Boolean, nullable=False, server_default=false()),
)
Index("ix_evaluations_model_hash", evaluations.c.model_hash)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_hash", String, nullable=False),
    Column("kind", String, nullable=False),  # skops | pickle
    Column("source", Text, nullable=False),  # what was registered: run id, RUN:STEP.OUTPUT, hash
    Column("run_id", Integer, nullable=True),
    Column("datasets", Text, nullable=False),  # JSON list of dataset versions it was trained on
    Column("metrics", Text, nullable=False),  # JSON: the source run's metrics
    Column("signature", Text, nullable=True),  # JSON: features, types, categories
    Column("allow_pickle", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String, primary_key=True),
    Column("alias", String, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String, nullable=False),
    Column("alias", String, nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=False),
    Column("action", String, nullable=False),  # promote | force | rollback | force-rollback
    Column("who", String, nullable=False),
    Column("why", Text, nullable=True),
    Column("evaluation_id", Integer, nullable=True),
    Column("at", Float, nullable=False),
)
Index("ix_alias_events_name", alias_events.c.name)

predictions = Table(
    "predictions",
    metadata,
    Column("id", LOG_ID, primary_key=True, autoincrement=True),
    Column("request_id", String, nullable=False),
    Column("model", String, nullable=False),
    Column("version", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON columns: {feature: [one value per row]}
    Column("outputs", Text, nullable=False),  # JSON: predictions (and probabilities)
    Column("latency_ms", Float, nullable=False),
    Column("at", Float, nullable=False),
    # 200, or the HTTP status of a failed request (logged without inputs: the error rate)
    Column("status", Integer, nullable=False, server_default="200"),
    # the client's own X-Request-ID, if it sent one (request_id is always the server's)
    Column("correlation_id", String, nullable=True),
    # the rows answered: above ``rows`` when the record keeps a sample of them (0016)
    Column("answered", Integer, nullable=False, server_default="0"),
    # answer (the client got it), canary (a challenger's share of answers) or shadow (never
    # sent: predicted beside the answer of the same request id; see migration 0017)
    Column("role", String, nullable=False, server_default="answer"),
)
Index("ix_predictions_request", predictions.c.request_id)
Index("ix_predictions_model_at", predictions.c.model, predictions.c.at)  # monitor windows

feedback = Table(
    "feedback",
    metadata,
    Column("id", LOG_ID, primary_key=True, autoincrement=True),
    Column("request_id", String, nullable=False),
    Column("row", Integer, nullable=False),
    Column("label", Text, nullable=False),  # JSON value: the ground truth for that row
    Column("at", Float, nullable=False),  # when the current label arrived
    # how many times a different label replaced this row's label (the latest wins)
    Column("corrections", Integer, nullable=False, server_default="0"),
)
# one label per predicted row: two feedback calls at once cannot store two (an upsert)
Index("ux_feedback_request_row", feedback.c.request_id, feedback.c.row, unique=True)

monitor_windows = Table(  # one computed monitoring window: drift, performance, health
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String, nullable=False),
    Column("ref", String, nullable=False),  # NAME@ALIAS or NAME@VERSION monitored
    Column("window", String, nullable=False),  # as given: "1000", "1d"
    Column("first_id", LOG_ID, nullable=False),  # range of prediction-log ids it covers
    Column("last_id", LOG_ID, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("drifted", Integer, nullable=False),  # number of drifted features
    Column("report", Text, nullable=False),  # JSON
    Column("at", Float, nullable=False),
)
Index("ix_monitor_windows_model", monitor_windows.c.model, monitor_windows.c.id)

monitor_references = Table(  # a version's drift references, summarised once (JSON)
    "monitor_references",
    metadata,
    Column("key", String, primary_key=True),  # model hash and reference dataset
    Column("value", Text, nullable=False),
    Column("at", Float, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String, nullable=False),
    Column("window_id", Integer, nullable=True),
    Column("kind", String, nullable=False),  # data_drift | prediction_drift | ...
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON
    Column("delivery", Text, nullable=True),  # webhook outcome: "delivered" or the error
    Column("at", Float, nullable=False),
)
Index("ix_alerts_model", alerts.c.model, alerts.c.id)

automation_jobs = Table(  # one fired trigger: run, challenger, evaluation, decision
    "automation_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String, nullable=False),
    Column("alias", String, nullable=False),
    Column("trigger", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String, nullable=False),  # fired | trained | evaluated | done | failed
    Column("run_id", Integer, nullable=True),
    Column("challenger", Integer, nullable=True),  # model version
    Column("champion", Integer, nullable=True),
    Column("evaluation_id", Integer, nullable=True),
    Column("decision", String, nullable=True),  # promote | reject | await | approved
    Column("evidence", Text, nullable=True),  # JSON
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_automation_jobs_model", automation_jobs.c.model, automation_jobs.c.id)

automation_state = Table(  # what each trigger saw last (JSON), keyed by model/trigger
    "automation_state",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

leases = Table(  # a lock with an expiry: one tick at a time, and a crashed one times out
    "leases",
    metadata,
    Column("name", String, primary_key=True),
    Column("holder", String, nullable=False),
    Column("expires_at", Float, nullable=False),
    # the fencing token: +1 on every acquisition; writes under the lease carry it
    Column("generation", Integer, nullable=False, server_default="0"),
)


def _sized() -> None:
    """Give every text column its length from :data:`COLUMNS` (a KeyError names a new column
    that has no limit yet: add it there)."""
    for table in metadata.tables.values():
        for column in table.columns:
            if type(column.type) is String:
                column.type = String(COLUMNS[(table.name, column.name)][0])


_sized()
