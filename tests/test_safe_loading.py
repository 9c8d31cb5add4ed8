"""Loading a stored object never runs code without the opt-in recorded for it.

A family of crafted files — skops files whose schema calls builtins, os, subprocess, operator,
functools, importlib, shutil, pickle, runpy and numpy callables, built by rewriting a real
skops dump of a fitted model, and pickles whose ``__reduce__`` calls such callables — is
refused at every entry point: the loader itself, registration, evaluation, the service's
start-up, batch scoring, monitoring, a pipeline run and its reproduction. Each check proves
with a marker file (and a canary folder that ``shutil.rmtree`` would remove) that nothing ran,
and that the one-line error names the type and the opt-in. Loading the same files with every
type trusted does run them: the family bites, so the refusals are not vacuous.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import subprocess
import textwrap
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rung.core.errors import Untrusted
from rung.pipelines import materialize

OPT_IN = "--allow-pickle"


@dataclass
class Scene:
    """Where a payload would leave its trace: a marker file that must not appear, a canary
    folder that must not go away, and a script that writes the marker when run."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / "PWNED"

    @property
    def canary(self) -> Path:
        return self.root / "canary"

    @property
    def script(self) -> Path:
        return self.root / "payload.py"

    def prepare(self) -> Scene:
        self.root.mkdir(parents=True, exist_ok=True)
        self.canary.mkdir(exist_ok=True)
        (self.canary / "keep").write_text("x")
        self.script.write_text(f"open({str(self.marker)!r}, 'w').write('ran')\n")
        self.marker.unlink(missing_ok=True)
        return self

    def ran(self, wait: float = 0.0) -> bool:
        """True if any payload left its trace (waiting ``wait`` s for asynchronous ones)."""
        deadline = time.monotonic() + wait
        while True:
            if self.marker.exists() or not self.canary.exists():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _write_marker(scene: Scene) -> str:
    return f"open({str(scene.marker)!r}, 'w').write('ran')"


def _pickled_payload(scene: Scene) -> bytes:
    return pickle.dumps(_Reduce(exec, (_write_marker(scene),)))


class _Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.func, self.args


def _npy_with_pickle(scene: Scene) -> str:
    """A .npy file of one Python object whose unpickling writes the marker."""
    path = scene.root / "payload.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = _Reduce(exec, (_write_marker(scene),))
    np.save(path, arr, allow_pickle=True)
    return str(path)


# (callable's module, name, its arguments, whether calling it leaves a trace)
SKOPS_CALLS: list[tuple[str, str, Callable[[Scene], tuple[Any, ...]], bool]] = [
    ("builtins", "exec", lambda s: (_write_marker(s),), True),
    ("builtins", "eval", lambda s: (_write_marker(s),), True),
    ("builtins", "open", lambda s: (str(s.marker), "w"), True),
    ("builtins", "getattr", lambda s: ("text", "upper"), False),
    ("builtins", "__import__", lambda s: ("json",), False),
    ("os", "system", lambda s: (f"touch {s.marker}",), True),
    ("posix", "system", lambda s: (f"touch {s.marker}",), True),
    ("subprocess", "check_call", lambda s: (["touch", str(s.marker)],), True),
    ("subprocess", "Popen", lambda s: (["touch", str(s.marker)],), True),
    ("operator", "attrgetter", lambda s: ("marker",), False),
    ("functools", "partial", lambda s: (print,), False),
    ("importlib", "import_module", lambda s: ("json",), False),
    ("shutil", "rmtree", lambda s: (str(s.canary),), True),
    ("pickle", "loads", lambda s: (_pickled_payload(s),), True),
    ("runpy", "run_path", lambda s: (str(s.script),), True),
    # trusted by the old prefix list ("numpy.", "scipy."): numpy functions that write files
    # or unpickle
    ("numpy", "load", lambda s: (_npy_with_pickle(s), None, True), True),
    ("numpy", "savetxt", lambda s: (str(s.marker), [[1.0]]), True),
]

PICKLE_CALLS: list[tuple[Callable[..., Any], Callable[[Scene], tuple[Any, ...]]]] = [
    (exec, lambda s: (_write_marker(s),)),
    (eval, lambda s: (_write_marker(s),)),
    (open, lambda s: (str(s.marker), "w")),
    (os.system, lambda s: (f"touch {s.marker}",)),
    (subprocess.check_call, lambda s: (["touch", str(s.marker)],)),
    (__import__("shutil").rmtree, lambda s: (str(s.canary),)),
    (__import__("runpy").run_path, lambda s: (str(s.script),)),
    (np.savetxt, lambda s: (str(s.marker), [[1.0]])),
]


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "color": ["red", "blue"] * 2})
    return LogisticRegression().fit(frame[["a"]], ["no", "no", "yes", "yes"])


