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
from typing import Any

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


# -- the contents of trusted types ---------------------------------------------------------
#
# Trusting a type lets skops build it and set its attributes; scikit-learn then indexes some
# of those arrays in compiled code without bounds checks. A decision tree whose node names
# feature 100000 of a 3-feature model reads far outside the input when it predicts (a
# segmentation fault, or worse). These checks run on every loaded model, before anyone uses it.


def check_contents(
    model: object, what: str, allow_io: bool = False, opt_in: str = "--allow-pickle"
) -> None:
    """Raise :class:`~rung.core.errors.IntegrityError` if a decision tree, histogram-boosting
    predictor or neighbour search tree in ``model`` holds an index outside its own arrays or
    its estimator's input, a distance metric's parameters do not fit the features it measures,
    or a neighbour or libsvm model's arrays disagree in shape with its input or each other
    (each checked once, vectorised; shapes as scikit-learn builds them).

    Unless ``allow_io`` (the opt-in), also raise :class:`~rung.core.errors.Untrusted` for a
    text vectorizer with ``input="filename"``, which opens every path its input names: served,
    it would read the files that requests name.
    """
    import numpy as np

    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(model, None)]
    while stack:
        obj, n_features = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, list | tuple):
            stack.extend((o, n_features) for o in obj)
            continue
        if isinstance(obj, dict):
            stack.extend((o, n_features) for o in obj.values())
            continue
        module = type(obj).__module__ or ""
        if not module.startswith("sklearn"):
            if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
                stack.extend((o, n_features) for o in obj.ravel().tolist())
            continue
        name = type(obj).__name__
        if (
            not allow_io
            and module.startswith("sklearn.feature_extraction")
            and getattr(obj, "input", None) == "filename"
        ):
            from rung.core.errors import Untrusted

            raise Untrusted(
                f"{what} holds a {name}(input='filename'), which opens the files its input names",
                f"load it only if you trust its source and its callers: opt in with {opt_in}",
            )
        if module == "sklearn.tree._tree" and name == "Tree":
            _check_tree(obj, n_features, what)
        elif name == "TreePredictor":
            _check_predictor(obj, n_features, what)
        elif name in ("KDTree", "BallTree"):
            _check_binary_tree(obj, what)
        elif module == "sklearn.metrics._dist_metrics" and n_features is not None:
            _check_metric(obj, n_features, what)
        attrs = getattr(obj, "__dict__", None)
        if not isinstance(attrs, dict):
            continue
        raw = attrs.get("n_features_in_")
        own = int(raw) if isinstance(raw, int | np.integer) and not isinstance(raw, bool) else None
        if own is not None:
            _check_estimator(attrs, own, what)
        # the input width this object's tree-like children are fed unchecked: its own, or
        # (for the trees of a forest or a gradient-boosting model) the ensemble's
        width = own if own is not None else n_features
        for key, value in attrs.items():
            if key == "tree_":
                stack.append((value, width))
            elif key in ("estimators_", "_predictors") and "estimators_features_" not in attrs:
                stack.append((value, width))  # forests and boosting: fed the ensemble's X
            elif key in ("metric", "effective_metric_"):
                stack.append((value, own))  # a distance metric object measures this input
            else:
                stack.append((value, None))


def _bad(what: str, detail: str) -> Exception:
    from rung.core.errors import IntegrityError

    return IntegrityError(
        f"{what} is malformed: {detail}",
        "it was not written by scikit-learn as is; do not load it, store the model again",
    )


def _check_children(left: Any, right: Any, leaf: Any, count: int, what: str, kind: str) -> None:
    import numpy as np

    idx = np.arange(count)
    left_a, right_a, leaf_a = np.asarray(left), np.asarray(right), np.asarray(leaf, dtype=bool)
    inner = ~leaf_a
    bad = inner & ((left_a <= idx) | (left_a >= count) | (right_a <= idx) | (right_a >= count))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _bad(
            what,
            f"{kind} node {i} points to children {int(left_a[i])}, {int(right_a[i])} outside"
            f" nodes {i + 1}..{count - 1}",
        )


def _check_features(feature: Any, inner: Any, n_features: int | None, what: str, kind: str) -> None:
    import numpy as np

    if n_features is None:
        return
    f, mask = np.asarray(feature), np.asarray(inner, dtype=bool)
    bad = mask & ((f < 0) | (f >= n_features))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _bad(what, f"{kind} node {i} splits on feature {int(f[i])} of {n_features}")


