"""Finding a pipeline from text: ``path/to/file.py:function`` or ``package.module:function``.

Runs record this target (relative to the workspace root when it is a file inside it) so that
``rung reproduce`` can import the same pipeline again.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import hash_bytes
from rung.core.suggest import closest, unknown
from rung.pipelines.steps import Pipeline


def load_pipeline(target: str, root: Path, named: Iterable[str] = ()) -> Pipeline:
    """Import the pipeline named by ``target``; ``named`` are the pipeline names configured
    in rung.toml, suggested when ``target`` is neither one of them nor a ``file:function``.

    Anything else — a plain function included, which would run no step and record an empty
    run — raises InvalidInput before anything is recorded."""
    if ":" not in target:
        found = discover(root)
        near = closest(target, named) + ([found[target]] if target in found else [])
        near += [found[n] for n in closest(target, found)]
        hint = "write path/to/file.py:function or module:function, or name it under [pipelines] in rung.toml"
        if near:
            hint = f"did you mean {' or '.join(repr(n) for n in near[:3])}? ({hint})"
        raise NotFound(f"unknown pipeline {target!r}", hint)
    obj = load_object(target, root)
    if not isinstance(obj, Pipeline):
        what = "a plain function" if inspect.isfunction(obj) else f"a {type(obj).__name__}"
        raise InvalidInput(
            f"{target} is {what}, not a pipeline",
            "decorate it with @rung.pipeline (and the functions it calls with @rung.step)",
        )
    return obj


_DECORATED = re.compile(
    r"^@(?:rung\.)?pipeline\b[^\n]*\n(?:@[^\n]*\n)*(?:async\s+)?def\s+(\w+)", re.M
)


def discover(root: Path, limit: int = 1_000_000) -> dict[str, str]:
    """Pipelines declared in the ``*.py`` files of ``root`` (not its sub-folders), found by
    reading their text, never importing them: function name → ``file.py:function``. Files
    over ``limit`` bytes are skipped. Used only to suggest a target for a bare name."""
    found: dict[str, str] = {}
    for path in sorted(root.glob("*.py")):
        try:
            if path.stat().st_size > limit:
                continue
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for match in _DECORATED.finditer(text):
            found.setdefault(match.group(1), f"{path.name}:{match.group(1)}")
    return found


def pipeline_file(location: str, root: Path) -> Path | None:
    """The file ``path/to/file.py`` of a target as :func:`load_object` finds it: relative
    to the workspace ``root`` first, then to the current folder; None when neither has it."""
    path = Path(location)
    path = path if path.is_absolute() else (root / path if (root / path).exists() else path)
    return path if path.exists() else None


def load_object(target: str, root: Path) -> object:
    """Import whatever ``path/to/file.py:name`` or ``module:name`` names."""
    location, sep, attr = target.rpartition(":")
    if not sep or not location or not attr:
        raise InvalidInput(
            f"cannot find pipeline {target!r}",
            "write path/to/file.py:function or module:function, or name it under"
            " [pipelines] in rung.toml",
        )
    if location.endswith(".py"):
        path = pipeline_file(location, root)
        if path is None:
            raise NotFound(f"no pipeline file {location!r}", "check the path in the target")
        module = _import_file(path.resolve())
    else:
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as exc:
            raise NotFound(
                f"cannot import module {location!r} ({exc})", "check PYTHONPATH"
            ) from exc
    obj = getattr(module, attr, None)
    if obj is None:
        public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        pipelines = [n for n in public if isinstance(getattr(module, n), Pipeline)]
        raise unknown(
            "attribute",
            attr,
            pipelines or public,
            "check the name after ':'",
            message=f"{location} has no attribute {attr!r}",
        )
    return obj


def _import_file(path: Path) -> object:
    """The module of a pipeline file, imported again when the file changed since (in a
    long-lived process — a notebook, the Python API — an edited file must not run stale)."""
    name = f"rung_pipeline_{hash_bytes(str(path).encode())[:12]}"
    stamp = hash_bytes(path.read_bytes())
    held = sys.modules.get(name)
    if held is not None and getattr(held, "__rung_stamp__", None) == stamp:
        return held
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so that the file can import its sibling helpers
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__rung_stamp__ = stamp  # type: ignore[attr-defined]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # a file that fails to import is not kept half-run
        raise
    return module


def target_of(pipe: Pipeline, root: Path) -> str | None:
    """The text that loads ``pipe`` again, or None when it cannot be found from a file."""
    try:
        path = Path(inspect.getfile(pipe.func)).resolve()
    except (TypeError, OSError):
        return None
    attr = pipe.func.__name__
    if path.is_relative_to(root):
        return f"{path.relative_to(root).as_posix()}:{attr}"
    return f"{path}:{attr}"
