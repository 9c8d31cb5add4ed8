"""Ground truth arriving after the prediction, keyed by request id and row (live performance).

Shapes (``POST /feedback``; ``rung feedback FILE`` builds the same entries):

* ``{"request_id", "label"}`` — the label of a one-row request;
* ``{"request_id", "row", "label"}`` — the label of row ``row`` (from 0) of any request;
* ``{"request_id", "labels": [...]}`` — one label per predicted row, exactly as many as the
  request had (``null`` for a row whose truth is not known yet: that row is left out);
* ``{"request_id", "row", "labels": [...]}`` — the labels of rows ``row``, ``row + 1``, …;
* ``{"feedback": [...]}`` of them, stored all or none.

**A client's own id keys feedback too**: ``"correlation_id"`` in place of ``"request_id"``
names the request by the id the client gave it — its ``X-Request-ID`` header, or the ``id``
of an Open Inference Protocol request (:mod:`rung.serving.v2`), kept as the record's
correlation id (:func:`rung.serving.http.bounded_correlation`). It must name exactly one
logged request: none is a 404, several (two requests sent with one id) a 409 naming how many,
whose fix is the request id (the ``X-Request-ID`` of each answer), which is always unique.

Checks, every failure a 422 naming the field (``feedback.0.labels.2``) in the one error body,
nothing stored:

* each label fits the version that answered the request (:mod:`rung.serving.labels`): one of
  its classes, with their JSON types, or a finite number for a regressor;
* a ``label`` without ``row`` for a request of several rows is ambiguous: refused; ``labels``
  without ``row`` must have one entry per predicted row; no label past the request's rows;
* a row labelled twice in one body is refused (which one would win is not said).

An unknown request id is a 404. A request id whose requests all failed (logged with their
status, no rows) has nothing to label: 422. Request ids are the server's (never a client's
``X-Request-ID``); for an id logged more than once (an older rung kept clients' ids), the
newest answered request with that id is the one labelled.

**One label per (request, row); the latest wins.** A label for a row that already has one
replaces it — the earlier label is not kept, but the row counts its ``corrections``, and a
replaced row gets a new feedback id (it is the newest label: automation's performance trigger
sees it). The same label sent again (a client's retry) changes nothing. The answer says
``{"accepted": n, "replaced": m}``: ``m`` of the ``n`` labels replaced a different one. A
unique index on ``(request_id, row)`` holds this whatever happens; writers also take one lock
(PostgreSQL's advisory lock; SQLite's write lock), so two calls at once are applied one
after the other and each answer counts exactly what it replaced.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rung.core.errors import InvalidInput, NotFound, RungError
from rung.core.hashing import canonical_json
from rung.core.limits import REQUEST_ID, shown
from rung.serving.labels import Target, target
from rung.serving.payload import (
    MAX_ERRORS,
    FieldError,
    PayloadError,
    expect_object,
    json_kind,
    unknown_fields,
)
from rung.store.metadata import MetadataStore, Tx

HINT = (
    'send {"request_id": "...", "label": ...} (or "correlation_id": your own id of the'
    ' request), or "labels": [one per row]'
)
"""What ``/feedback`` takes (the hint of its errors about the body's shape)."""
FIELDS = ["correlation_id", "label", "labels", "request_id", "row"]
"""The fields of one feedback entry; any other key is refused with the nearest of them."""
ROWS_HINT = (
    'give "row" (from 0) below the rows the request predicted, or "labels" with one label per row'
)


class AmbiguousCorrelation(RungError):
    """A feedback entry's ``correlation_id`` names several logged requests (HTTP 409)."""

    status = 409


@dataclass(frozen=True)
class Item:
    """One entry of a feedback body, its shape checked (not yet against the request)."""

    index: int  # its place in the body's ``feedback`` list (0 for a bare entry)
    request_id: str  # "" until its correlation id is resolved (:func:`_resolved`)
    row: int | None  # as given; None when the entry names no row
    field: str  # "label" or "labels"
    labels: list[Any]
    correlation: str | None = None  # the client's id of the request, when it named it so

    @property
    def named(self) -> str:
        """The request as messages name it: ``request '…'``, with the client's own id when
        the entry gave that."""
        c = f" (correlation id {shown(self.correlation)!r})" if self.correlation else ""
        return f"request {self.request_id!r}{c}"


@dataclass(frozen=True)
class Served:
    """The answered request a label is for: its newest record in the prediction log."""

    log_id: int
    rows: int  # the rows the request was answered with
    target: Target
    stored: frozenset[int] | None = None  # a sampled record's rows; None: every row


def items_of(body: Any) -> list[Item]:
    """The entries of a feedback body (see the module's docstring), or :class:`PayloadError`
    naming every malformed field: a request id that is not a string (or too long), a row that
    is not a number >= 0, ``labels`` that is not a non-empty list, a label that is not one
    scalar (a list or an object), a ``label`` that is null, both ``label`` and ``labels``."""
    body = expect_object(body, HINT)
    if "feedback" in body:
        stray = unknown_fields({k: v for k, v in body.items() if k != "feedback"}, ["feedback"], [])
        _raise(stray)  # beside "feedback", nothing: entries go inside it
        entries = body["feedback"]
    else:
        entries = [body]
    if not isinstance(entries, list) or not entries:
        raise PayloadError(
            f"'feedback' must be a non-empty list of entries, got {json_kind(entries)}", HINT
        )
    items: list[Item] = []
    errors: list[FieldError] = []
    for i, entry in enumerate(entries):
        item = _item(i, entry, errors)
        if item is not None:
            items.append(item)
    _raise(errors)
    return items


def _item(i: int, entry: Any, errors: list[FieldError]) -> Item | None:
    def bad(field: list[str | int], msg: str) -> Item | None:
        errors.append(FieldError(["feedback", i, *field], msg))
        return None

    if not isinstance(entry, dict):
        errors.append(
            FieldError(["feedback", i], f"each entry must be an object, got {json_kind(entry)}")
        )
        return None
    stray = unknown_fields(entry, FIELDS, ["feedback", i])
    if stray:  # a misspelt key: its fix, not the "field required" it leads to
        errors.extend(stray)
        return None
    if "request_id" in entry and "correlation_id" in entry:
        return bad(
            ["correlation_id"],
            "give 'request_id' (the server's id) or 'correlation_id' (yours), not both",
        )
    key = "correlation_id" if "correlation_id" in entry else "request_id"
    if not isinstance(entry.get(key), str) or not entry[key]:
        if key == "request_id":
            return bad([key], "field required (a string; or 'correlation_id': your id of it)")
        return bad([key], "expected a non-empty string: the id your request was sent with")
    request_id: str = entry[key]
    if len(request_id) > REQUEST_ID:
        return bad(
            [key],
            f"{shown(request_id)} has {len(request_id)} characters, over the limit of {REQUEST_ID}",
        )
    row = entry.get("row")
    if isinstance(row, float) and row.is_integer():  # 3.0 is the integer 3 in JSON, as in
        row = int(row)  # JSON Schema (and in an integer feature, rung.core.columns.problem)
    if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
        return bad(["row"], "expected a row number >= 0")
    if "labels" in entry and "label" in entry:
        return bad(["label"], "give 'label' (one row) or 'labels' (one per row), not both")
    if "labels" in entry:
        labels, field = entry["labels"], "labels"
        if not isinstance(labels, list) or not labels:
            return bad([field], "expected a non-empty list of labels")
    elif "label" in entry:
        labels, field = [entry["label"]], "label"
        if _missing(entry["label"]):
            return bad(
                [field],
                "null is not a label: leave the row out until its truth is known"
                ' (in "labels", null marks such a row)',
            )
    else:
        return bad(["label"], "field required (or 'labels': a list)")
    odd = next((j for j, v in enumerate(labels) if not _scalar(v)), None)
    if odd is not None:
        return bad(
            [field, odd] if field == "labels" else [field],
            f"expected one scalar label (a string, number, boolean or null) per row,"
            f" got {type(labels[odd]).__name__} {shown(str(labels[odd]))}",
        )
    if key == "correlation_id":
        return Item(i, "", row, field, labels, correlation=request_id)
    return Item(i, request_id, row, field, labels)


def record(store: MetadataStore, body: Any, *, text: bool = False) -> dict[str, Any]:
    """Check and store the labels of ``body`` (see the module's docstring), all or none;
    ``text``: string labels are text cells of a CSV file, read as the class or number they
    spell (:meth:`rung.serving.labels.Target.read`).

    Returns ``{"accepted": n, "replaced": m}``: ``n`` labels taken (nulls in ``labels`` are
    not labels), ``m`` of them replacing a different earlier label of their row; with
    ``"unstored": k`` and a one-line ``"note"`` when ``k`` labels were for rows the log did
    not keep (a sampled record, :mod:`rung.core.predlog`): they are checked like the others,
    then left out, since no prediction of theirs is stored to compare them with. Raises
    :class:`PayloadError` (422) naming every bad field, :class:`NotFound` (404) for an unknown
    request id or correlation id, :class:`AmbiguousCorrelation` (409) for a correlation id
    of several requests, :class:`InvalidInput` (422) for a request that failed."""
    items = items_of(body)
    now = time.time()
    with store.write() as tx:
        tx.lock("feedback")  # one writer at a time: each answer counts what it replaced
        items = _resolved(tx, items)
        served = _served(tx, sorted({i.request_id for i in items}))
        labels = _checked(items, served, text)
        unstored = {k: v for k, v in labels.items() if not _kept(served[k[0]], k[1])}
        labels = {k: v for k, v in labels.items() if k not in unstored}
        replaced = _store(tx, labels, now)
    answer: dict[str, Any] = {"accepted": len(labels), "replaced": replaced}
    if unstored:
        answer["unstored"] = len(unstored)
        answer["note"] = unstored_note(unstored, served)
    return answer


def _kept(served: Served, row: int) -> bool:
    """Whether the log holds ``row`` of the request (a sampled record holds some rows)."""
    return served.stored is None or row in served.stored


def unstored_note(unstored: dict[tuple[str, int], Any], served: dict[str, Served]) -> str:
    """One line saying which labels were left out because the log kept only a sample of
    their request's rows."""
    rid, row = min(unstored)
    s = served[rid]
    return (
        f"{len(unstored)} label(s) left out: their rows were not stored (e.g. row {row} of"
        f" request {rid!r}, whose log record kept a sample of {len(s.stored or ())} of its"
        f" {s.rows} rows; [serve] log_sample_rows)"
    )


def _resolved(tx: Tx, items: list[Item]) -> list[Item]:
    """``items`` with each correlation id replaced by the one request id it names (answers
    and canary answers; a shadow prediction shares its request's id). Raises
    :class:`NotFound` (404) for a correlation id of no request, :class:`AmbiguousCorrelation`
    (409) for one of several."""
    from dataclasses import replace

    found: dict[str, str] = {}
    for item in items:
        c = item.correlation
        if c is None or c in found:
            continue
        count = int(
            tx.scalar(
                "SELECT COUNT(DISTINCT request_id) FROM predictions"
                " WHERE correlation_id = :c AND role <> 'shadow'",
                {"c": c},
            )
            or 0
        )
        if count == 0:
            raise NotFound(
                f"no prediction with correlation id {shown(c)!r}",
                "use the id your request was sent with (its X-Request-ID header, or a v2"
                " request's 'id'), or the request_id its answer gave",
            )
        if count > 1:
            raise AmbiguousCorrelation(
                f"correlation id {shown(c)!r} names {count} logged requests: a label for it"
                " could be for any of them",
                'send "request_id" instead: the server\'s id of the one you mean (the'
                " X-Request-ID header of its answer), unique to each request",
            )
        found[c] = str(
            tx.scalar(
                "SELECT request_id FROM predictions"
                " WHERE correlation_id = :c AND role <> 'shadow' LIMIT 1",
                {"c": c},
            )
        )
    return [replace(i, request_id=found[i.correlation]) if i.correlation else i for i in items]


def _served(tx: Tx, request_ids: list[str]) -> dict[str, Served]:
    """Each request's newest answered record and the labels its version takes."""
    served: dict[str, Served] = {}
    signatures: dict[tuple[str, int], dict[str, Any] | None] = {}
    for rid in request_ids:
        found = tx.one(
            "SELECT id, model, version, rows, answered, status FROM predictions"
            " WHERE request_id = :r AND status < 400 AND role <> 'shadow'"
            " ORDER BY id DESC LIMIT 1",
            {"r": rid},
        )
        if found is None:
            failed = tx.scalar(
                "SELECT status FROM predictions WHERE request_id = :r AND role <> 'shadow'"
                " ORDER BY id DESC LIMIT 1",
                {"r": rid},
            )
            if failed is None:
                raise NotFound(
                    f"no prediction with request id {rid!r}",
                    "use the request_id a prediction returned",
                )
            raise InvalidInput(
                f"request {rid!r} failed (status {failed}): it has no prediction to label",
                "send labels for requests that were answered",
            )
        key = (found["model"], found["version"])
        if key not in signatures:
            text = tx.scalar(
                "SELECT signature FROM model_versions WHERE name = :n AND version = :v",
                {"n": key[0], "v": key[1]},
            )
            signatures[key] = json.loads(text) if text else None
        signature = signatures[key]
        predictions: list[Any] = []
        sampled = (found["answered"] or 0) > found["rows"]  # a sample of its rows was kept
        stored = None
        if sampled or not isinstance((signature or {}).get("classes"), list):
            from rung.core.predlog import outputs_of, request_rows

            record = tx.one(
                "SELECT id, request_id, rows, outputs, status FROM predictions WHERE id = :i",
                {"i": found["id"]},
            )
            outputs = outputs_of(record or {}) or {}
            predictions = outputs.get("predictions", [])  # judged by its answers
            if sampled:
                stored = frozenset(request_rows(outputs, len(predictions)))
        ref = f"{key[0]}@{key[1]}"
        rows = found["answered"] if sampled else found["rows"]
        served[rid] = Served(found["id"], rows, target(ref, signature, predictions), stored)
    return served


def _checked(
    items: list[Item], served: dict[str, Served], text: bool = False
) -> dict[tuple[str, int], Any]:
    """The labels to store, by (request id, row): every item checked against its request —
    rows, the multi-row rule, each label against the version's classes or numbers."""
    labels: dict[tuple[str, int], Any] = {}
    where: dict[tuple[str, int], list[str | int]] = {}
    errors: list[FieldError] = []
    for item in items:
        s = served[item.request_id]
        loc: list[str | int] = ["feedback", item.index, item.field]
        rid, n = item.request_id, len(item.labels)
        if item.row is None and item.field == "label" and s.rows > 1:
            errors.append(
                FieldError(
                    loc,
                    f"{item.named} predicted {s.rows} rows: one label without a row is"
                    ' ambiguous; send "labels" (one per row) or "row" with the label',
                    ROWS_HINT,
                )
            )
            continue
        if item.row is None and item.field == "labels" and n != s.rows:
            errors.append(
                FieldError(
                    loc,
                    f"{n} label(s) for {item.named}, which predicted {s.rows} row(s):"
                    ' send one per row (null for a row not known yet), or give "row"',
                    ROWS_HINT,
                )
            )
            continue
        start = item.row or 0
        if start + n > s.rows:
            errors.append(
                FieldError(
                    ["feedback", item.index, "row"],
                    f"{item.named} predicted {s.rows} row(s), got a label for row"
                    f" {start + n - 1} (rows count from 0)",
                    ROWS_HINT,
                )
            )
            continue
        for j, value in enumerate(item.labels):
            at = [*loc, j] if item.field == "labels" else loc
            if _missing(value):  # null in "labels": that row is not labelled yet
                continue
            read = text and isinstance(value, str)
            fits, label = s.target.read(value) if read else s.target.check(value)
            if not fits:
                errors.append(FieldError(at, label, s.target.hint()))
                continue
            key = (rid, start + j)
            if key in where:
                first = ".".join(map(str, where[key]))
                errors.append(
                    FieldError(
                        at,
                        f"row {start + j} of {item.named} is labelled twice in one body"
                        f" (also at {first})",
                        "send each row's label once",
                    )
                )
                continue
            labels[key], where[key] = label, at
    _raise(errors)
    return labels


def _store(tx: Tx, labels: dict[tuple[str, int], Any], now: float) -> int:
    """Insert the new labels; a row whose label differs from the one stored gets the new label
    under a new id, its ``corrections`` one higher; the same label again changes nothing.
    Returns how many labels replaced a different one."""
    fresh: list[dict[str, Any]] = []
    stale: list[int] = []
    by_request: dict[str, list[tuple[int, Any]]] = {}
    for (rid, row), label in labels.items():
        by_request.setdefault(rid, []).append((row, label))
    for rid in sorted(by_request):
        stored = {
            f["row"]: f
            for f in tx.all(
                'SELECT id, "row", label, corrections FROM feedback WHERE request_id = :r',
                {"r": rid},
            )
        }
        for row, label in by_request[rid]:
            text = canonical_json(label)
            before = stored.get(row)
            if before is not None and before["label"] == text:
                continue  # a retry: nothing new
            if before is not None:
                stale.append(before["id"])
            fresh.append(
                {
                    "request_id": rid,
                    "row": row,
                    "label": text,
                    "at": now,
                    "corrections": 0 if before is None else before["corrections"] + 1,
                }
            )
    # the replaced rows step aside (row -id: unique, never a real row) so that the new labels
    # are inserted while they still exist — SQLite reuses the highest rowid once it is
    # deleted, and a correction must get an id above every earlier one — then go
    _each(tx, 'UPDATE feedback SET "row" = -id WHERE id IN ({})', stale)
    tx.insert_many("feedback", fresh)
    _each(tx, "DELETE FROM feedback WHERE id IN ({})", stale)
    return len(stale)


def _each(tx: Tx, sql: str, ids: list[int]) -> None:
    """Run ``sql`` (an ``IN ({})`` of ids) on ``ids``, 500 at a time."""
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(f":i{k}" for k in range(len(chunk)))
        tx.execute(sql.format(marks), {f"i{k}": i for k, i in enumerate(chunk)})


def _raise(errors: list[FieldError]) -> None:
    """The one 422 of a feedback body: the first error located, its own hint (a label's: the
    model's classes; a row's: the request's rows) or the route's :data:`HINT`."""
    if errors:
        from rung.core.text import and_more

        raise PayloadError(
            f"invalid feedback at {'.'.join(map(str, errors[0].loc))}: {errors[0].msg}"
            + and_more([".".join(map(str, e.loc)) for e in errors[1:]]),
            errors[0].hint or HINT,
            errors[:MAX_ERRORS],
        )


def feedback_file(store: MetadataStore, path: str | Path, label: str = "label") -> dict[str, Any]:
    """Send back the labels of a CSV or Parquet file keyed like ``rung predict``'s output:
    columns ``request_id``, ``request_row`` and ``label`` (the scored file itself with a label
    column added, or any subset of its rows). Rows with a missing label are left out and
    counted; the rest are stored all or none (see :func:`record`).

    Returns ``{"accepted": n, "replaced": r, "unlabelled": m}``; raises :class:`InvalidInput`
    naming missing columns, a bad row number or the line of a label that does not fit the
    model (see :func:`record`), :class:`NotFound` for an unknown request id."""
    import pandas as pd

    from rung.data.datasets import TABULAR, read_table

    source = Path(path)
    if not source.exists():
        raise NotFound(f"no feedback file {str(source)!r}", "check the path")
    fmt = TABULAR.get(source.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"cannot read feedback from {str(source)!r}", "give a .csv or .parquet")
    if fmt == "csv":  # a CSV cell has no type: the labels are read as the model's classes
        try:
            frame = pd.read_csv(source, dtype={label: str})
        except (ValueError, OSError):
            frame = read_table(source, fmt, "fix the file")  # its one-line error
    else:
        frame = read_table(source, fmt, "fix the file")
    wanted = ["request_id", "request_row", label]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{str(source)!r} lacks column(s) {missing}",
            "give the file `rung predict` wrote, with a label column (--label NAME)",
        )
    known = frame[pd.notna(frame[label])]
    rows = pd.to_numeric(known["request_row"], errors="coerce")
    bad = known.index[rows.isna() | (rows < 0) | (rows % 1 != 0)]
    if len(bad):
        raise InvalidInput(
            f"{str(source)!r} has a bad request_row {_plain(known.loc[bad[0], 'request_row'])!r}",
            "request_row is the row number `rung predict` wrote (0, 1, ...)",
        )
    body = {
        "feedback": [
            {"request_id": str(rid), "row": int(row), "label": _plain(value)}
            for rid, row, value in zip(known["request_id"], rows, known[label], strict=True)
        ]
    }
    try:
        answer = (
            record(store, body, text=fmt == "csv")
            if body["feedback"]
            else {"accepted": 0, "replaced": 0}
        )
    except PayloadError as exc:  # named by the file's line, not the entry's place
        raise _on_line(exc, source, [int(i) for i in known.index]) from None
    return {**answer, "unlabelled": len(frame) - len(known)}


def _on_line(exc: PayloadError, source: Path, index: list[int]) -> InvalidInput:
    """The first refusal of a feedback file, naming its line (the header is line 1)."""
    loc, msg = exc.errors[0].loc, exc.errors[0].msg
    if len(loc) < 2 or not isinstance(loc[1], int):
        return InvalidInput(exc.message, exc.hint)
    from rung.core.text import and_more

    lines = [
        f"line {index[e.loc[1]] + 2}"
        if len(e.loc) >= 2 and isinstance(e.loc[1], int)
        else ".".join(map(str, e.loc))
        for e in exc.errors[1:]
    ]
    more = and_more(lines)
    return InvalidInput(f"{str(source)!r} line {index[loc[1]] + 2}: {msg}{more}", exc.hint)


def _scalar(value: Any) -> bool:
    """A label is one value per row: a string, a number, a boolean or null. A list or an
    object is not (it would be stored, counted as labelled and never equal a prediction)."""
    return value is None or isinstance(value, str | int | float | bool)


def _missing(value: Any) -> bool:
    """A label that says nothing: null or NaN (the row stays unlabelled)."""
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    """A label as JSON holds it: numpy scalars become Python numbers; anything else (an
    array, a list) is kept, and :func:`items_of` refuses it."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