def crafted_skops(module: str, name: str, args: tuple[Any, ...]) -> bytes:
    """A real skops dump of a fitted model, one attribute of which is rewritten to be
    ``module.name(*args)`` (skops' reduce-constructor node), as an attacker would."""
    import skops.io as sio

    _, real = materialize.dump(_model())
    with zipfile.ZipFile(io.BytesIO(real)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    with zipfile.ZipFile(io.BytesIO(sio.dumps(args))) as z:
        arg_members = {n: z.read(n) for n in z.namelist()}
    arg_schema = json.loads(arg_members.pop("schema.json"))
    for key in ("protocol", "_skops_version"):
        arg_schema.pop(key, None)
    schema["content"]["content"]["C"] = {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": arg_schema,
    }
    members.update(arg_members)
    members["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n, body in members.items():
            z.writestr(n, body)
    return out.getvalue()


def crafted_pickle(func: Callable[..., Any], args: tuple[Any, ...]) -> bytes:
    return pickle.dumps(_Reduce(func, args))


def family(scene: Scene) -> list[tuple[str, str, bytes, str]]:
    """Every crafted file: ``(id, kind, bytes, the type the refusal must name)``."""
    files = [
        (f"skops-{m}.{n}", "skops", crafted_skops(m, n, make(scene)), f"{m}.{n}")
        for m, n, make, _ in SKOPS_CALLS
    ]
    files += [
        (f"pickle-{f.__module__}.{f.__qualname__}", "pickle", crafted_pickle(f, make(scene)), "")
        for f, make in PICKLE_CALLS
    ]
    return files


def _check_refusal(line: str, kind: str, named: str) -> None:
    """``line`` is one line naming the opt-in, and the type (a skops file) or pickle."""
    assert line and "\n" not in line, line
    assert OPT_IN in line, line
    if kind == "pickle":
        assert "stored with pickle" in line, line
    else:
        assert named in line, line


# -- the loader itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "make", "bites"), SKOPS_CALLS, ids=[f"{m}.{n}" for m, n, *_ in SKOPS_CALLS]
)
def test_crafted_skops_files_are_refused_by_the_loader_and_would_have_run(
    tmp_path: Path, module: str, name: str, make: Callable[[Scene], tuple[Any, ...]], bites: bool
) -> None:
    import skops.io as sio

    scene = Scene(tmp_path).prepare()
    data = crafted_skops(module, name, make(scene))
    with pytest.raises(Untrusted) as refused:
        materialize.load("skops", data, what="model m")
    assert f"{module}.{name}" in str(refused.value) and OPT_IN in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not scene.ran(wait=0.3)
    if bites:  # the same file with every type trusted does run its payload
        # the payload runs while the model is rebuilt; what it returns may break the rest
        with contextlib.suppress(Exception):
            sio.loads(data, trusted=sio.get_untrusted_types(data=data))
        assert scene.ran(wait=5)


@pytest.mark.parametrize(
    ("func", "make"), PICKLE_CALLS, ids=[f.__qualname__ for f, _ in PICKLE_CALLS]
)
def test_crafted_pickles_are_refused_without_the_opt_in_and_run_with_it(
    tmp_path: Path, func: Callable[..., Any], make: Callable[[Scene], tuple[Any, ...]]
) -> None:
    scene = Scene(tmp_path).prepare()
    data = crafted_pickle(func, make(scene))
    with pytest.raises(Untrusted, match=r"stored with pickle.*--allow-pickle"):
        materialize.load("pickle", data)
    assert not scene.ran(wait=0.3)
    with contextlib.suppress(Exception):
        materialize.load("pickle", data, allow_pickle=True)  # the opt-in is what gates it
    assert scene.ran(wait=5)


def test_skops_with_the_opt_in_loads_what_it_names() -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(np.sqrt).fit(np.array([[4.0]]))  # a numpy ufunc: trusted
    assert materialize.load(*materialize.dump(model)).transform(np.array([[9.0]]))[0, 0] == 3.0
    custom = FunctionTransformer(textwrap.dedent).fit(np.array([["a"]]))
    kind, data = materialize.dump(custom)
    with pytest.raises(Untrusted, match=r"textwrap\.dedent.*--allow-pickle"):
        materialize.load(kind, data)
    assert materialize.load(kind, data, allow_pickle=True).func is textwrap.dedent


def test_unreadable_skops_bytes_are_one_line() -> None:
    from rung.core.errors import IntegrityError

    with pytest.raises(IntegrityError, match="not a readable skops file"):
        materialize.load("skops", b"not a zip")


def test_no_module_outside_the_loader_deserialises() -> None:
    """The one loader: nothing else in rung calls pickle, skops, joblib, cloudpickle, dill,
    ``np.load(allow_pickle=True)`` or ``pd.read_pickle``."""
    import re

    src = Path(materialize.__file__).parents[1]
    pattern = re.compile(
        r"pickle\.loads?\(|Unpickler|sio\.loads?\(|skops\.io\.loads?\(|joblib\.load|dill\.load"
        r"|read_pickle\(|np\.load\([^)]*allow_pickle=True|torch\.load|marshal\.loads?\("
    )
    offenders = [
        f"{p.relative_to(src)}:{i}"
        for p in src.rglob("*.py")
        if p.name != "materialize.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line.split("#")[0])
    ]
    assert offenders == []


# -- every entry point -----------------------------------------------------------------------


def _store(ws: Any, kind: str, data: bytes) -> str:
    """Put crafted bytes in the workspace's artifact store, as an attacker with write access
    to it (or a file shared by someone else) would."""
    from rung.store.records import ensure_artifact

    digest = ws.artifacts.put_bytes(data)
    with ws.store.write() as tx:
        ensure_artifact(tx, digest, kind, len(data), materialize.MEDIA_TYPES[kind], None)
    return str(digest)


def _version(ws: Any, name: str, kind: str, digest: str, allow_pickle: bool = False) -> None:
    """A model version pointing at ``digest``, as a version registered by an earlier rung
    (whose loader trusted whole module prefixes) would."""
    from rung.core.hashing import canonical_json

    signature = {"features": ["a"], "columns": {"a": {"kind": "numeric", "dtype": "float64"}}}
    with ws.store.write() as tx:
        tx.insert(
            "model_versions",
            {
                "name": name,
                "version": 1,
                "artifact_hash": digest,
                "kind": kind,
                "source": digest,
                "run_id": None,
                "datasets": "[]",
                "metrics": "{}",
                "signature": canonical_json(signature),
                "allow_pickle": allow_pickle,
                "created_at": time.time(),
            },
        )


def test_the_family_is_refused_by_every_library_entry_point(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scene = Scene(tmp_path / "scene").prepare()
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    for i, (label, kind, data, named) in enumerate(family(scene)):
        digest = _store(ws, kind, data)
        name = f"m{i}"
        _version(ws, name, kind, digest)
        attempts: list[Callable[[], Any]] = [
            lambda: ws.models.register(digest, f"r{i}"),  # noqa: B023
            lambda: ws.evaluate(digest, ["d@1"], label="y"),  # noqa: B023
            lambda: ws.models.load(f"{name}@1"),  # noqa: B023  (serve, predict, monitor)
        ]
        for attempt in attempts:
            with pytest.raises(Untrusted) as refused:
                attempt()
            _check_refusal(str(refused.value), kind, named)
        assert not scene.ran(), label
    with ws.store.read() as tx:
        versions = tx.scalar("SELECT COUNT(*) FROM model_versions WHERE name LIKE :p", {"p": "r%"})
        evaluations = tx.scalar("SELECT COUNT(*) FROM evaluations")
    assert versions == 0 and evaluations == 0  # nothing stored on a refusal
    assert not scene.ran(wait=0.5)


def _cli_refused(result: subprocess.CompletedProcess[str], kind: str, named: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    _check_refusal(errors[0], kind, named)


def test_the_family_is_refused_by_every_cli_entry_point(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import RUNG, rung_cli

    ws = sqlite_ws
    scene = Scene(tmp_path / "scene").prepare()
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    ws.data.add(pd.DataFrame({"a": [0.0, 1.0, 2.0]}), name="ref")
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.5, 1.5]}).to_csv(rows, index=False)
    files = family(scene)
    commands: list[Callable[[str, str], list[str]]] = [
        lambda digest, model: ["model", "register", digest, "--name", "x"],
        lambda digest, model: ["eval", digest, "--on", "d@1", "--label", "y"],
        lambda digest, model: ["predict", model, "-i", str(rows), "-o", str(tmp_path / "o.csv")],
        lambda digest, model: ["monitor", model, "--reference", "ref@1"],
        lambda digest, model: ["serve", model, "--port", "0"],
    ]
    # The family meets the one loader in-process (the tests above, and
    # test_opt_in_hints.test_every_library_refusal_names_a_real_prefix); here each command's
    # path to that loader is walked with one skops and one pickle file (each CLI call starts
    # a Python with scikit-learn: the whole family × every command took minutes).
    first = {kind: i for i, (_, kind, _, _) in reversed(list(enumerate(files)))}
    for i, (label, kind, data, named) in enumerate(files):
        if i not in first.values():
            continue
        digest = _store(ws, kind, data)
        _version(ws, f"m{i}", kind, digest)
        for command in commands:
            args = command(digest, f"m{i}@1")
            if args[0] == "serve":
                proc = subprocess.run(
                    [RUNG, *args], cwd=ws.root, capture_output=True, text=True, timeout=120
                )
            else:
                proc = rung_cli(*args, cwd=ws.root)
            _cli_refused(proc, kind, named)
            assert not scene.ran(), f"{label} ran at {args[0]}"
    assert not (tmp_path / "o.csv").exists()
    assert not scene.ran(wait=0.5)


PIPELINE = """
import rung

class Model:
    feature_names_in_ = ["a"]

    def __init__(self, marker):
        self.marker = marker

    def predict(self, frame):
        return ["yes"] * len(frame)

    def __reduce__(self):  # unpickling this model writes the marker
        return (exec, (f"open({{self.marker!r}}, 'w').write('ran')",))


@rung.step(pickle=True)
def fit():
    return Model({marker!r})


@rung.pipeline
def train():
    rung.register_model(fit(), "crafted")
"""


def test_a_pipeline_run_and_its_reproduction_refuse_to_register_a_pickle_without_opt_in(
    sqlite_ws, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from conftest import rung_cli

    ws = sqlite_ws
    scene = Scene(tmp_path / "scene").prepare()
    (ws.root / "train.py").write_text(PIPELINE.format(marker=str(scene.marker)))
    run = rung_cli("run", "train.py:train", cwd=ws.root)
    _cli_refused(run, "pickle", "")
    assert not scene.ran()
    runs = json.loads(rung_cli("runs", "--json", cwd=ws.root).stdout)
    again = rung_cli("reproduce", str(runs[0]["id"]), cwd=ws.root)
    _cli_refused(again, "pickle", "")
    assert not scene.ran(wait=0.3)
    with ws.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM model_versions") == 0


THRESHOLD = """
class Threshold:
    feature_names_in_ = ["a"]
    classes_ = ["no", "yes"]

    def predict(self, frame):
        return ["yes" if v > 1 else "no" for v in frame["a"]]
"""

BENIGN = """
import rung
from threshold import Threshold


@rung.step(pickle=True)
def fit():
    return Threshold()


@rung.pipeline
def train():
    return fit()
"""


def test_the_opt_in_given_and_recorded_loads_pickle_everywhere(
    sqlite_ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from functools import partial

    from conftest import rung_cli as cli

    ws = sqlite_ws
    (ws.root / "rule.py").write_text(BENIGN)
    (ws.root / "threshold.py").write_text(THRESHOLD)  # the pickled class, importable
    monkeypatch.syspath_prepend(str(ws.root))
    path = os.pathsep.join([str(ws.root), os.environ.get("PYTHONPATH", "")])
    rung_cli = partial(cli, env={"PYTHONPATH": path})
    ws.data.add(pd.DataFrame({"a": [0.0, 1.5, 2.0], "y": ["no", "yes", "yes"]}), name="d")
    run = str(ws.run("rule.py:train").id)
    refused = rung_cli("eval", run, "--on", "d@1", "--label", "y", cwd=ws.root)
    _cli_refused(refused, "pickle", "")
    ok = rung_cli(
        "eval", run, "--on", "d@1", "--label", "y", "--allow-pickle", "--format", "json",
        cwd=ws.root,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    evaluation = json.loads(ok.stdout)
    assert evaluation["rows"]["d@1"]["accuracy"] == 1.0
    with ws.store.read() as tx:
        result = json.loads(tx.scalar("SELECT result FROM evaluations"))
    assert result["allow_pickle"] is True  # the opt-in is recorded with the evaluation
    _cli_refused(rung_cli("model", "register", run, "--name", "rule", cwd=ws.root), "pickle", "")
    reg = rung_cli("model", "register", run, "--name", "rule", "--allow-pickle", cwd=ws.root)
    assert reg.returncode == 0, reg.stderr
    assert ws.models.get("rule@1").allow_pickle  # recorded on the version, and shown
    assert (
        "registered with --allow-pickle" in rung_cli("model", "show", "rule@1", cwd=ws.root).stdout
    )
    again = rung_cli("eval", "rule@1", "--on", "d@1", "--label", "y", cwd=ws.root)
    assert again.returncode == 0, again.stderr  # the version's recorded opt-in is enough
    rows = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.5, 1.5]}).to_csv(rows, index=False)
    out = tmp_path / "scored.csv"
    scored = rung_cli("predict", "rule@1", "-i", str(rows), "-o", str(out), cwd=ws.root)
    assert scored.returncode == 0, scored.stderr
    assert list(pd.read_csv(out)["prediction"]) == ["no", "yes"]


def test_real_fitted_models_of_many_kinds_load_without_the_opt_in() -> None:
    import warnings

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        AdaBoostClassifier,
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        IsolationForest,
        RandomForestClassifier,
        RandomForestRegressor,
        StackingClassifier,
        VotingClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Lasso, LogisticRegression, Ridge, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import (
        OneHotEncoder,
        PolynomialFeatures,
        SplineTransformer,
        StandardScaler,
    )
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier

    warnings.filterwarnings("ignore")
    X_, y = make_classification(n_samples=90, n_features=4, random_state=0)
    X = pd.DataFrame(X_, columns=list("abcd"))
    df = X.assign(cat=np.where(X_[:, 0] > 0, "x", "y"))
    Xr, yr = make_regression(n_samples=90, n_features=4, random_state=0)
    y3 = np.arange(90) % 3
    ct = ColumnTransformer(
        [("num", StandardScaler(), list("abcd")), ("cat", OneHotEncoder(), ["cat"])]
    )
    docs = pd.Series(["alpha beta", "beta gamma", "gamma delta"] * 30)
    cases: list[tuple[Any, Any, Any]] = [
        (Pipeline([("pre", ct), ("clf", LogisticRegression())]), df, y),
        (LogisticRegression(), X, y3),
        (RandomForestClassifier(n_estimators=3, random_state=0), X, y),
        (RandomForestRegressor(n_estimators=3, random_state=0), Xr, yr),
        (ExtraTreesClassifier(n_estimators=3), X, y),
        (GradientBoostingClassifier(n_estimators=3), X, y3),
        (GradientBoostingRegressor(n_estimators=3, loss="huber"), Xr, yr),
        (HistGradientBoostingClassifier(max_iter=3), X, y),
        (HistGradientBoostingRegressor(max_iter=3, loss="poisson"), Xr, np.abs(yr)),
        (IsolationForest(n_estimators=3), X, None),
        (AdaBoostClassifier(n_estimators=3), X, y),
        (VotingClassifier([("lr", LogisticRegression()), ("nb", GaussianNB())]), X, y),
        (
            StackingClassifier([("lr", LogisticRegression()), ("dt", DecisionTreeClassifier())]),
            X,
            y,
        ),
        (SVC(probability=True), X, y),
        (SVR(), Xr, yr),
        (KNeighborsClassifier(), X, y),
        (KNeighborsRegressor(algorithm="ball_tree", metric="manhattan"), Xr, yr),
        (MLPClassifier(max_iter=5), X, y),
        (MLPRegressor(max_iter=5, solver="sgd"), Xr, yr),
        (Ridge(), Xr, yr),
        (Lasso(), Xr, yr),
        (SGDClassifier(), X, y),
        (KMeans(n_clusters=2, n_init=1), X, None),
        (MiniBatchKMeans(n_clusters=2, n_init=1), X, None),
        (CalibratedClassifierCV(LogisticRegression(), cv=3), X, y),
        (CalibratedClassifierCV(DecisionTreeClassifier(), method="isotonic", cv=3), X, y),
        (GaussianProcessClassifier(), X.iloc[:30], y[:30]),
        (GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=3, scoring="roc_auc"), X, y),
        (make_pipeline(SimpleImputer(), SelectKBest(k=2), LogisticRegression()), X, y),
        (make_pipeline(PolynomialFeatures(), SplineTransformer(), Ridge()), Xr, yr),
        (make_pipeline(TfidfVectorizer(), LogisticRegression()), docs, np.arange(90) % 2),
    ]
    for est, features, target in cases:
        est.fit(features) if target is None else est.fit(features, target)
        kind, data = materialize.dump(est)
        assert kind == "skops"
        assert materialize.untrusted_types(data) == [], type(est).__name__
        loaded = materialize.load(kind, data)
        method = "predict" if hasattr(est, "predict") else "transform"
        np.testing.assert_array_equal(
            getattr(loaded, method)(features), getattr(est, method)(features)
        )


