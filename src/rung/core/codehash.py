"""Fingerprints of a step's code, so that the cache knows when code changed.

The rule (documented in docs/pipelines.md):

* the step function's own source counts, parsed to an AST so that comments, blank lines and
  formatting do not;
* every function or class of the *user's project* that the step refers to by name — directly,
  as ``module.helper``, or through another such helper — counts too, transitively;
* module-level (and closure) values that are data count by value: numbers, strings, bytes,
  ``None``, and lists, tuples, sets, frozensets and dicts of them, nested to any depth; numpy
  arrays and pandas objects by their dtype, shape and bytes; enum members and other objects
  whose ``repr`` shows their value (a scikit-learn estimator's parameters, a compiled regex, a
  path) by that ``repr``. An object whose ``repr`` is only its address cannot be
  fingerprinted: it is listed among the code names as ``NAME=<not fingerprinted: Type>``.
  A global counts by the value it had when first fingerprinted in this process, until it is
  rebound (so runtime state mutated in place does not change the key);
* code of installed packages (anything under ``site-packages``, the standard library, rung
  itself) does not count by source: it is pinned by the package versions each run records.

A project module is any Python file outside the interpreter's installation and outside
``site-packages``/``dist-packages``.
"""

from __future__ import annotations

import ast
import inspect
import marshal
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rung.core.hashing import hash_bytes, hash_json

_SIMPLE = (bool, int, float, str, bytes, type(None))


@lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.add(str(Path(__file__).resolve().parents[1]))  # rung itself
    return tuple(sorted(str(Path(p).resolve()) for p in paths))


@lru_cache(maxsize=4096)
def _is_project_file(filename: str) -> bool:
    if not filename or filename.startswith("<"):
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    resolved = str(Path(filename).resolve())
    return not any(resolved.startswith(root) for root in _library_roots())


def is_project_object(obj: Any) -> bool:
    """True for functions, classes and modules defined in the user's project."""
    if isinstance(obj, types.ModuleType):
        return _is_project_file(getattr(obj, "__file__", None) or "")
    if isinstance(obj, types.FunctionType | type):
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        filename = getattr(module, "__file__", None) if module else None
        if isinstance(obj, types.FunctionType):
            filename = obj.__code__.co_filename
        return _is_project_file(filename or "")
    return False


@dataclass
class Fingerprint:
    """A step's code: one hash for the cache key, and what it is made of.

    ``parts`` are ``(qualname, hash)`` per function, class or constant reached, in the order
    they were found (the step itself first); ``modules`` are the top-level names of the
    installed (non-project, non-standard-library) modules the code refers to, whose versions
    a run records instead of their source.
    """

    hash: str
    parts: list[tuple[str, str]] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.parts]


def fingerprint(func: Any) -> Fingerprint:
    """The :class:`Fingerprint` of ``func``: its code and the project code it reaches.

    Names are qualified names without the module, so that a pipeline file imported under a
    different module name (``rung run file.py:f`` versus ``import file``) hashes the same.
    """
    parts: list[tuple[str, str]] = []
    modules: set[str] = set()
    _visit(_unwrap(func), parts, set(), modules)
    return Fingerprint(
        hash_json(parts),
        [(name, hash_bytes(digest.encode())) for name, digest in parts],
        sorted(modules),
    )


def code_fingerprint(func: Any) -> tuple[str, list[str]]:
    """Return the hash of ``func``'s code and of the project code it reaches, and their names."""
    found = fingerprint(func)
    return found.hash, found.names


