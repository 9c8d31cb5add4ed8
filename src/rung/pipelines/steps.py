"""``@step`` and ``@pipeline``: plain functions, wired by passing one step's output to the next.

Outside a run, a step is just its function (call it in a unit test like any other function).
Inside a run, calling a step hands it to the run's executor, which checks the cache, runs it
if needed, stores its outputs and returns :class:`Output` handles that the next step takes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from rung.core.limits import NAME, check_length

F = TypeVar("F", bound=Callable[..., Any])


class Step:
    """A function whose calls inside a run are cached, stored and tracked."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        outputs: Sequence[str] | None = None,
        pickle: bool = False,
        cache: bool = True,
    ) -> None:
        self.func = func
        self.name = check_length(name or func.__name__, NAME, "step name")
        self.outputs = tuple(outputs) if outputs else ("output",)
        for output in self.outputs:
            check_length(output, NAME, "step output name")
        self.pickle = pickle
        self.cache = cache
        self.signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from rung.pipelines.runner import current_executor

        executor = current_executor()
        if executor is None:
            return self.func(*args, **kwargs)
        return executor.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<rung step {self.name}>"


class Pipeline:
    """A function that calls steps; its parameters are the run's parameters."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None) -> None:
        self.func = func
        self.name = check_length(name or func.__name__, NAME, "pipeline name")
        self.signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def defaults(self) -> dict[str, Any]:
        return {
            k: p.default
            for k, p in self.signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def __repr__(self) -> str:
        return f"<rung pipeline {self.name}>"


@overload
def step(func: F) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    pickle: bool = False,
    cache: bool = True,
) -> Callable[[F], Step]: ...
def step(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    pickle: bool = False,
    cache: bool = True,
) -> Any:
    """Make ``func`` a pipeline step.

    ``outputs`` names several outputs when the function returns a tuple; ``pickle=True``
    allows outputs of types rung cannot otherwise store (they will be loaded with pickle);
    ``cache=False`` always re-executes the step.
    """

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(f, name=name, outputs=outputs, pickle=pickle, cache=cache)

    return wrap(func) if func is not None else wrap


@overload
def pipeline(func: F) -> Pipeline: ...
@overload
def pipeline(*, name: str | None = None) -> Callable[[F], Pipeline]: ...
def pipeline(func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make ``func`` a pipeline: its keyword parameters become ``-p key=value`` parameters."""

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name)

    return wrap(func) if func is not None else wrap
