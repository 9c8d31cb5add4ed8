"""One model version ready to predict, and the prediction itself, shared by the service and
``rung predict`` (no web framework imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Loaded:
    """One version, ready to predict; swapped as a whole."""

    name: str
    version: int
    model: Any
    signature: dict[str, Any]
    head: Any  # a scikit-learn Pipeline's transformers (run once for both calls), or None
    final: Any  # the estimator that predicts (the model itself if not a Pipeline)


def ready(name: str, version: int, model: Any, signature: dict[str, Any]) -> Loaded:
    """The version split for prediction and warmed by one prediction."""
    head, final = split(model)
    loaded = Loaded(name, version, model, signature, head, final)
    warm(loaded)
    return loaded


def compute(held: Loaded, frame: Any) -> dict[str, Any]:
    """Predictions, and class probabilities when the model has them, of one version."""
    x = frame if held.head is None else held.head.transform(frame)
    out: dict[str, Any] = {"predictions": _plain(held.final.predict(x))}
    if hasattr(held.final, "predict_proba"):
        proba = held.final.predict_proba(x)
        classes = [str(c) for c in held.final.classes_]
        out["probabilities"] = [dict(zip(classes, map(float, row), strict=True)) for row in proba]
    return out


def split(model: Any) -> tuple[Any, Any]:
    """``(transformers, final estimator)`` of a scikit-learn Pipeline, else ``(None, model)``.

    ``Pipeline.predict`` and ``predict_proba`` each run every transformer; the service wants
    both, and for one row the transformers (a ColumnTransformer on a DataFrame above all) are
    most of the cost. Running them once and both final calls on the result is what the two
    Pipeline methods compute, at half the price.
    """
    steps = getattr(model, "steps", None)
    if type(model).__name__ == "Pipeline" and isinstance(steps, list) and len(steps) > 1:
        final = steps[-1][1]
        if final is not None and final != "passthrough":
            return model[:-1], final
    return None, model


def _plain(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def warm(loaded: Loaded) -> None:
    """One prediction on a plausible row, so the first real request pays no lazy setup."""
    import pandas as pd

    row: dict[str, Any] = {}
    for name in loaded.signature.get("features", []):
        spec = loaded.signature.get("columns", {}).get(name, {})
        cats, kind = spec.get("categories"), spec.get("kind")
        if cats:
            row[name] = cats[0]
        else:
            row[name] = {"boolean": False, "categorical": "", "datetime": "2000-01-01"}.get(
                kind or "", 0.0
            )
    compute(loaded, pd.DataFrame([row]))
