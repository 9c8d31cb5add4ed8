"""One model version ready to predict, and the prediction itself, shared by the service and
``rung predict`` (no web framework imported here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rung.core.columns import ColumnKind, model_input, sample_value
from rung.core.errors import InvalidInput, RungError, model_raised
from rung.core.outputs import checked, to_json


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
    """Predictions, and class probabilities when the model has them, of one version.

    Raises :class:`~rung.core.errors.ModelFailed` (500, one line naming the model's error and
    the rows) when the model itself raises — or :class:`~rung.core.errors.InvalidInput` (422)
    when it raised ValueError or TypeError on input that could not be checked first, because
    the version records no kind for some of its features and the request gave one of them a
    value that is not a finite number (a model failing on numbers alone is the model's fault:
    500)."""
    try:
        return _compute(held, frame)
    except RungError:
        raise
    except Exception as exc:
        failed = model_raised(exc, f"on rows 0 to {len(frame) - 1} of the request")
        unchecked = [f for f in unchecked_features(held.signature) if _not_all_numbers(frame, f)]
        if unchecked and isinstance(exc, ValueError | TypeError):
            raise InvalidInput(
                f"the model refused the input: {failed.message.removeprefix('the model ')}",
                f"send values like its training data's; the version records no kind for"
                f" {', '.join(unchecked[:5])}, so they could not be checked first",
            ) from exc
        raise failed from exc


def _not_all_numbers(frame: Any, feature: str) -> bool:
    """Whether ``frame[feature]`` holds anything but finite numbers (bools count as not)."""
    import math

    if feature not in getattr(frame, "columns", ()):
        return False
    return not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in frame[feature].tolist()
    )


def unchecked_features(signature: dict[str, Any]) -> list[str]:
    """The features whose kind the signature does not record (the service checks only that
    each is a present, single value)."""
    columns = signature.get("columns") or {}
    return [f for f in signature.get("features") or [] if f not in columns]


def _compute(held: Loaded, frame: Any) -> dict[str, Any]:
    x = frame if held.head is None else held.head.transform(model_input(frame, held.model))
    if held.head is None:
        x = model_input(frame, held.final)
    predicted = checked(held.final.predict(x), len(frame), f"on rows 0 to {len(frame) - 1}")
    out: dict[str, Any] = {"predictions": to_json(predicted)}
    if hasattr(held.final, "predict_proba"):
        proba = held.final.predict_proba(x)
        classes = [str(c) for c in held.final.classes_]
        # Python floats, in C: a tenth of float() per value
        rows = proba.tolist() if hasattr(proba, "tolist") else [list(map(float, r)) for r in proba]
        out["probabilities"] = [dict(zip(classes, row, strict=True)) for row in rows]
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


def warm(loaded: Loaded) -> None:
    """One prediction on a plausible row, so the first real request pays no lazy setup: each
    feature's :func:`~rung.core.columns.sample_value`, coerced like a request's values."""
    from rung.serving.payload import frame_of

    specs = loaded.signature.get("columns", {})
    row = {
        name: [sample_value(ColumnKind.from_dict(specs.get(name) or {"kind": "numeric"}))]
        for name in loaded.signature.get("features", [])
    }
    compute(loaded, frame_of(row, loaded.signature))