def test_nothing_of_the_never_trusted_modules_is_in_the_trusted_list() -> None:
    from rung.pipelines.trusted import NEVER_TRUSTED, never_trusted, trusted_types

    names = trusted_types()
    assert len(names) > 200  # scikit-learn's estimators and their helpers
    assert not [n for n in names if never_trusted(n)]
    for module in NEVER_TRUSTED:
        assert never_trusted(f"{module}.anything") and not never_trusted(f"{module}x.y")
    assert "numpy.load" not in names and "numpy.savetxt" not in names
    assert "sklearn.tree._tree.Tree" in names and "numpy.dtype" in names


EVIL_TRAIN = """
import rung


class Model:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this model writes the marker
        return (exec, (f"open({{self.marker!r}}, 'w').write('ran')",))


@rung.step(pickle=True)
def fit(frame, C: float = 1.0):
    return Model({marker!r})


@rung.pipeline
def train(C: float = 1.0):
    return fit(rung.dataset("train"), C=C)
"""


def test_the_automation_loop_refuses_a_pickled_challenger(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import rung_cli
    from model_project import frame
    from test_automation import setup

    w = setup(ws)
    scene = Scene(tmp_path / "scene").prepare()
    (w.root / "train.py").write_text(EVIL_TRAIN.format(marker=str(scene.marker)))
    w.data.add(frame(3000, 5), name="train")
    tick = rung_cli("automate", "tick", cwd=w.root)  # a fresh process imports the new train.py
    assert tick.returncode == 1 and "Traceback" not in tick.stderr + tick.stdout
    job = w.automation.history()[-1]
    assert job["state"] == "failed" and job["challenger"] is None
    assert "stored with pickle" in job["error"] and OPT_IN in job["error"]
    assert not scene.ran(wait=0.3)
    assert w.models.get("trend@champion").version == 1
    with w.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM model_versions") == 1


# -- trusted types with malformed contents ----------------------------------------------------


def _tree_with(tree: Any, field: str, value: int, node: int = 0) -> None:
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][node] = value
    state["nodes"] = nodes
    tree.__setstate__(state)


