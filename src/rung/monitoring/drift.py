"""Data drift of a served model: its training data against the inputs in the prediction log.

The reference is the training frame of the version (found through the registry's lineage),
summarised per feature by :mod:`rung.core.drift`. The window is read from the ``predictions``
table in chunks of rows, keyset-paginated by id, and only counts are kept, so a window of
millions of logged rows is read in bounded memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from rung.core.columns import ColumnKind, check_unique_names, drift_basis, kind_of, kinds_of
from rung.core.drift import (
    CategoricalReference,
    CategoricalWindow,
    NumericReference,
    NumericWindow,
    assess,
    measure_of,
)
from rung.core.errors import InvalidInput, NotFound
from rung.core.limits import WINDOW, check_length, is_digits, parse_int, shown
from rung.core.predlog import ANSWERED, MalformedRecord, inputs_of
from rung.store.metadata import MetadataStore

Reference = dict[str, NumericReference | CategoricalReference]
log = logging.getLogger("rung")


def build_reference(frame: Any, signature: dict[str, Any]) -> Reference:
    """One summary per feature of the signature, by its kind
    (:func:`rung.core.columns.drift_basis`): numbers by quantile bins (numeric and integer
    values, datetimes as epoch seconds in UTC, text by length), categories counted
    (categorical, boolean). A feature whose kind the signature lacks takes the kind of the
    reference's column."""
    features = signature.get("features", [])
    names = [str(c) for c in frame.columns]
    missing = [f for f in features if f not in names]
    if missing:
        raise InvalidInput(
            f"the reference lacks the model's feature(s) {missing[:5]}",
            "use the dataset the model was trained on, or one with the same columns",
        )
    check_unique_names(frame.columns, "the reference")
    specs = signature.get("columns", {})
    kinds = {
        name: ColumnKind.from_dict(specs[name]) if specs.get(name) else kind_of(frame[name])
        for name in features
    }
    return _summaries(frame, kinds)


def _summaries(frame: Any, kinds: dict[str, ColumnKind]) -> Reference:
    out: Reference = {}
    for name, kind in kinds.items():
        ref: NumericReference | CategoricalReference
        if drift_basis(kind.kind) == "categorical":
            ref = CategoricalReference.of(frame[name])
        else:
            ref = NumericReference.of(frame[name], measure=measure_of(kind.kind))
        ref.column = kind.to_dict()
        out[name] = ref
    return out


def frame_reference(frame: Any, columns: list[str] | None = None) -> Reference:
    """The reference of a DataFrame without a model: each column by its kind, as
    :func:`build_reference` does."""
    kinds = kinds_of(frame, "the reference")
    if columns is not None:
        kinds = {name: kinds[name] for name in columns if name in kinds}
    return _summaries(frame, kinds)


