"""The prediction log's retention: which records go, which stay, and why.

Configured in ``[serve]`` (:class:`rung.config.ServeSettings`): ``retention = "30d"`` (records
older than that go) and/or ``max_log_rows = N`` (at most N records: the oldest beyond go).
Applied by ``rung gc`` (shown by ``rung gc --dry-run``) and by the running service every
``prune_interval`` (one process at a time: a lease, as for gc).

**The rule.** A record is a *candidate* when it is older than ``retention`` or older than the
newest ``max_log_rows`` records. The *window kept* starts at the later of the two bounds (the
time ``retention`` ago; the time of the oldest record within the budget). A candidate is
kept all the same when:

1. **a label for it came back after the start of the window kept** (``feedback.at``): the
   ground truth that arrived late is what live performance and the automation judge on, and
   it needs its prediction — its record stays until its label is older than the window too;
2. **a monitoring window in progress needs it**: the records of the current window of its
   model, as ``rung monitor`` and the automation's drift triggers read it (``[monitor]
   window`` for that model, and the ``window`` of each drift trigger of ``[automate]``: the
   newest N predicted rows, or the records of the last period).

Ages are judged along the log's ids: records are committed in the order they are written
(group commit), so the newest record older than ``retention`` bounds the candidates, found by
a binary search on the primary key — no index on ``at``. A record inserted by hand with an
old ``at`` after newer ones is judged by its place in the log.

So the log may hold more than ``max_log_rows`` records while those are protected. The labels
of a deleted record go with it (no prediction is left to compare them with). A deleted
record's space is reused by later records (SQLite's file does not shrink without
``VACUUM``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from rung.core.durations import window_spec
from rung.store.metadata import MetadataStore, Tx

CHUNK = 2000  # records deleted per transaction


@dataclass
class RetentionReport:
    """What retention deleted (or would, in a dry run), and what it kept and why."""

    dry_run: bool
    retention_seconds: float | None
    max_log_rows: int | None
    records: int  # records deleted (or that would be)
    bytes: int  # the bytes of their inputs and outputs
    labels: int  # labels deleted with them
    kept_labelled: int  # candidates kept: a label came back within the window kept
    kept_monitoring: int  # candidates kept: a monitoring window in progress needs them
    remaining: int  # records in the log afterwards

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for ``rung gc`` and the service's log."""
        verb = "would delete" if self.dry_run else "deleted"
        rule = " and ".join(
            x
            for x in (
                f"older than {_spoken(self.retention_seconds)}"
                if self.retention_seconds is not None
                else "",
                f"beyond {self.max_log_rows} records" if self.max_log_rows is not None else "",
            )
            if x
        )
        return (
            f"prediction log: {verb} {self.records} record(s) {rule} ({_size(self.bytes)},"
            f" {self.labels} label(s)); kept {self.kept_labelled} with a recent label and"
            f" {self.kept_monitoring} a monitoring window needs; {self.remaining} remain"
        )


def windows(settings: Any, model: str) -> list[str]:
    """The monitoring windows in progress for ``model``: ``[monitor]``'s (or its model's
    table's) and each drift trigger's of ``[automate]`` for it (``settings``: the
    workspace's :class:`rung.config.Settings`)."""
    found = [str(settings.monitor.of(model).get("window", "1000"))]
    automated = settings.automate.per_model().get(model) or {}
    for trigger in automated.get("triggers") or []:
        if trigger.get("kind") == "drift" and trigger.get("window") is not None:
            found.append(str(trigger["window"]))
    return found


def prune(
    store: MetadataStore,
    settings: Any,
    *,
    dry_run: bool = False,
    now: float | None = None,
) -> RetentionReport | None:
    """Apply ``settings.serve``'s retention to the prediction log (see the module's
    docstring); None when neither ``retention`` nor ``max_log_rows`` is set. ``settings``:
    the workspace's :class:`rung.config.Settings`. Raises what the store raises
    (:class:`rung.core.errors.StoreUnavailable`)."""
    serve = settings.serve
    if serve.retention is None and serve.max_log_rows is None:
        return None
    now = time.time() if now is None else now
    where: list[str] = []
    params: dict[str, Any] = {}
    start = 0.0  # the window kept starts here (UNIX seconds)
    with store.read() as tx:
        if serve.retention is not None:
            start = now - float(serve.retention)
            last = _last_before(tx, start)
            if last is not None:
                params["cut"] = last
                where.append("id <= :cut")
        if serve.max_log_rows is not None:
            edge = tx.one(
                "SELECT id, at FROM predictions ORDER BY id DESC LIMIT 1 OFFSET :k",
                {"k": int(serve.max_log_rows) - 1},
            )
            if edge is not None:
                params["edge"] = edge["id"]
                where.append("id < :edge")
                start = max(start, float(edge["at"]))
        protect = _monitoring(tx, settings, now, params)
    params["start"] = start
    candidate = "(" + " OR ".join(where) + ")" if where else "1 = 0"
    labelled = (
        "EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = predictions.request_id"
        " AND f.at >= :start)"
    )
    needed = "(" + " OR ".join(protect) + ")" if protect else "1 = 0"
    doomed = f"{candidate} AND NOT {labelled} AND NOT {needed}"
    with store.read() as tx:
        kept_labelled = int(
            tx.scalar(f"SELECT COUNT(*) FROM predictions WHERE {candidate} AND {labelled}", params)
            or 0
        )
        kept_monitoring = int(
            tx.scalar(
                f"SELECT COUNT(*) FROM predictions WHERE {candidate} AND NOT {labelled}"
                f" AND {needed}",
                params,
            )
            or 0
        )
        total = int(tx.scalar("SELECT COUNT(*) FROM predictions") or 0)
        if dry_run:
            found = tx.one(
                "SELECT COUNT(*) AS n, SUM(LENGTH(inputs) + LENGTH(outputs)) AS size"
                f" FROM predictions WHERE {doomed}",
                params,
            ) or {"n": 0, "size": 0}
            labels = int(
                tx.scalar(
                    "SELECT COUNT(*) FROM feedback WHERE request_id IN"
                    f" (SELECT request_id FROM predictions WHERE {doomed})",
                    params,
                )
                or 0
            )
            return RetentionReport(
                True,
                serve.retention,
                serve.max_log_rows,
                int(found["n"] or 0),
                int(found["size"] or 0),
                labels,
                kept_labelled,
                kept_monitoring,
                total - int(found["n"] or 0),
            )
    records = size = labels = 0
    while True:
        with store.write() as tx:
            rows = tx.all(
                "SELECT id, request_id, LENGTH(inputs) + LENGTH(outputs) AS size"
                f" FROM predictions WHERE {doomed} ORDER BY id LIMIT {CHUNK}",
                params,
            )
            if not rows:
                break
            _each(tx, "DELETE FROM predictions WHERE id IN ({})", [r["id"] for r in rows])
            labels += _orphan_labels(tx, sorted({r["request_id"] for r in rows}))
        records += len(rows)
        size += sum(int(r["size"] or 0) for r in rows)
    return RetentionReport(
        False,
        serve.retention,
        serve.max_log_rows,
        records,
        size,
        labels,
        kept_labelled,
        kept_monitoring,
        total - records,
    )