def referenced(func: Any, wanted: type) -> list[Any]:
    """The instances of ``wanted`` that ``func``'s code names — directly, through the project
    functions and classes it reaches (the walk :func:`fingerprint` makes), or through another
    such instance's wrapped function — each once, in the order found.

    A pipeline's steps, for one: what the code *can* call, whichever calls a run reached.
    An instance reached only through data (a dict of steps) or ``getattr`` is not found.
    """
    found: list[Any] = []
    seen: set[int] = set()
    stack = [_unwrap(func)]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, wanted):
            found.append(obj)
            obj = _unwrap(obj)
        if not isinstance(obj, types.FunctionType | type) or not is_project_object(obj):
            continue
        refs = [r for r in _references(obj) if not (isinstance(r, tuple) and r[:1] == ("const",))]
        stack.extend(reversed([r for r in refs if id(r) not in seen]))
    return found


def _unwrap(obj: Any) -> Any:
    return inspect.unwrap(obj) if callable(obj) else obj


def _source_digest(obj: Any) -> str:
    node = _definition_node(obj)
    if node is not None:
        return ast.dump(node)
    try:
        source = textwrap.dedent(inspect.getsource(obj))
        return ast.dump(ast.parse(source).body[0])
    except (OSError, TypeError, SyntaxError, IndexError):
        code = getattr(obj, "__code__", None)
        return marshal.dumps(code).hex() if code is not None else repr(obj)


def _definition_node(obj: Any) -> ast.AST | None:
    """The function's or class's node in its module's AST (parsed once per file version).

    Faster than ``inspect.getsource``, which tokenizes the file for every function.
    """
    try:
        filename = inspect.getsourcefile(obj)
    except TypeError:
        return None
    if not filename:
        return None
    tree = _module_ast(filename)
    if tree is None:
        return None
    code = getattr(obj, "__code__", None)
    name = getattr(obj, "__name__", None)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name != name:
            continue
        if code is None:  # a class: match by name (the first definition wins, as in inspect)
            return node
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if first <= code.co_firstlineno <= node.lineno:
            return node
    return None