def compare_frames(
    reference: Any,
    current: Any,
    thresholds: dict[str, dict[str, Any]] | None = None,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Data drift between two DataFrames (the library form of Evidently's data drift preset):
    the same report as :func:`data_drift`, for ``columns`` (default: every column of
    ``reference``). Duplicate column names are refused (:class:`InvalidInput`)."""
    summary = frame_reference(reference, columns)
    check_unique_names(current.columns, "the current data")
    missing = [name for name in summary if name not in current.columns]
    if missing:
        raise InvalidInput(
            f"the current data lacks column(s) {missing[:5]}",
            "compare frames with the same columns, or pass columns=[...]",
        )
    for name, ref in summary.items():  # numbers against numbers, or one line naming the column
        if isinstance(ref, NumericReference) and ref.measure == "values" and ref.n:
            current_kind = kind_of(current[name]).kind
            if (
                current_kind not in ("numeric", "integer", "boolean")
                and current[name].notna().any()
            ):
                raise InvalidInput(
                    f"column {name!r} of the current data is not numeric like the reference's"
                    f" (it is {current_kind})",
                    "compare frames whose columns have the same kinds",
                )
    return compare_to(summary, current, thresholds)


def compare_to(
    summary: Reference, current: Any, thresholds: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The drift report of the DataFrame ``current`` against a reference already summarised
    (:func:`frame_reference`, :func:`build_reference`): what :func:`compare_frames` does
    after summarising, without its checks — many windows against one reference (the
    false-alarm benchmark, ``benchmarks/scripts/drift_false_alarms.py``)."""
    windows = {name: accumulator(ref) for name, ref in summary.items()}
    for name, window in windows.items():  # one column at a time: memory near one column's copy
        window.add(current[name])  # numbers by the reference's measure, or categories
    return _report(windows, thresholds)  # an empty current frame: every verdict None, noted


def parse_window(text: str) -> tuple[str, float]:
    """``1000`` (the latest 1000 predicted rows) or ``30m``/``12h``/``1d``/``2w`` (a period
    ending now): ``("rows", 1000)`` or ``("seconds", 43200.0)``, by the one grammar of
    :func:`rung.core.durations.window_spec`; :class:`InvalidInput` in one line otherwise."""
    from rung.core.durations import WindowOutOfRange, window_spec

    check_length(str(text), WINDOW, "window")
    spec = str(text).strip().lower().removesuffix(" predictions")
    if is_digits(spec):  # a count of rows: its range named, as for every other count
        parse_int(spec, "window (rows)")
    try:
        return window_spec(str(text))
    except WindowOutOfRange as exc:
        too = "too short" if "above 0" in str(exc) else "too long"
        raise InvalidInput(
            f"window {shown(str(text))} is {too}",
            f"{str(exc).replace('expected', 'give', 1)}",
        ) from None
    except ValueError:
        raise InvalidInput(
            f"cannot read the window {text!r}",
            "give a number of predictions (1000) or a period (30m, 12h, 1d, 2w)",
        ) from None


def window_start(store: MetadataStore, model: str, kind: str, size: float) -> dict[str, Any]:
    """Where a window ending now starts: ``{"since": time}`` or ``{"after_id": id}``."""
    import time

    if kind == "seconds":
        return {"since": time.time() - size}
    with store.read() as tx:  # the newest records holding at least `size` rows
        first = tx.scalar(
            "SELECT MIN(id) FROM (SELECT id, SUM(rows) OVER (ORDER BY id DESC) AS newer"
            " FROM predictions WHERE model = :m AND role <> 'shadow') t WHERE newer <= :n"
            " OR id = (SELECT MAX(id) FROM predictions WHERE model = :m AND role <> 'shadow')",
            {"m": model, "n": size},
        )
    return {"after_id": (int(first) - 1) if first is not None else 0}


def log_records(
    store: MetadataStore,
    model: str,
    fields: str,
    versions: list[int] | None = None,
    since: float | None = None,
    until: float | None = None,
    chunk: int = 2000,
    after_id: int = 0,
    until_id: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """``fields`` of the log records of ``model`` in a window, ``chunk`` records at a time,
    paginated by id (the one reader of the prediction log: drift and live performance).
    Shadow predictions (never sent to a client) are left out."""
    where = ["model = :m", "id > :last", ANSWERED]
    params: dict[str, Any] = {"m": model, "n": chunk}
    if versions:
        where.append("version IN (" + ", ".join(f":v{i}" for i in range(len(versions))) + ")")
        params.update({f"v{i}": v for i, v in enumerate(versions)})
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    if until is not None:
        where.append("at < :until")
        params["until"] = until
    if until_id is not None:
        where.append("id <= :until_id")
        params["until_id"] = until_id
    sql = f"SELECT id, {fields} FROM predictions WHERE {' AND '.join(where)} ORDER BY id LIMIT :n"
    last = after_id
    while True:
        with store.read() as tx:
            rows = tx.all(sql, {**params, "last": last})
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def logged_inputs(
    store: MetadataStore, model: str, **window: Any
) -> Iterator[dict[str, list[Any]]]:
    """The logged inputs of ``model`` as columns, a chunk of log records at a time;
    ``window`` as for :func:`log_records`."""
    for rows in log_records(store, model, "request_id, rows, inputs, status", **window):
        columns: dict[str, list[Any]] = {}
        for row in rows:
            if row["status"] >= 400:
                continue
            try:
                served = inputs_of(row)
            except MalformedRecord as exc:  # one bad record never stops the reading
                log.warning("%s", exc.message)
                continue
            for name, values in served.items():
                columns.setdefault(name, []).extend(values)
        yield columns


Accumulator = NumericWindow | CategoricalWindow


def accumulator(ref: NumericReference | CategoricalReference) -> Accumulator:
    """The window that counts served values over ``ref``'s bins or categories."""
    return NumericWindow(ref) if isinstance(ref, NumericReference) else CategoricalWindow(ref)


def count_columns(accumulators: dict[str, Accumulator], columns: dict[str, Any]) -> None:
    """Add a chunk of columns to the accumulators of the features it holds."""
    for name, acc in accumulators.items():
        if name in columns:
            acc.add(columns[name])


def feature_report(acc: Accumulator, chosen: dict[str, Any], name: str = "") -> dict[str, Any]:
    """Rows, nulls, every statistic, the null rates and the verdict (statistic, threshold)
    of one feature, and a one-line ``note`` where no statistic can be computed (see
    :func:`rung.core.drift.assess`); ``chosen``: its configured ``statistic``,
    ``threshold``, ``null_threshold`` and ``alpha``, if any."""
    out = assess(
        name,
        acc,
        chosen.get("statistic"),
        chosen.get("threshold"),
        chosen.get("null_threshold"),
        chosen.get("alpha"),
    )
    out["basis"] = out["kind"]  # how it is compared: numeric bins or categories
    if acc.ref.column:  # the column's kind, as data show and the signature report it
        out["kind"] = acc.ref.column["kind"]
        if acc.ref.column.get("timezone"):
            out["timezone"] = acc.ref.column["timezone"]
    if isinstance(acc, NumericWindow):  # what the numbers are: values, epoch seconds, lengths
        out["measure"] = acc.ref.measure
    if isinstance(acc, CategoricalWindow) and acc.unseen:
        out["unseen"] = acc.unseen
    return out


def data_drift(
    reference: Reference,
    chunks: Iterator[dict[str, Any]],
    thresholds: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Per feature: rows, nulls, every statistic, and the verdict (statistic, threshold);
    :class:`NotFound` when the window holds no row at all."""
    windows = {name: accumulator(ref) for name, ref in reference.items()}
    for columns in chunks:
        count_columns(windows, columns)
    if windows and max(w.n + w.nulls for w in windows.values()) == 0:
        raise NotFound(
            "no logged predictions in this window", "serve the model and send requests first"
        )
    return _report(windows, thresholds)


def _report(
    windows: dict[str, Accumulator], thresholds: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    features = {
        name: feature_report(window, (thresholds or {}).get(name, {}), name)
        for name, window in windows.items()
    }
    return {
        "rows": max((w.n + w.nulls for w in windows.values()), default=0),
        "features": features,
        "drifted": [n for n, f in features.items() if f["verdict"]["drift"]],
        "notes": [f["note"] for f in features.values() if "note" in f]
        + unmatched(thresholds, windows),
    }


def unmatched(thresholds: dict[str, Any] | None, features: Iterable[str]) -> list[str]:
    """A note for each ``[monitor.features.NAME]`` that names no feature of the model, with
    the nearest names: the setting is not an error (a workspace's ``[monitor]`` serves every
    model it monitors), but a misspelt one would otherwise be ignored silently."""
    from rung.core.suggest import did_you_mean

    names = list(features)
    return [
        f'[monitor.features."{key}"] names no feature of this model; '
        + (did_you_mean(key, names, "it is not applied") or "it is not applied")
        for key in (thresholds or {})
        if key not in names
    ]