def _last_before(tx: Tx, moment: float) -> int | None:
    """The id of the newest record written before ``moment`` (UNIX seconds), None if none.

    The log's ids follow its time — records are committed in the order they are written, a
    record's ``at`` taken just before — so a binary search over the primary key finds it in
    about 40 indexed reads, with no index on ``at`` (which would cost every record ~25
    bytes). Records committed out of order by a few milliseconds around the boundary may
    fall on either side of it."""
    bounds = tx.one("SELECT MIN(id) AS lo, MAX(id) AS hi FROM predictions")
    if not bounds or bounds["lo"] is None:
        return None
    lo, hi = int(bounds["lo"]), int(bounds["hi"])
    found = None
    while lo <= hi:  # the first record at or after `mid`, in id order
        mid = (lo + hi) // 2
        row = tx.one(
            "SELECT id, at FROM predictions WHERE id >= :i ORDER BY id LIMIT 1", {"i": mid}
        )
        if row is None:
            hi = mid - 1
        elif float(row["at"]) < moment:
            found, lo = int(row["id"]), int(row["id"]) + 1
        else:
            hi = mid - 1
    return found


def _monitoring(tx: Tx, settings: Any, now: float, params: dict[str, Any]) -> list[str]:
    """SQL conditions, one per model and window, that hold for the records a monitoring
    window in progress needs (``params`` gets their values)."""
    conditions = []
    models = [r["model"] for r in tx.all("SELECT DISTINCT model FROM predictions")]
    for i, model in enumerate(models):
        for j, window in enumerate(windows(settings, model)):
            kind, size = window_spec(window)
            key = f"{i}_{j}"
            params[f"m{key}"] = model
            if kind == "seconds":
                params[f"s{key}"] = now - size
                conditions.append(f"(model = :m{key} AND at >= :s{key})")
                continue
            first = tx.scalar(  # the newest records holding `size` rows (monitoring's rule)
                "SELECT MIN(id) FROM (SELECT id, SUM(rows) OVER (ORDER BY id DESC) AS newer"
                " FROM predictions WHERE model = :m) t WHERE newer <= :n"
                " OR id = (SELECT MAX(id) FROM predictions WHERE model = :m)",
                {"m": model, "n": size},
            )
            if first is not None:
                params[f"f{key}"] = int(first)
                conditions.append(f"(model = :m{key} AND id >= :f{key})")
    return conditions


def _orphan_labels(tx: Tx, request_ids: list[str]) -> int:
    """Delete the labels of ``request_ids`` that no longer have a record; how many."""
    gone = 0
    for k in range(0, len(request_ids), 500):
        chunk = request_ids[k : k + 500]
        marks = ", ".join(f":r{i}" for i in range(len(chunk)))
        values = {f"r{i}": r for i, r in enumerate(chunk)}
        orphan = (
            f"request_id IN ({marks}) AND NOT EXISTS (SELECT 1 FROM predictions p"
            " WHERE p.request_id = feedback.request_id)"
        )
        gone += int(tx.scalar(f"SELECT COUNT(*) FROM feedback WHERE {orphan}", values) or 0)
        tx.execute(f"DELETE FROM feedback WHERE {orphan}", values)
    return gone


def _each(tx: Tx, sql: str, ids: list[int]) -> None:
    for k in range(0, len(ids), 500):
        chunk = ids[k : k + 500]
        marks = ", ".join(f":i{i}" for i in range(len(chunk)))
        tx.execute(sql.format(marks), {f"i{i}": v for i, v in enumerate(chunk)})


def _spoken(seconds: float | None) -> str:
    from rung.core.durations import spoken

    return spoken(float(seconds or 0))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"
