"""Applications made of several models, evaluated end to end.

The thesis's team shipped a chatbot in which four models work together (language detection →
intent → entities → response) and judged the whole application, not only each model. An
:class:`Application` declares such a composition in Python::

    app = rung.Application("assistant", [
        rung.Component("language", "12:train_language.output", label="language"),
        rung.Component("intent", "15", inputs=["text", "language"], label="intent"),
        rung.Component("response", choose_response),           # a plain function
    ])
    ws.evaluate(app, ["clientA@1", "clientB@2"], label="response")

Components run in order on each dataset. Each adds a column named after itself holding its
predictions, so later components can read earlier ones. The application's prediction is the
last component's. Where a dataset has a component's ``label`` column, that component's own
metrics are reported too, as ``<component>.<metric>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rung.core.errors import InvalidInput

Function = Callable[[Any], Any]  # frame -> predictions (one per row)


@dataclass
class Component:
    """One part of an application: a model (run id, RUN:STEP.OUTPUT, hash) or a function."""

    name: str
    model: str | Function
    inputs: Sequence[str] | None = None  # columns it reads; default: the model's features
    label: str | None = None  # the dataset column holding this component's ground truth


@dataclass
class Application:
    """Named components evaluated as one application."""

    name: str
    components: Sequence[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.components:
            raise InvalidInput(
                f"application {self.name!r} has no components", "add at least one Component"
            )
        names = [c.name for c in self.components]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidInput(
                f"application {self.name!r} repeats component names {dupes}",
                "name each component once",
            )


@dataclass
class Step:
    """A component as a worker runs it: a verified model file, or the function itself."""

    name: str
    model_path: str | None
    model_kind: str | None
    function: Function | None
    inputs: Sequence[str] | None
    label: str | None
    allow_pickle: bool = False  # the opt-in recorded for its model
    opt_in: str = ""  # how a refusal says to opt in (materialize.OPT_IN_*)


class Chain:
    """Runs the components of an application on a frame; behaves like a model with ``predict``."""

    def __init__(self, steps: Sequence[Step]) -> None:
        from rung.evaluation.worker import load_model

        self.steps = steps
        self.models = {
            s.name: load_model(
                s.model_path,
                s.model_kind,
                s.allow_pickle,
                what=f"component {s.name}'s model",
                opt_in=s.opt_in,
            )
            for s in steps
            if s.model_path and s.model_kind
        }
        last = self.models.get(steps[-1].name)
        if last is not None and hasattr(last, "classes_"):
            self.classes_ = last.classes_

    def run(self, frame: Any, dataset: str) -> tuple[Any, dict[str, Any]]:
        """The frame with one column per component, and each component's probabilities."""
        from rung.evaluation.worker import predict

        frame = frame.copy()
        probas: dict[str, Any] = {}
        for step in self.steps:
            model = self.models.get(step.name)
            if model is not None:
                features = _columns(frame, step, model, dataset)
                pred, proba = predict(model, features, f"{dataset} (component {step.name})")
                probas[step.name] = proba
            else:
                assert step.function is not None
                try:
                    pred = step.function(frame)
                except Exception as exc:
                    raise InvalidInput(
                        f"component {step.name!r} raised {type(exc).__name__}: {exc} on dataset {dataset}",
                        "fix the component's function",
                    ) from exc
                probas[step.name] = None
            count = len(pred) if hasattr(pred, "__len__") else -1
            if count != len(frame):
                raise InvalidInput(
                    f"component {step.name!r} returned {count} predictions for {len(frame)} rows",
                    "return one prediction per row",
                )
            frame[step.name] = list(pred)
        return frame, probas


def _columns(frame: Any, step: Step, model: Any, dataset: str) -> Any:
    fitted = getattr(model, "feature_names_in_", None)
    names = (
        list(step.inputs) if step.inputs else ([] if fitted is None else [str(n) for n in fitted])
    )
    if not names:
        raise InvalidInput(
            f"component {step.name!r} needs its input columns",
            "pass inputs=[...] (the model was not fitted on a DataFrame with column names)",
        )
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidInput(
            f"dataset {dataset} lacks column(s) {missing[:5]} that component {step.name!r} reads",
            "evaluate on data with those columns, or compute them in an earlier component",
        )
    return frame[names]