def _malformed_models() -> list[tuple[str, Any]]:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.RandomState(0).rand(80, 3)
    y = (X[:, 0] > 0.5).astype(int)
    cases: list[tuple[str, Any]] = []

    def tree(field: str, value: int) -> Any:
        m = DecisionTreeClassifier(random_state=0).fit(X, y)
        _tree_with(m.tree_, field, value)
        return m

    cases.append(("tree feature out of range", tree("feature", 10**5)))
    cases.append(("tree feature negative", tree("feature", -7)))
    cases.append(("tree child out of range", tree("left_child", 10**6)))
    cases.append(("tree child cycle", tree("right_child", 0)))
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    _tree_with(forest.estimators_[1].tree_, "feature", 40)
    cases.append(("forest tree feature", forest))
    boosted = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y)
    _tree_with(boosted.estimators_[2, 0].tree_, "left_child", -5)
    cases.append(("gradient boosting child", boosted))
    hist = HistGradientBoostingClassifier(max_iter=2).fit(X, y)
    hist._predictors[0][0].nodes["feature_idx"][0] = 99
    cases.append(("hist boosting feature", hist))
    hist2 = HistGradientBoostingClassifier(max_iter=2).fit(X, y)
    hist2._predictors[1][0].nodes["right"][0] = 10**4
    cases.append(("hist boosting child", hist2))
    knn = KNeighborsClassifier(algorithm="kd_tree").fit(X, y)
    state = list(knn._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][0] = 10**6  # idx_array
    knn._tree.__setstate__(tuple(state))
    cases.append(("kd tree index", knn))
    return cases


