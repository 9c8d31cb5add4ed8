"""rung: MLOps one rung at a time.

``import rung`` is cheap: the public names below load their modules on first use, so that
``rung --help`` and scripts that only need one piece do not pay for pandas, scikit-learn or
SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "rung.workspace",
    "step": "rung.pipelines.steps",
    "pipeline": "rung.pipelines.steps",
    "Step": "rung.pipelines.steps",
    "Pipeline": "rung.pipelines.steps",
    "dataset": "rung.pipelines.runner",
    "check_schema": "rung.pipelines.runner",
    "register_model": "rung.registry.models",
    "log_metric": "rung.pipelines.tracking",
    "log_metrics": "rung.pipelines.tracking",
    "log_params": "rung.pipelines.tracking",
    "RungError": "rung.core.errors",
    "Application": "rung.evaluation.application",
    "Component": "rung.evaluation.application",
    "Client": "rung.serving.client",
}

__all__ = [
    "Application",
    "Client",
    "Component",
    "Pipeline",
    "RungError",
    "Step",
    "Workspace",
    "check_schema",
    "dataset",
    "log_metric",
    "log_metrics",
    "log_params",
    "pipeline",
    "register_model",
    "step",
]

if TYPE_CHECKING:
    from rung.core.errors import RungError
    from rung.evaluation.application import Application, Component
    from rung.pipelines.runner import check_schema, dataset
    from rung.pipelines.steps import Pipeline, Step, pipeline, step
    from rung.pipelines.tracking import log_metric, log_metrics, log_params
    from rung.registry.models import register_model
    from rung.serving.client import Client
    from rung.workspace import Workspace


def __dir__() -> list[str]:
    """The public API as well as what is already loaded, so that ``dir(rung)`` and tab
    completion in a REPL list the lazy names before their first use."""
    import types

    loaded = {n for n, v in globals().items() if isinstance(v, types.ModuleType)}
    return sorted({*__all__, *loaded, *(n for n in globals() if n.startswith("__"))})


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rung' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
