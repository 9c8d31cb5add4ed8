"""``rung predict``: score a CSV or Parquet file in chunks with a registered version, and log it
like the service does (one prediction record per chunk, built by :func:`rung.core.predlog.record`).

The output file is the input with ``prediction`` (and ``proba_<class>``) added, and each row's
key in the prediction log: ``request_id`` (one per chunk) and ``request_row`` (its row in that
request). Labels for batch predictions go back under that key: ``rung feedback FILE``
(:func:`rung.serving.feedback.feedback_file`) or ``POST /feedback``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rung.core import predlog
from rung.core.columns import check_unique_names, json_column, model_input
from rung.core.errors import InvalidInput, NotFound, RungError, model_raised
from rung.core.outputs import checked, to_json
from rung.data.datasets import TABULAR, read_table
from rung.registry.models import require_signature
from rung.serving.log import PredictionLog
from rung.serving.payload import parse
from rung.serving.predictor import split

CHUNK = 50_000
# what the output file adds to the input's columns: the answer and the key of each row in the
# prediction log, (request_id, request_row), under which labels are sent back
OUTPUT_COLUMNS = ("prediction", "request_id", "request_row")


def _read(path: Path) -> Any:
    if not path.exists():
        raise NotFound(f"no input file {str(path)!r}", "check the path")
    fmt = TABULAR.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"cannot score {str(path)!r}", "give a .csv or .parquet file")
    return read_table(path, fmt, "fix the file")


def score_file(
    ws: Any,
    ref: str,
    input_path: str | Path,
    output_path: str | Path,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Predict every row of ``input_path`` into ``output_path``; returns a summary."""
    out = Path(output_path)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InvalidInput(f"cannot write {str(out)!r}", "give a .csv or .parquet output file")
    version, model = ws.models.load(ref)  # verified bytes; pickle only if opted in
    signature = require_signature(version)
    frame = _read(Path(input_path))
    check_unique_names(frame.columns, repr(str(input_path)))
    features = signature["features"]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{str(input_path)!r} lacks the model's feature column(s) {missing[:5]}",
            f"the model reads: {', '.join(features)}",
        )
    taken = [c for c in OUTPUT_COLUMNS if c in frame.columns]
    if taken:
        raise InvalidInput(
            f"{str(input_path)!r} already has column(s) {taken} that scoring adds",
            "rename or drop them in the input file",
        )
    head, final = split(model)
    log = PredictionLog(ws.store)
    batch_id = uuid.uuid4().hex[:12]
    pieces, pending, request_ids = [], [], []
    try:
        for k, start in enumerate(range(0, len(frame), chunk)):
            started = time.perf_counter()
            part = frame.iloc[start : start + chunk]
            x, columns = parse({"columns": {f: json_column(part[f]) for f in features}}, signature)
            scored = part.copy()
            try:
                _score(scored, x, model, head, final)
            except RungError:
                raise
            except Exception as exc:  # the model's own fault, named with its rows
                end = start + len(part) - 1
                raise model_raised(exc, f"on {str(input_path)!r}, rows {start} to {end}") from exc
            outputs: dict[str, Any] = {"predictions": to_json(scored["prediction"].to_numpy())}
            request_id = f"batch-{batch_id}-{k}"
            request_ids.append(request_id)
            scored["request_id"] = request_id  # the key to send labels back: see feedback_file
            scored["request_row"] = range(len(part))
            pending.append(
                log.submit(
                    predlog.record(
                        request_id=request_id,
                        model=version.name,
                        version=version.version,
                        inputs=columns,
                        outputs=outputs,
                        latency_ms=(time.perf_counter() - started) * 1000,
                    )
                )
            )
            pieces.append(scored)
            if progress:
                progress(min(start + chunk, len(frame)), len(frame))
        for done in pending:
            done.result()
    finally:
        log.close()
    import pandas as pd

    result = pd.concat(pieces) if pieces else frame.iloc[0:0]
    if out.suffix.lower() == ".csv":
        result.to_csv(out, index=False)
    else:
        result.to_parquet(out, index=False)
    return {
        "model": version.ref,
        "rows": len(frame),
        "output": str(out),
        "request_ids": request_ids,
    }


def _score(scored: Any, x: Any, model: Any, head: Any, final: Any) -> None:
    """Add ``prediction`` (and ``proba_<class>``) columns to ``scored``: the model's calls."""
    xt = (  # transformers once for both calls
        model_input(x, final) if head is None else head.transform(model_input(x, model))
    )
    scored["prediction"] = checked(final.predict(xt), len(scored))
    if hasattr(final, "predict_proba"):
        proba = final.predict_proba(xt)
        for j, c in enumerate(final.classes_):
            scored[f"proba_{c}"] = proba[:, j]