def _with_tree_state(model: Any, index: int, value: Any) -> Any:
    state = list(model._tree.__getstate__())
    state[index] = value
    model._tree.__setstate__(tuple(state))
    return model


def _malformed_shapes() -> list[tuple[str, Any]]:
    """Trusted neighbour and libsvm models whose arrays compiled code indexes unchecked were
    given shapes that disagree with the model's input: one case per tampered member."""
    from sklearn.cluster import DBSCAN
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
    from sklearn.svm import SVC, SVR, NuSVC

    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = (X[:, 0] > 0.5).astype(int)
    y3 = np.arange(60) % 3
    metric = DistanceMetric.get_metric
    cases: list[tuple[str, Any]] = []

    def knn(cls: Any = KNeighborsClassifier, target: Any = y, **kw: Any) -> Any:
        return cls(**kw).fit(X, target)

    maha = {"algorithm": "ball_tree", "metric": "mahalanobis", "metric_params": {"VI": np.eye(3)}}
    cases.append(
        (
            "tree's Mahalanobis VI 1x1",
            _with_tree_state(knn(**maha), 11, metric("mahalanobis", VI=np.eye(1))),
        )
    )
    cases.append(
        (
            "tree's Mahalanobis VI 5x5",
            _with_tree_state(
                knn(KNeighborsRegressor, X[:, 1], **maha), 11, metric("mahalanobis", VI=np.eye(5))
            ),
        )
    )
    seu = {"algorithm": "ball_tree", "metric": "seuclidean", "metric_params": {"V": np.ones(3)}}
    cases.append(
        (
            "tree's SEuclidean V of 1",
            _with_tree_state(knn(**seu), 11, metric("seuclidean", V=np.ones(1))),
        )
    )
    mink = {
        "algorithm": "ball_tree",
        "metric": "minkowski",
        "p": 3,
        "metric_params": {"w": np.ones(3)},
    }
    cases.append(
        (
            "tree's Minkowski w of 2",
            _with_tree_state(knn(**mink), 11, metric("minkowski", p=3, w=np.ones(2))),
        )
    )
    cases.append(
        (
            "tree's haversine over 3 features",
            _with_tree_state(knn(algorithm="ball_tree"), 11, metric("haversine")),
        )
    )
    bad_vi = knn(**maha)
    bad_vi.effective_metric_params_ = {"VI": np.eye(2)}
    cases.append(("estimator's VI 2x2", bad_vi))
    brute = knn(algorithm="brute", metric="seuclidean", metric_params={"V": np.ones(3)})
    brute.metric_params = {"V": np.ones(7)}
    cases.append(("brute metric_params V of 7", brute))
    scan = DBSCAN(metric="mahalanobis", metric_params={"VI": np.eye(3)}).fit(X)
    scan.metric_params = {"VI": np.eye(1)}
    cases.append(("DBSCAN VI 1x1", scan))
    narrow = knn(NearestNeighbors, None, algorithm="brute")
    narrow._fit_X = X[:, :2].copy()
    cases.append(("_fit_X of 2 features", narrow))
    moved = knn(algorithm="kd_tree")
    moved._fit_X = X[:30].copy()
    cases.append(("_fit_X shorter than the tree", moved))
    short_y = knn()
    short_y._y = short_y._y[:10]
    cases.append(("_y of 10 labels", short_y))
    far_y = knn(algorithm="brute")
    far_y._y = far_y._y.copy()
    far_y._y[3] = 7
    cases.append(("_y class index 7 of 2", far_y))

    def svm(est: Any, target: Any, field: str, value: Any) -> Any:
        est.fit(X, target)
        setattr(est, field, value(getattr(est, field)))
        return est

    cases.append(
        (
            "SVC support vectors of 2 features",
            svm(SVC(), y, "support_vectors_", lambda v: v[:, :2].copy()),
        )
    )
    cases.append(
        (
            "SVC dual coefficients too short",
            svm(SVC(), y3, "_dual_coef_", lambda v: v[:, :3].copy()),
        )
    )
    cases.append(("SVC per-class counts", svm(SVC(), y3, "_n_support", lambda v: v * 5)))
    cases.append(("SVC intercepts", svm(SVC(), y3, "_intercept_", lambda v: v[:1].copy())))
    cases.append(("NuSVC probA", svm(NuSVC(), y3, "_probA", lambda v: np.ones(9))))
    cases.append(
        ("SVR support vectors", svm(SVR(), X[:, 0], "support_vectors_", lambda v: v[:1].copy()))
    )
    pre = SVC(kernel="precomputed").fit(X @ X.T, y)
    pre.support_ = pre.support_.copy()
    pre.support_[0] = 10**6
    cases.append(("precomputed SVC support index", pre))
    return cases