def _check_tree(tree: Any, n_features: int | None, what: str) -> None:
    import numpy as np

    t = tree
    count = int(t.node_count)
    left = np.asarray(t.children_left)
    right = np.asarray(t.children_right)
    if len(left) != count or len(right) != count or len(t.value) != count:
        raise _bad(what, f"a decision tree of {count} nodes holds arrays of other lengths")
    leaf = (left == -1) & (right == -1)
    _check_children(left, right, leaf, count, what, "a decision tree's")
    own = int(t.n_features)
    if n_features is not None and own != n_features:
        raise _bad(what, f"a decision tree of {own} features sits in a model of {n_features}")
    _check_features(t.feature, ~leaf, own, what, "a decision tree's")


def _check_predictor(predictor: Any, n_features: int | None, what: str) -> None:
    import numpy as np

    nodes = getattr(predictor, "nodes", None)
    if nodes is None or not hasattr(nodes, "dtype") or nodes.dtype.names is None:
        raise _bad(what, "a histogram-boosting predictor has no node array")
    count = len(nodes)
    leaf = nodes["is_leaf"].astype(bool)
    _check_children(nodes["left"], nodes["right"], leaf, count, what, "a boosting tree's")
    _check_features(nodes["feature_idx"], ~leaf, n_features, what, "a boosting tree's")
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    if categorical.any():
        sizes = [
            len(np.asarray(getattr(predictor, k)))
            for k in ("raw_left_cat_bitsets", "binned_left_cat_bitsets")
        ]
        idx = nodes["bitset_idx"][categorical]
        if (idx < 0).any() or (idx >= min(sizes)).any():
            raise _bad(what, "a boosting tree's categorical split points outside its bitsets")


def _check_binary_tree(tree: Any, what: str) -> None:
    import numpy as np

    data = np.asarray(tree.data)
    idx = np.asarray(tree.idx_array)
    nodes = np.asarray(tree.node_data)
    bounds = np.asarray(tree.node_bounds)
    n = len(data)
    if len(idx) != n or (len(idx) and (idx.min() < 0 or idx.max() >= n)):
        raise _bad(what, f"a neighbour search tree indexes outside its {n} points")
    if len(nodes) and nodes.dtype.names:
        start, end = nodes["idx_start"], nodes["idx_end"]
        if (start < 0).any() or (end < start).any() or (end > n).any():
            raise _bad(what, f"a neighbour search tree's node ranges exceed its {n} points")
    if bounds.ndim != 3 or bounds.shape[1] != len(nodes) or bounds.shape[2] != data.shape[1]:
        raise _bad(what, "a neighbour search tree's bounds do not match its nodes and points")
    state = tree.__getstate__()
    metric = next((x for x in state if type(x).__module__ == "sklearn.metrics._dist_metrics"), None)
    if data.ndim != 2:
        raise _bad(what, f"a neighbour search tree's points have shape {data.shape}")
    if metric is not None:
        _check_metric(metric, int(data.shape[1]), what)


def _check_metric(metric: Any, n_features: int, what: str) -> None:
    """The parameters a distance metric reads per feature, in compiled code, without bounds
    checks (``sklearn.metrics._dist_metrics``; state ``(p, vec, mat)``): Mahalanobis' ``mat``
    (VI) is ``d × d``, standardised Euclidean's ``vec`` (V) has ``d`` entries, weighted
    Minkowski's ``vec`` (w) has ``d`` (or none, unweighted) and ``p > 0``; haversine takes 2."""
    import numpy as np

    name = type(metric).__name__
    try:
        p, vec, mat = metric.__getstate__()[:3]
        vec, mat, p = np.asarray(vec), np.asarray(mat), float(p)
    except (AttributeError, TypeError, ValueError):
        return  # a metric without per-feature parameters
    label = f"a {name} over {n_features} features"
    if name.startswith("Mahalanobis") and mat.shape != (n_features, n_features):
        raise _bad(what, f"{label} holds a VI matrix of shape {mat.shape}")
    if name.startswith("SEuclidean") and vec.shape != (n_features,):
        raise _bad(what, f"{label} holds a V vector of shape {vec.shape}")
    if name.startswith("Minkowski"):
        if vec.size and vec.shape != (n_features,):
            raise _bad(what, f"{label} holds a weight vector w of shape {vec.shape}")
        if not p > 0:
            raise _bad(what, f"{label} has p = {p}")
    if name.startswith("Haversine") and n_features != 2:
        raise _bad(what, f"{label}: haversine takes exactly 2 (latitude, longitude)")