def _module_ast(filename: str) -> ast.Module | None:
    try:
        st = os.stat(filename)
    except OSError:
        return None
    return _parse(filename, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _parse(filename: str, _mtime: int, _size: int) -> ast.Module | None:
    try:
        with open(filename, "rb") as f:
            return ast.parse(f.read(), filename)
    except (OSError, SyntaxError, ValueError):
        return None


def _visit(obj: Any, parts: list[tuple[str, str]], seen: set[int], modules: set[str]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    parts.append((getattr(obj, "__qualname__", repr(obj)), _source_digest(obj)))
    for ref in _references(obj):
        if isinstance(ref, tuple) and ref and ref[0] == "const":
            name, digest = ref[1], ref[2]
            if digest.startswith("<not fingerprinted"):
                name = f"{name}={digest}"  # listed, so the gap can be shown
            parts.append((name, digest))
        elif isinstance(ref, types.FunctionType | type) and is_project_object(ref):
            _visit(_unwrap(ref), parts, seen, modules)
        else:
            top = _installed_module(ref)
            if top is not None:
                modules.add(top)


def _installed_module(obj: Any) -> str | None:
    """The top-level name of the installed module that defines ``obj`` (a module, function,
    class or instance), or None for the standard library, the project and builtins."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    elif isinstance(obj, types.FunctionType | types.BuiltinFunctionType | type):
        name = getattr(obj, "__module__", None) or ""
    else:
        name = getattr(type(obj), "__module__", None) or ""
    top = name.partition(".")[0]
    if not top or top in sys.stdlib_module_names or top == "builtins" or top.startswith("_"):
        return None
    module = sys.modules.get(top)
    if module is None or is_project_object(module):
        return None
    filename = getattr(module, "__file__", None)
    return top if filename else None


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _references(obj: Any) -> Iterator[Any]:
    """Objects that ``obj``'s code names: globals, closure cells, attributes of project modules."""
    funcs: list[types.FunctionType] = []
    if isinstance(obj, types.FunctionType):
        funcs.append(obj)
    elif isinstance(obj, type):
        funcs.extend(v for v in vars(obj).values() if isinstance(v, types.FunctionType))
    for func in funcs:
        names: set[str] = set()
        for code in _code_objects(func.__code__):
            names.update(code.co_names)
        cells = [c.cell_contents for c in (func.__closure__ or ()) if _cell_filled(c)]
        globals_ = func.__globals__
        for i, value in enumerate(cells):
            digest = _data_digest(value)
            if digest is not None:
                yield ("const", f"{func.__qualname__}.<closure {i}>", digest)
            else:
                yield value
        for n in sorted(names):
            if n not in globals_:
                continue
            value = globals_[n]
            if isinstance(value, types.ModuleType) and is_project_object(value):
                for attr in sorted(names):
                    member = getattr(value, attr, None)
                    if member is not None:
                        yield member
            else:
                digest = _global_digest(globals_, n, value)
                yield ("const", n, digest) if digest is not None else value


def _cell_filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


# (id of a module's globals, name) -> (those globals, the value, its digest): a global is
# fingerprinted by the value it had when first seen, until it is *rebound* — a notebook's
# `FEATURES = [...]` again, a module imported anew — so that one mutated in place as runtime
# state (a memo dict, a counter) fingerprints the same in a long-lived process as in a fresh
# one. The globals and the value are held, so their ids cannot be reused.
_SEEN: dict[tuple[int, str], tuple[dict[str, Any], Any, str | None]] = {}


def _global_digest(globals_: dict[str, Any], name: str, value: Any) -> str | None:
    key = (id(globals_), name)
    held = _SEEN.get(key)
    if held is not None and held[1] is value:
        return held[2]
    digest = _data_digest(value)
    if len(_SEEN) > 100_000:
        _SEEN.clear()
    _SEEN[key] = (globals_, value, digest)
    return digest


_NOT_DATA = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)


def _data_digest(value: Any) -> str | None:
    """The value of a data constant as text that changes when it does, or None for code
    (functions, classes, modules: followed or pinned by package versions instead). An object
    whose ``repr`` is only its address gives ``<not fingerprinted: Type>``."""
    if isinstance(value, _NOT_DATA) or (callable(value) and not hasattr(value, "get_params")):
        return None
    try:
        return _canonical(value, 0)
    except (RecursionError, ValueError, TypeError):
        return f"<not fingerprinted: {type(value).__name__}>"


def _canonical(value: Any, depth: int) -> str:
    if depth > 50:
        raise ValueError("too deep")
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, list | tuple):
        inner = ",".join(_canonical(v, depth + 1) for v in value)
        return f"{type(value).__name__}[{inner}]"
    if isinstance(value, set | frozenset):  # an order-free set: its members' texts, sorted
        return f"set[{','.join(sorted(_canonical(v, depth + 1) for v in value))}]"
    if isinstance(value, dict):
        items = (f"{_canonical(k, depth + 1)}:{_canonical(v, depth + 1)}" for k, v in value.items())
        return f"dict[{','.join(items)}]"
    module = type(value).__module__.split(".")[0]
    if module in ("numpy", "pandas"):
        return _array_digest(value)
    text = repr(value)
    if " at 0x" in text or " object at " in text:
        return f"<not fingerprinted: {type(value).__name__}>"
    return f"{type(value).__qualname__}:{text}"


def _array_digest(value: Any) -> str:
    """numpy arrays and scalars, pandas Series, Index and DataFrame: dtype, shape and bytes."""
    import numpy as np

    from rung.core.hashing import hash_bytes

    if hasattr(value, "to_numpy") and hasattr(value, "columns"):  # a DataFrame
        parts = [_canonical(list(map(str, value.columns)), 1), _canonical(list(value.index), 1)]
        parts += [_array_digest(value[c]) for c in value.columns]
        return f"DataFrame[{','.join(parts)}]"
    array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    if array.dtype == object:
        return f"object[{_canonical(array.tolist(), 1)}]"
    data = np.ascontiguousarray(array).tobytes()
    return f"{array.dtype.str}{array.shape}:{hash_bytes(data)}"