@pytest.mark.parametrize("label", [label for label, _ in _malformed_shapes()])
def test_trusted_models_with_shapes_their_input_contradicts_are_refused(label: str) -> None:
    from rung.core.errors import IntegrityError

    model = dict(_malformed_shapes())[label]
    kind, data = materialize.dump(model)
    assert materialize.untrusted_types(data) == [], label  # every type is trusted...
    with pytest.raises(IntegrityError, match="model m@1 is malformed: ") as refused:
        materialize.load(kind, data, what="model m@1")  # ...but not the shapes it holds
    assert "\n" not in str(refused.value)


def test_the_testers_knn_file_with_a_1x1_mahalanobis_matrix_is_refused() -> None:
    """The report's example, built at the byte level: the skops zip's .npy member holding the
    ball tree's Mahalanobis matrix replaced by ``np.eye(1)`` (kneighbors read past it)."""
    from sklearn.neighbors import KNeighborsClassifier

    from rung.core.errors import IntegrityError

    X = np.random.RandomState(1).rand(50, 3)
    clf = KNeighborsClassifier(
        algorithm="ball_tree", metric="mahalanobis", metric_params={"VI": np.eye(3)}
    ).fit(X, np.arange(50) % 2)
    _, data = materialize.dump(clf)
    zin = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(zin.read("schema.json"))
    state = schema["content"]["content"]["_tree"]["content"]["content"]
    target = next(s for s in state if "Mahalanobis" in s.get("__class__", ""))
    member = target["content"]["content"][2]["file"]
    members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    buf = io.BytesIO()
    np.save(buf, np.eye(1))
    members[member] = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name, body in members.items():
            zout.writestr(name, body)
    with pytest.raises(IntegrityError, match=r"is malformed: .*shape \(1, 1\)"):
        materialize.load("skops", out.getvalue())