_PARAM_SHAPES = {"VI": 2, "V": 1, "w": 1}


def _check_estimator(attrs: dict[str, Any], n: int, what: str) -> None:
    """Shapes an estimator's compiled helpers take as given, checked against its own input
    width ``n`` (``n_features_in_``): neighbour models' ``_fit_X``, search tree, ``_y`` and
    metric parameters; libsvm's support vectors, dual coefficients and intercepts."""
    import numpy as np

    def shape(key: str) -> tuple[int, ...] | None:
        value: Any = attrs.get(key)
        return tuple(value.shape) if hasattr(value, "shape") else None

    for key in ("metric_params", "effective_metric_params_"):
        params: Any = attrs.get(key)
        for pname, ndim in _PARAM_SHAPES.items() if isinstance(params, dict) else ():
            if pname in params and params[pname] is not None:
                got = np.shape(params[pname])
                if got != (n,) * ndim:
                    raise _bad(what, f"{key}[{pname!r}] has shape {got} for {n} features")
    fit_x = shape("_fit_X")
    if fit_x is not None and attrs.get("effective_metric_") != "precomputed":
        if len(fit_x) != 2 or fit_x[1] != n:
            raise _bad(what, f"its fitted points _fit_X have shape {fit_x} for {n} features")
        tree: Any = attrs.get("_tree")
        data = getattr(tree, "data", None)
        if data is not None and np.shape(data) != fit_x:
            raise _bad(what, f"its search tree holds {np.shape(data)} points, _fit_X {fit_x}")
    n_fit = fit_x[0] if fit_x else None
    y: Any = attrs.get("_y")
    if n_fit is not None and hasattr(y, "shape") and len(y) != n_fit:
        raise _bad(what, f"its labels _y number {len(y)} for {n_fit} fitted points")
    classes: Any = attrs.get("classes_")
    labelled = hasattr(y, "shape") and y.ndim == 1 and hasattr(classes, "shape") and len(y)
    if labelled and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(classes)):
        raise _bad(what, f"its labels _y index outside its {len(classes)} classes")
    if "_dual_coef_" in attrs and "support_" in attrs:
        _check_libsvm(attrs, n, what)


def _check_libsvm(attrs: dict[str, Any], n: int, what: str) -> None:
    import numpy as np

    support = np.asarray(attrs["support_"])
    n_sv = len(support)
    dual = np.shape(attrs["_dual_coef_"])
    vectors = np.shape(attrs.get("support_vectors_", ()))
    fit = tuple(np.asarray(attrs.get("shape_fit_", ())).tolist())
    classes: Any = attrs.get("classes_")
    n_class = len(classes) if hasattr(classes, "__len__") else 2
    precomputed = attrs.get("kernel") == "precomputed"
    problems = []
    if len(dual) != 2 or dual[1] != n_sv or dual[0] != max(n_class - 1, 1):
        problems.append(f"dual coefficients of shape {dual} for {n_sv} support vectors")
    if not precomputed and vectors != (n_sv, n):
        problems.append(f"support vectors of shape {vectors} ({n_sv} of {n} features)")
    if precomputed and len(fit) == 2 and n_sv and (support.min() < 0 or support.max() >= fit[0]):
        problems.append(f"support indices outside its {fit[0]} training samples")
    if hasattr(classes, "__len__"):
        counts = np.asarray(attrs.get("_n_support", ()))
        if len(counts) != n_class or int(counts.sum()) != n_sv or (counts < 0).any():
            problems.append(f"per-class support counts {counts.tolist()} for {n_sv} vectors")
        pairs = n_class * (n_class - 1) // 2
        if len(np.asarray(attrs.get("_intercept_", ()))) != pairs:
            problems.append(f"intercepts not one per pair of its {n_class} classes")
        for key in ("_probA", "_probB"):
            size = len(np.asarray(attrs.get(key, ())))
            if size not in (0, pairs):
                problems.append(f"{key} of {size} entries for {pairs} class pairs")
    if problems:
        raise _bad(what, "its libsvm model holds " + problems[0])
