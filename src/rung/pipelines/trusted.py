"""The types rung trusts in a skops file without an opt-in: exact names, reviewed.

skops checks every type a file names against a list before it imports or builds anything
(:func:`skops.io.get_untrusted_types`). skops itself trusts Python's primitive and container
types, numpy arrays, scalars, dtypes' scalar types, ``numpy.random`` generators and bit
generators, numpy and ``scipy.special`` ufuncs, scikit-learn's estimators (its registry,
:func:`sklearn.utils.all_estimators`) and the loss and link objects of the gradient-boosting
models. A fitted model often holds a few more types than that; this module names them, one by
one, as the full ``module.qualname`` that skops reports, never as a module prefix:

* scikit-learn's estimators and transformers, from :func:`sklearn.utils.all_estimators`;
* the helper objects fitted estimators keep: decision trees (``sklearn.tree._tree.Tree``),
  histogram-boosting predictors (``TreePredictor``), neighbour search trees (``KDTree``,
  ``BallTree``) and their distance metrics, MLP optimizers, calibrators, Gaussian-process
  kernels, cross-validation splitters, scorers and ``Bunch``;
* the functions estimators keep as parameters: the metrics a scorer wraps (``*_score``,
  ``*_error``, ``*_loss``, ``*_deviance`` of :mod:`sklearn.metrics`), the univariate
  feature-selection scores, ``check_array``;
* ``numpy.dtype`` and scipy's sparse matrices and arrays (csr, csc, coo, bsr, dia), and
  ``scipy.interpolate.BSpline`` (held by ``SplineTransformer``).

Never trusted, whatever the lists above would say: any name in the modules of
:data:`NEVER_TRUSTED` (``builtins``, ``os``, ``subprocess``, ``operator``, ``functools``,
``importlib``, ``shutil``, ``pickle``, ``sys``, …) and scikit-learn's ``PyFuncDistance``,
which calls the Python function it holds. ``functools.partial`` is therefore refused: a
``HistGradientBoosting`` model fitted on pandas ``category`` columns holds one (around
``check_array``) and needs the opt-in.

Everything else a file names is refused unless the user opted in for that artifact or model
version (see :func:`rung.pipelines.materialize.load`).
"""

from __future__ import annotations

import functools
import inspect
from types import ModuleType

NEVER_TRUSTED = (
    "builtins",
    "__builtin__",
    "__main__",
    "os",
    "posix",
    "nt",
    "subprocess",
    "operator",
    "functools",
    "itertools",
    "importlib",
    "shutil",
    "pickle",
    "_pickle",
    "copyreg",
    "marshal",
    "sys",
    "runpy",
    "code",
    "codeop",
    "ctypes",
    "pty",
    "socket",
    "webbrowser",
    "types",
    "inspect",
    "pdb",
    "io",
    "_io",
    "pathlib",
    "tempfile",
    "multiprocessing",
    "threading",
    "asyncio",
    "signal",
    "joblib",
    "dill",
    "cloudpickle",
)
"""Modules none of whose names is ever trusted by default (each with its sub-modules)."""

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "dia")
_METRIC_SUFFIXES = ("_score", "_error", "_loss", "_deviance")
_FEATURE_SCORES = (
    "f_classif",
    "f_regression",
    "chi2",
    "mutual_info_classif",
    "mutual_info_regression",
    "r_regression",
)


def type_name(obj: object) -> str:
    """``module.qualname`` of a class or function: the name skops reports for it."""
    return f"{obj.__module__}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"


def never_trusted(name: str) -> bool:
    """True when ``name`` (``module.attr``) lies in a module of :data:`NEVER_TRUSTED`."""
    return any(name == m or name.startswith(m + ".") for m in NEVER_TRUSTED)


@functools.cache
def trusted_types() -> frozenset[str]:
    """The exact type and function names trusted in a skops file without an opt-in."""
    import numpy as np
    import scipy.interpolate
    import scipy.sparse
    import sklearn.metrics
    from sklearn.utils import all_estimators

    names: set[str] = {type_name(cls) for _, cls in all_estimators()}
    names.add(type_name(np.dtype))
    for fmt in _SPARSE_FORMATS:
        for suffix in ("matrix", "array"):
            cls = getattr(scipy.sparse, f"{fmt}_{suffix}", None)
            if cls is not None:
                names.add(type_name(cls))
    names.add(type_name(scipy.interpolate.BSpline))
    names.update(_sklearn_helpers())
    for fn_name in getattr(sklearn.metrics, "__all__", []):
        fn = getattr(sklearn.metrics, fn_name, None)
        if inspect.isfunction(fn) and fn_name.endswith(_METRIC_SUFFIXES):
            names.add(type_name(fn))
    names.add(type_name(sklearn.metrics.matthews_corrcoef))
    return frozenset(n for n in names if not never_trusted(n) and "PyFunc" not in n)


def _sklearn_helpers() -> set[str]:
    """The non-estimator objects and functions of scikit-learn that fitted models hold."""
    import sklearn.feature_selection
    from sklearn.utils.validation import check_array

    names = {type_name(check_array)}
    names.update(type_name(getattr(sklearn.feature_selection, f)) for f in _FEATURE_SCORES)
    for module_name, functions in _HELPER_FUNCTIONS.items():
        module = _module(module_name)
        for attr in functions if module is not None else ():
            fn = getattr(module, attr, None)
            if fn is not None:
                names.add(f"{module_name}.{attr}")
    for module_name, wanted in _HELPER_CLASSES.items():
        module = _module(module_name)
        if module is None:
            continue
        for attr in wanted or _classes_of(module):
            cls = getattr(module, attr, None)
            if isinstance(cls, type):
                names.add(type_name(cls))
    return names


_HELPER_FUNCTIONS: dict[str, tuple[str, ...]] = {
    # the array-API ``asarray`` a fitted SplineTransformer's BSpline objects keep
    "scipy._lib.array_api_compat.numpy._aliases": ("asarray",),
}

_HELPER_CLASSES: dict[str, tuple[str, ...]] = {
    "sklearn.tree._tree": ("Tree",),
    "sklearn.ensemble._hist_gradient_boosting.predictor": ("TreePredictor",),
    "sklearn.neighbors._kd_tree": ("KDTree",),
    "sklearn.neighbors._ball_tree": ("BallTree",),
    "sklearn.neural_network._stochastic_optimizers": ("AdamOptimizer", "SGDOptimizer"),
    "sklearn.calibration": ("_CalibratedClassifier", "_SigmoidCalibration"),
    "sklearn.gaussian_process._gpc": (
        "_BinaryGaussianProcessClassifierLaplace",
        "GaussianProcessClassifier",
    ),
    "sklearn.metrics._scorer": ("_Scorer", "_PassthroughScorer", "_MultimetricScorer"),
    "sklearn.utils._bunch": ("Bunch",),
    # every class defined in these modules (distance metrics, kernels, CV splitters):
    "sklearn.metrics._dist_metrics": (),
    "sklearn.gaussian_process.kernels": (),
    "sklearn.model_selection._split": (),
}


def _module(name: str) -> ModuleType | None:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:  # a scikit-learn version without it
        return None


def _classes_of(module: ModuleType) -> list[str]:
    return [
        n
        for n, c in vars(module).items()
        if isinstance(c, type) and c.__module__ == module.__name__
    ]