def test_real_neighbour_and_svm_models_with_metric_parameters_still_load() -> None:
    from sklearn.cluster import DBSCAN, OPTICS
    from sklearn.neighbors import (
        KNeighborsClassifier,
        KNeighborsRegressor,
        LocalOutlierFactor,
        NearestNeighbors,
        RadiusNeighborsClassifier,
    )
    from sklearn.svm import SVC, NuSVC, NuSVR, OneClassSVM

    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    VI = {"VI": np.linalg.inv(np.cov(X.T))}
    models: list[tuple[Any, Any]] = [
        (KNeighborsClassifier(algorithm="ball_tree", metric="mahalanobis", metric_params=VI), y),
        (KNeighborsClassifier(algorithm="brute", metric="mahalanobis", metric_params=VI), y),
        (
            KNeighborsRegressor(
                algorithm="ball_tree", metric="seuclidean", metric_params={"V": X.var(0)}
            ),
            X[:, 0],
        ),
        (KNeighborsClassifier(algorithm="ball_tree", p=3, metric_params={"w": np.ones(3)}), y),
        (KNeighborsClassifier(algorithm="kd_tree", weights="distance"), y),
        (RadiusNeighborsClassifier(radius=2.0), y),
        (LocalOutlierFactor(novelty=True, n_neighbors=5), None),
        (NearestNeighbors(algorithm="ball_tree", metric="chebyshev"), None),
        (DBSCAN(metric="mahalanobis", metric_params=VI), None),
        (OPTICS(min_samples=5), None),
        (SVC(), y),
        (SVC(kernel="linear"), (np.arange(60) % 2)),
        (NuSVC(), y),
        (NuSVR(), X[:, 0]),
        (OneClassSVM(), None),
    ]
    for est, target in models:
        est.fit(X) if target is None else est.fit(X, target)
        kind, data = materialize.dump(est)
        loaded = materialize.load(kind, data)
        for method in ("predict", "kneighbors"):
            if hasattr(est, method):
                np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(est, method)(X))
    pre = SVC(kernel="precomputed").fit(X @ X.T, y)
    assert (materialize.load(*materialize.dump(pre)).predict(X @ X.T) == pre.predict(X @ X.T)).all()


def test_trusted_types_with_out_of_range_indices_are_refused() -> None:
    from rung.core.errors import IntegrityError

    for label, model in _malformed_models():
        kind, data = materialize.dump(model)
        assert materialize.untrusted_types(data) == [], label  # every type is trusted...
        with pytest.raises(IntegrityError, match="is malformed") as refused:
            materialize.load(kind, data, what="model m@1")  # ...but the contents are not
        assert "\n" not in str(refused.value), label


CRASH = """
import sys
import numpy as np
from sklearn.tree import DecisionTreeClassifier
X = np.random.RandomState(0).rand(80, 3)
m = DecisionTreeClassifier(random_state=0).fit(X, (X[:, 0] > 0.5).astype(int))
state = m.tree_.__getstate__()
nodes = state["nodes"].copy()
nodes["feature"][0] = 10**9
state["nodes"] = nodes
m.tree_.__setstate__(state)
m.predict(X)
"""


def test_such_a_tree_would_crash_the_process_that_predicts_with_it() -> None:
    import sys

    done = subprocess.run([sys.executable, "-c", CRASH], capture_output=True, timeout=120)
    assert done.returncode != 0  # scikit-learn reads outside the input: why the check exists


def test_a_vectorizer_that_opens_the_files_its_input_names_needs_the_opt_in(
    tmp_path: Path,
) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [tmp_path / f"d{i}.txt" for i in range(3)]
    for i, doc in enumerate(docs):
        doc.write_text(f"alpha beta {i}")
    model = TfidfVectorizer(input="filename").fit([str(d) for d in docs])
    kind, data = materialize.dump(model)
    with pytest.raises(Untrusted, match=r"TfidfVectorizer\(input='filename'\).*--allow-pickle"):
        materialize.load(kind, data)
    loaded = materialize.load(kind, data, allow_pickle=True)
    assert loaded.transform([str(docs[0])]).shape[0] == 1
    content = TfidfVectorizer().fit(["alpha beta", "beta gamma"])  # the default: text itself
    assert materialize.load(*materialize.dump(content)).transform(["alpha"]).shape == (1, 3)
