"""``ws.models``: register model artifacts as named versions, and move aliases between them.

A version records where the model came from (the run, the step output), the dataset versions
it was trained on (from lineage), the run's metrics and an input signature inferred from the
data the training step received: feature names, kinds, dtypes and allowed categories.

Aliases (``champion``, ``challenger``, any name) point at versions. Every move — promote,
rollback, approve, the loop's — passes one gate (:meth:`Registry._move`): the version's
verdict against the project's declared acceptance criteria (:mod:`rung.registry.gate`) must
be passed and the automation must not have rejected it for that alias, or the move is
forced with a reason; every move is an event with who, when, why
and the evaluation that justified it. A move is one transaction: SQLite's
``BEGIN IMMEDIATE`` and a PostgreSQL transaction-level advisory lock per alias serialise two
racing promotions, so the trail never loses a step.
"""

from __future__ import annotations

import builtins
import getpass
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rung.core.errors import InvalidInput, NotFound, RungError
from rung.core.hashing import canonical_json, ordered_json
from rung.core.limits import WHO, check_length, check_text, is_digits, parse_int
from rung.core.refs import check_alias, check_name
from rung.core.suggest import unknown
from rung.registry.gate import (
    Acceptance,
    Declared,
    first_reason,
    gate_evaluation,
    other_evaluations,
    policy_rejection,
)
from rung.store.metadata import Tx
from rung.store.records import allocate

if TYPE_CHECKING:
    from rung.pipelines.runner import Stores

MODEL_KINDS = ("skops", "pickle")


@dataclass
class ModelRef:
    """A model artifact, named the way the user named it."""

    name: str
    hash: str
    kind: str
    run_id: int | None = None
    allow_pickle: bool = False  # the opt-in to load it even if that can run code
    opt_in: str = ""  # how to opt in, named by a refusal (rung.pipelines.materialize.OPT_IN_*)


@dataclass
class ModelVersion:
    name: str
    version: int
    hash: str
    kind: str
    source: str
    run_id: int | None
    datasets: list[str]
    metrics: dict[str, Any]
    signature: dict[str, Any] | None
    allow_pickle: bool
    created_at: float
    aliases: list[str]
    verdict: str | None = None  # of its gate evaluation (rung.registry.gate); None: none
    evaluation_id: int | None = None  # that evaluation
    gate: dict[str, Any] | None = None  # the declared criteria and datasets it is judged by

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


def require_signature(version: ModelVersion) -> dict[str, Any]:
    """The signature of ``version``, or :class:`InvalidInput` when its input columns are not
    known: a model fitted on an array, registered without ``--features``. rung cannot prove
    the order of an array's columns (a step may fit on ``df[["c", "a"]].to_numpy()``), so the
    columns of its training frame are never taken as the model's input order."""
    signature = version.signature or {}
    if not signature.get("features"):
        raise InvalidInput(
            f"{version.ref} was fitted without column names{_unnamed_shape(signature)},"
            " so rung cannot know their order",
            fix_unnamed(version.name),
        )
    return signature


def _unnamed_shape(signature: dict[str, Any]) -> str:
    n = signature.get("n_features")
    return f" on {n} column(s)" if n else ""


def fix_unnamed(name: str) -> str:
    """The hint for a model fitted without column names."""
    return (
        "fit it on a DataFrame (scikit-learn then keeps feature_names_in_), or register it"
        f" with the training order stated: `rung model register RUN --name {name}"
        " --features a,b,c`"
    )


class RefusedPromotion(RungError):
    status = 409


def resolve_artifact(stores: Stores, ref: str) -> ModelRef:
    """A run id (its one model output), ``RUN:STEP.OUTPUT``, or a model artifact hash prefix."""
    from rung.pipelines.history import Runs

    text = str(ref).strip()
    run_part, sep, output = text.partition(":")
    found: Any
    what, found = Runs(stores).resolve(run_part) if not sep else ("run", None)
    if what == "run":
        run_id = Runs(stores)._run_id(run_part) if found is None else found
        detail = Runs(stores).get(run_id)
        candidates = [
            (f"{s['name']}.{o['name']}", o)
            for s in detail["steps"]
            for o in s["outputs"]
            if o["kind"] in MODEL_KINDS
        ]
        if sep:
            candidates = [c for c in candidates if c[0] == output]
        names = sorted({c[0] for c in candidates})
        if not candidates:
            raise NotFound(
                f"run {run_id} has no model output{' ' + repr(output) if sep else ''}",
                "pass a run whose steps return a scikit-learn model, or RUN:STEP.OUTPUT",
            )
        if len(names) > 1:
            raise InvalidInput(
                f"run {run_id} has several model outputs: {', '.join(names)}",
                f"pick one, e.g. {run_id}:{names[0]}",
            )
        _, out = candidates[-1]
        return ModelRef(text, out["hash"], out["kind"], run_id)
    if what == "artifact":
        if found["kind"] in MODEL_KINDS:
            return ModelRef(text, found["hash"], found["kind"])
        raise InvalidInput(
            f"artifact {text} is a {found['kind']}, not a model",
            "pass a model artifact, or a run id",
        )
    raise NotFound(
        f"no model {text!r}",
        "pass a registered NAME@VERSION or NAME@ALIAS, a run id (see `rung runs`),"
        " RUN:STEP.OUTPUT, or a model artifact's hash",
    )


class Registry:
    """Registered models of one workspace (``ws.models``).

    ``acceptance`` is the project's declared acceptance (:class:`~rung.registry.gate.Acceptance`;
    default: read from the workspace's ``rung.toml``): what a version's verdict is judged by
    and what the gate of every alias move requires (see :mod:`rung.registry.gate`)."""

    def __init__(self, stores: Stores, acceptance: Acceptance | None = None) -> None:
        self._s = stores
        self._acceptance = acceptance

    @property
    def acceptance(self) -> Acceptance:
        """The project's declared acceptance criteria and datasets."""
        if self._acceptance is None:
            self._acceptance = Acceptance.from_root(self._s.root)
        return self._acceptance

    # -- registering ---------------------------------------------------------------------

    def register(
        self,
        source: str,
        name: str,
        *,
        allow_pickle: bool = False,
        features: Sequence[str] | None = None,
    ) -> ModelVersion:
        """Register a model artifact (run id, RUN:STEP.OUTPUT or hash) as the next version.

        ``features`` states the input columns, in the order the model was fitted on, of a
        model fitted on an array (no ``feature_names_in_``); they are recorded as the
        signature's names (``"names": "user"``). Without it such a model is registered with
        unknown names (``"names": null``), and serving, batch scoring, evaluation and
        monitoring refuse it. Raises :class:`InvalidInput` when ``features`` are given for a
        model that knows its own names and they differ, repeat a name, or do not number
        ``n_features_in_``.

        Registration loads the model to infer its signature, through the one loader
        (:func:`rung.pipelines.materialize.load`): a model stored with pickle, or a skops file
        naming types outside rung's trusted list, needs ``allow_pickle=True`` (loading it can
        run code), and that opt-in is recorded on the version for every later load. Raises
        :class:`~rung.core.errors.Untrusted` without it, and stores nothing.
        """
        check_name(name, "model name")
        # names exactly as given (spaces, case and Unicode kept): checked against the training
        # step's input columns when the lineage knows them (see _signature)
        stated = None if features is None else [str(f) for f in features]
        return self._register(resolve_artifact(self._s, source), name, allow_pickle, stated)

    def _register(
        self,
        ref: ModelRef,
        name: str,
        allow_pickle: bool,
        features: builtins.list[str] | None = None,
    ) -> ModelVersion:
        """The next version of ``name`` for the model artifact ``ref``, with its provenance."""
        ref.allow_pickle = allow_pickle
        datasets, metrics, signature = self._provenance(ref, features)
        number = allocate(
            lambda: self._insert_version(name, ref, datasets, metrics, signature, allow_pickle),
            f"a version of {name!r}",
        )
        return self.get(f"{name}@{number}")

    def _insert_version(
        self,
        name: str,
        ref: ModelRef,
        datasets: list[str],
        metrics: dict[str, Any],
        signature: dict[str, Any] | None,
        allow_pickle: bool = False,
    ) -> int:
        """The new version's number, or the existing one when the same bytes are registered."""
        with self._s.metadata.write() as tx:
            tx.lock(f"model:{name}")  # the same model registered at once: one version
            same = tx.one(
                "SELECT version, signature, allow_pickle FROM model_versions"
                " WHERE name = :n AND artifact_hash = :h ORDER BY version DESC LIMIT 1",
                {"n": name, "h": ref.hash},
            )
            if same is not None:
                _same_registration(name, same, signature, allow_pickle)
                return int(same["version"])
            latest = tx.scalar(
                "SELECT MAX(version) FROM model_versions WHERE name = :n", {"n": name}
            )
            number = int(latest or 0) + 1
            tx.insert(
                "model_versions",
                {
                    "name": name,
                    "version": number,
                    "artifact_hash": ref.hash,
                    "kind": ref.kind,
                    "source": ref.name,
                    "run_id": ref.run_id,
                    "datasets": canonical_json(datasets),
                    "metrics": canonical_json(metrics),
                    "signature": ordered_json(signature) if signature else None,
                    "allow_pickle": allow_pickle,
                    "created_at": time.time(),
                },
            )
            return number

    def _provenance(
        self, ref: ModelRef, features: builtins.list[str] | None = None
    ) -> tuple[builtins.list[str], dict[str, Any], dict[str, Any] | None]:
        from rung.pipelines.history import Runs

        runs = Runs(self._s)
        tree = runs.lineage(ref.hash)
        datasets = sorted(_datasets_in(tree))
        metrics: dict[str, Any] = {}
        run_id = ref.run_id or (tree.get("step") or {}).get("run_id")
        if run_id:
            metrics = runs.get(run_id)["metrics"]
        return datasets, metrics, self._signature(ref, tree, features)

    def _signature(
        self, ref: ModelRef, tree: dict[str, Any], stated: builtins.list[str] | None = None
    ) -> dict[str, Any]:
        """Feature names in the training order, their kinds (the JSON form of
        :class:`rung.core.columns.ColumnKind`) from the data the training step received, and
        the classes. ``names`` says where the names came from: ``"model"`` (fitted on a
        DataFrame: ``feature_names_in_``), ``"user"`` (fitted on an array, the order stated at
        registration) or ``None`` (unknown: ``features`` is empty, ``n_features`` is all that
        is known, and ``lineage_columns`` keeps the columns of the training step's input
        frame as information only — an array's column order cannot be proven from them)."""
        from rung.pipelines import materialize

        model = materialize.load(
            ref.kind,
            self._s.artifacts.get_bytes(ref.hash),
            allow_pickle=ref.allow_pickle,
            what=f"model {ref.name}",
            opt_in=materialize.OPT_IN_REGISTER,
        )
        features, source = self.feature_names(model, stated)
        if source == "user":
            self._check_stated(features, tree)
        signature: dict[str, Any] = {"features": features, "names": source, "columns": {}}
        n = getattr(model, "n_features_in_", None)
        if n is not None:
            signature["n_features"] = int(n)
        if not features:
            frame = next(iter(self._lineage_frames(tree)), None)
            if frame is not None:
                signature["lineage_columns"] = [str(c) for c in frame.columns]
        frame = self._training_frame(tree, features) if features else None
        if frame is not None:
            from rung.core.columns import kinds_of

            for name, kind in kinds_of(frame[features], "the training data").items():
                signature["columns"][name] = kind.to_dict()
        classes = getattr(model, "classes_", None)
        if classes is not None:
            from rung.core.columns import plain

            signature["classes"] = [plain(c) for c in classes]
        return signature

    def _check_stated(self, stated: builtins.list[str], tree: dict[str, Any]) -> None:
        """Refuse stated feature names that are not columns of the training step's input
        frame, when the lineage knows that frame (one line naming them and the nearest)."""
        frame = next(iter(self._lineage_frames(tree)), None)
        if frame is None:
            return
        columns = [str(c) for c in frame.columns]
        missing = [f for f in stated if f not in columns]
        if missing:
            from rung.core.suggest import closest

            near = closest(missing[0], columns)
            raise InvalidInput(
                f"--features names {', '.join(repr(m) for m in missing[:5])}, not a column of"
                f" the training step's input ({len(columns)} columns)",
                (f"did you mean {near[0]!r}? " if near else "")
                + "give the columns exactly as the training data names them (only commas"
                " separate names: spaces are part of a name)",
            )

    @staticmethod
    def feature_names(
        model: Any, stated: builtins.list[str] | None = None
    ) -> tuple[builtins.list[str], str | None]:
        """The model's input columns in order, and where they were found: the model's own
        ``feature_names_in_`` (``"model"``), else the order ``stated`` at registration
        (``"user"``); ``([], None)`` when no names are known. Names are never taken from the
        lineage: a step may fit on its frame's columns in any order, and feeding them in the
        frame's order scores silently wrong. Raises :class:`InvalidInput` for a stated order
        that is empty, repeats a name, does not number ``n_features_in_``, or differs from
        the model's own names."""
        names = getattr(model, "feature_names_in_", None)
        own = None if names is None else [str(n) for n in names]
        if stated is None:
            return (own, "model") if own is not None else ([], None)
        given = ",".join(stated)
        if not stated or any(not f for f in stated):
            raise InvalidInput(
                f"--features {given!r} names an empty column",
                "give the training columns in order, separated by commas: --features a,b,c",
            )
        repeated = sorted({f for f in stated if stated.count(f) > 1})
        if repeated:
            raise InvalidInput(
                f"--features {given!r} repeats {repeated[:5]}",
                "give each training column once, in the order the model was fitted on",
            )
        if own is not None:
            if own != stated:
                raise InvalidInput(
                    f"--features {given!r} differs from the model's own names {own[:8]}",
                    "leave --features out: the model was fitted on a DataFrame and knows them",
                )
            return own, "model"
        n = getattr(model, "n_features_in_", None)
        if n is not None and int(n) != len(stated):
            raise InvalidInput(
                f"--features names {len(stated)} column(s); the model was fitted on {int(n)}",
                f"give exactly {int(n)} column names, in the order the model was fitted on",
            )
        return list(stated), "user"

    def _lineage_frames(self, tree: dict[str, Any], depth: int = 3) -> Iterator[Any]:
        """The tables of the lineage (datasets and DataFrame outputs), nearest first."""
        from rung.pipelines import materialize

        level = list(tree.get("children", []))
        seen: set[str] = set()
        for _ in range(depth):
            below: list[dict[str, Any]] = []
            for child in level:
                below.extend(child.get("children", []))
                kind, digest = child.get("type"), child.get("hash")
                key = str(child.get("dataset") or digest)
                if key in seen:
                    continue
                seen.add(key)
                try:
                    if kind == "dataset" and child.get("dataset"):
                        version = self._s.data.get(child["dataset"])
                        if not version.tabular:
                            continue
                        frame = version.load()
                    elif digest:
                        with self._s.metadata.read() as tx:
                            art = tx.one(
                                "SELECT kind FROM artifacts WHERE hash = :h", {"h": digest}
                            )
                        if not art or art["kind"] != "parquet":
                            continue
                        frame = materialize.load("parquet", self._s.artifacts.get_bytes(digest))
                    else:
                        continue
                except RungError:
                    continue
                if hasattr(frame, "columns"):
                    yield frame
            level = below

    def _training_frame(self, tree: dict[str, Any], features: list[str]) -> Any:
        for frame in self._lineage_frames(tree):
            names = {str(c) for c in frame.columns}
            if all(f in names for f in features) and len(names) == len(frame.columns):
                frame = frame.copy(deep=False)
                frame.columns = [str(c) for c in frame.columns]
                return frame
        return None

    def training_frame(self, version: ModelVersion) -> Any:
        """The DataFrame ``version`` was fitted on (its features at least), from the lineage:
        the reference a monitor compares served inputs with."""
        from rung.pipelines.history import Runs

        features = require_signature(version)["features"]
        frame = self._training_frame(Runs(self._s).lineage(version.hash), features)
        if frame is None:
            raise NotFound(
                f"no training data with the features of {version.ref} in its lineage",
                "give a reference dataset explicitly",
            )
        return frame

    # -- reading -------------------------------------------------------------------------

    def load(self, ref: str) -> tuple[ModelVersion, Any]:
        """The version and its model, from hash-verified bytes, through the one loader with the
        opt-in recorded on the version (raises :class:`~rung.core.errors.Untrusted` without
        it for a model that could run code when loaded)."""
        from rung.pipelines import materialize

        version = self.get(ref)
        model = materialize.load(
            version.kind,
            self._s.artifacts.get_bytes(version.hash),
            allow_pickle=version.allow_pickle,
            what=f"model {version.ref}",
            opt_in=materialize.OPT_IN_VERSION,
        )
        return version, model

    def check_loadable(self, ref: str) -> ModelVersion:
        """The version, once its recorded opt-in is known to cover what loading it needs
        (:func:`rung.pipelines.materialize.check`); does not build the model."""
        from rung.pipelines import materialize

        version = self.get(ref)
        materialize.check(
            version.kind,
            self._s.artifacts.get_bytes(version.hash),
            allow_pickle=version.allow_pickle,
            what=f"model {version.ref}",
            opt_in=materialize.OPT_IN_VERSION,
        )
        return version

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version ``name@alias`` points at, or None when the alias is not set."""
        with self._s.metadata.read() as tx:
            value = tx.scalar(
                "SELECT version FROM aliases WHERE name = :n AND alias = :a",
                {"n": name, "a": alias},
            )
        return None if value is None else int(value)

    def get(self, ref: str) -> ModelVersion:
        """``NAME`` (latest), ``NAME@VERSION`` or ``NAME@ALIAS``."""
        name, _, which = ref.partition("@")
        check_name(name, "model name")
        with self._s.metadata.read() as tx:
            if not which:
                row = tx.one(
                    "SELECT * FROM model_versions WHERE name = :n ORDER BY version DESC LIMIT 1",
                    {"n": name},
                )
            elif is_digits(which):
                row = tx.one(
                    "SELECT * FROM model_versions WHERE name = :n AND version = :v",
                    {
                        "n": name,
                        "v": parse_int(which, "version", hint=f"write {name}@N or {name}@ALIAS"),
                    },
                )
            else:
                alias = tx.one(
                    "SELECT version FROM aliases WHERE name = :n AND alias = :a",
                    {"n": name, "a": which},
                )
                row = (
                    None
                    if alias is None
                    else tx.one(
                        "SELECT * FROM model_versions WHERE name = :n AND version = :v",
                        {"n": name, "v": alias["version"]},
                    )
                )
            if row is None:
                known = tx.scalar(
                    "SELECT MAX(version) FROM model_versions WHERE name = :n", {"n": name}
                )
                if known is None:
                    raise unknown("model", name, _model_names(tx), "see `rung model list`")
                if which and not is_digits(which):
                    aliases = tx.all("SELECT alias FROM aliases WHERE name = :n", {"n": name})
                    raise unknown(
                        "alias",
                        which,
                        [a["alias"] for a in aliases],
                        f"to create that alias: rung model promote {name} VERSION --alias {which}",
                        message=f"model {name!r} has no alias {which!r}",
                        fmt=f"{name}@{{}}",
                    )
                raise NotFound(
                    f"model {name!r} has no version {which}", f"its versions are 1 to {known}"
                )
            return self._version(tx, row)

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every registered version (of model ``name`` only, when given), by name, newest
        version first; ``[]`` for a name with no version."""
        where, params = ("WHERE name = :n", {"n": name}) if name is not None else ("", {})
        with self._s.metadata.read() as tx:
            rows = tx.all(
                f"SELECT * FROM model_versions {where} ORDER BY name, version DESC", params
            )
            return [self._version(tx, r) for r in rows]

    def _version(self, tx: Tx, row: dict[str, Any]) -> ModelVersion:
        aliases = [
            a["alias"]
            for a in tx.all(
                "SELECT alias FROM aliases WHERE name = :n AND version = :v ORDER BY alias",
                {"n": row["name"], "v": row["version"]},
            )
        ]
        declared = self.acceptance.of(row["name"])
        ev = gate_evaluation(tx, declared, row["artifact_hash"])
        gate = {
            **declared.to_dict(),
            "evaluation": ev["id"] if ev else None,
            "evaluated_on": ev["datasets"] if ev else [],
        }
        return ModelVersion(
            name=row["name"],
            version=row["version"],
            hash=row["artifact_hash"],
            kind=row["kind"],
            source=row["source"],
            run_id=row["run_id"],
            datasets=json.loads(row["datasets"]),
            metrics=json.loads(row["metrics"]),
            signature=json.loads(row["signature"]) if row["signature"] else None,
            allow_pickle=bool(row["allow_pickle"]),
            created_at=row["created_at"],
            aliases=aliases,
            verdict=ev["verdict"] if ev else None,
            evaluation_id=ev["id"] if ev else None,
            gate=gate,
        )

    def lineage(self, ref: str, limit: int = 500) -> dict[str, Any]:
        """The lineage graph of ``ref`` — ``dataset:NAME@V`` (or ``NAME@V``), ``run:ID``,
        ``model:NAME@V|ALIAS`` or an artifact hash prefix — at most ``limit`` nodes: see
        :func:`rung.registry.lineage.lineage_graph` for its shape and errors."""
        from rung.registry.lineage import lineage_graph

        return lineage_graph(self._s, self, ref, limit)

    # -- aliases -------------------------------------------------------------------------

    def promote(
        self,
        name: str,
        version: int,
        alias: str = "champion",
        *,
        force: bool = False,
        reason: str | None = None,
        fence: Callable[[Tx], None] | None = None,
        check: Callable[[int | None], RefusedPromotion | None] | None = None,
        who: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version``: the event (a dict of ``alias_events``).

        Gated (:meth:`_move`): refused with :class:`RefusedPromotion` unless the version's
        verdict — from its gate evaluation against the project's declared acceptance
        criteria — is passed, or ``force`` is given with a ``reason`` (recorded as the action
        ``force``). Raises :class:`InvalidInput` for ``force`` without a reason or a bad
        alias, :class:`NotFound` for an unknown model or version. ``fence`` (the automation's
        lease) is called inside the move's transaction before anything is written; it raises
        to refuse the move (:class:`LeaseLost`); ``check`` is the caller's own condition of
        the move (see :meth:`_move`); ``who`` is who moves it (default :func:`current_user`;
        ``rung ui`` names the token that acted)."""
        _check_alias(alias)
        target = self.get(f"{name}@{version}")
        _check_force(force, reason)
        return self._move(
            name,
            alias,
            target.version,
            "promote",
            reason,
            None,
            force=force,
            fence=fence,
            check=check,
            who=who,
        )

    def rollback(
        self,
        name: str,
        alias: str = "champion",
        reason: str | None = None,
        *,
        force: bool = False,
        who: str | None = None,
    ) -> dict[str, Any]:
        """Move ``alias`` back to the version it pointed at before its last move.

        Gated like :meth:`promote`: a previous version that does not pass the gate (a
        forced version rolled back to, say) needs ``force`` and a ``reason`` (recorded as
        ``force-rollback``)."""
        _check_alias(alias)
        _check_force(force, reason)
        with self._s.metadata.read() as tx:
            last = tx.one(
                "SELECT from_version, to_version FROM alias_events WHERE name = :n AND alias = :a"
                " ORDER BY id DESC LIMIT 1",
                {"n": name, "a": alias},
            )
            aliases = tx.all("SELECT DISTINCT alias FROM alias_events WHERE name = :n", {"n": name})
            if last is None and not aliases:
                require_model(tx, name)
        if last is None:
            raise unknown(
                "alias",
                alias,
                [a["alias"] for a in aliases],
                "see `rung model history`",
                message=f"model {name!r} has no alias {alias!r} to roll back",
            )
        if last["from_version"] is None:
            raise InvalidInput(
                f"{name}@{alias} has no previous version (it was first set to {last['to_version']})",
                "promote another version instead",
            )
        return self._move(
            name, alias, last["from_version"], "rollback", reason, None, force=force, who=who
        )

    def _move(
        self,
        name: str,
        alias: str,
        version: int,
        action: str,
        reason: str | None,
        evaluation_id: int | None,
        *,
        force: bool = False,
        fence: Callable[[Tx], None] | None = None,
        check: Callable[[int | None], RefusedPromotion | None] | None = None,
        who: str | None = None,
    ) -> dict[str, Any]:
        """Move ``alias`` to ``version`` in one transaction, and record the event.

        **The gate**, for every move whatever command asks for it, read in this same
        transaction: the version's verdict (its gate evaluation,
        :func:`rung.registry.gate.gate_evaluation`) must be passed; the automation must not
        stand by a rejection of the version for this alias
        (:func:`rung.registry.gate.policy_rejection`); and ``check``, the caller's own
        condition (``rung model approve``: the alias still on the champion its evidence
        compared with), called with the alias's current version (None: unset), must return
        no refusal. Otherwise the move needs ``force`` and a non-blank ``reason``, and its
        action is recorded as ``force`` (for ``promote``) or ``force-ACTION``. Raises the
        first :class:`RefusedPromotion` (nothing stored) otherwise. ``evaluation_id`` is the
        evaluation the event cites (default: the gate evaluation)."""
        now = time.time()
        declared = self.acceptance.of(name)
        # checked before anything is written, like the reason
        who = current_user() if who is None else check_length(who, WHO, "who")
        if reason is not None:
            check_text(reason, "reason")
        with self._s.metadata.write() as tx:
            if fence is not None:
                fence(tx)
            if self._s.metadata.dialect == "postgresql":  # serialise moves of this alias
                tx.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": f"{name}@{alias}"})
            row = tx.one(
                "SELECT artifact_hash FROM model_versions WHERE name = :n AND version = :v",
                {"n": name, "v": version},
            )
            if row is None:
                raise NotFound(f"model {name!r} has no version {version}", "see `rung model list`")
            ev = gate_evaluation(tx, declared, row["artifact_hash"])
            current = tx.one(
                "SELECT version FROM aliases WHERE name = :n AND alias = :a",
                {"n": name, "a": alias},
            )
            refusals: builtins.list[RefusedPromotion | None] = []
            if ev is None or ev["verdict"] != "passed":
                refusals.append(_refusal(tx, declared, name, alias, version, action, row, ev))
            rejected = policy_rejection(tx, name, alias, version)
            if rejected is not None:
                refusals.append(_rejected(name, alias, version, action, rejected))
            if check is not None:
                refusals.append(check(current["version"] if current else None))
            if any(refusals):
                if not force:
                    raise next(r for r in refusals if r is not None)
                _check_force(force, reason)
                action = "force" if action == "promote" else f"force-{action}"
                mention = f"automate job {rejected['job']}" if rejected else ""
                if rejected is not None and reason is not None and mention not in reason:
                    reason += f" (overrides automate job {rejected['job']}'s rejection)"
            if current is None:
                tx.insert(
                    "aliases",
                    {"name": name, "alias": alias, "version": version, "updated_at": now},
                    returning=None,
                )
            else:
                tx.execute(
                    "UPDATE aliases SET version = :v, updated_at = :t WHERE name = :n AND alias = :a",
                    {"v": version, "t": now, "n": name, "a": alias},
                )
            event = {
                "name": name,
                "alias": alias,
                "from_version": current["version"] if current else None,
                "to_version": version,
                "action": action,
                "who": who,
                "why": reason,
                "evaluation_id": evaluation_id
                if evaluation_id is not None
                else (ev["id"] if ev else None),
                "at": now,
            }
            event["id"] = tx.insert("alias_events", event)
        return event

    def rejections(self, name: str) -> dict[int, builtins.list[dict[str, Any]]]:
        """The automation's standing rejections of ``name``'s versions, which the gate
        refuses to move an alias onto without force (:func:`rung.registry.gate.policy_rejection`,
        the same rule): ``{version: [{"alias", "job", "reason"}]}``; versions without one are
        absent."""
        from rung.registry.gate import policy_rejection

        out: dict[int, builtins.list[dict[str, Any]]] = {}
        with self._s.metadata.read() as tx:
            judged = tx.all(
                "SELECT DISTINCT alias, challenger FROM automation_jobs WHERE model = :n"
                " AND decision IS NOT NULL AND challenger IS NOT NULL",
                {"n": name},
            )
            for row in judged:
                rejected = policy_rejection(tx, name, row["alias"], int(row["challenger"]))
                if rejected is not None:
                    out.setdefault(int(row["challenger"]), []).append(
                        {"alias": row["alias"], **rejected}
                    )
        return out

    def history(self, name: str) -> builtins.list[dict[str, Any]]:
        with self._s.metadata.read() as tx:
            rows = tx.all("SELECT * FROM alias_events WHERE name = :n ORDER BY id", {"n": name})
            if not rows:
                require_model(tx, name)
        return rows


def require_model(tx: Tx, name: str) -> None:
    """Raise NotFound unless ``name`` has a registered version (for listings that are empty
    both for a known model with nothing yet and for a typo)."""
    if tx.scalar("SELECT MAX(version) FROM model_versions WHERE name = :n", {"n": name}) is None:
        raise unknown("model", name, _model_names(tx), "see `rung model list`")


def _model_names(tx: Tx) -> builtins.list[str]:
    return [r["name"] for r in tx.all("SELECT DISTINCT name FROM model_versions")]


def _check_force(force: bool, reason: str | None) -> None:
    if force and not (reason and reason.strip()):
        raise InvalidInput("--force needs a reason", 'add --reason "why this version ships anyway"')


_VERBS = {"promote": "promote {ref} to {alias!r}", "rollback": "roll {name}@{alias} back to {ref}"}


def _refusal(
    tx: Tx,
    declared: Declared,
    name: str,
    alias: str,
    version: int,
    action: str,
    row: dict[str, Any],
    ev: dict[str, Any] | None,
) -> RefusedPromotion:
    """Why ``alias`` may not move onto ``version`` without ``--force --reason``, and how."""
    ref = f"{name}@{version}"
    what = _VERBS.get(action, "move {name}@{alias} to {ref} (" + action + ")")
    head = f"refusing to {what.format(ref=ref, name=name, alias=alias)}"
    other = "" if alias == "champion" else f" --alias {alias}"
    command = f"rollback {name}" if action == "rollback" else f"promote {name} {version}"
    override = f'or override with `rung model {command}{other} --force --reason "..."`'
    on = " ".join(f"--on {d}" for d in declared.datasets) or "--on DATASET@V"
    if declared.digest is None:
        return RefusedPromotion(
            f"{head}: the project declares no acceptance criteria, so no version can pass",
            'declare them in rung.toml under [eval], e.g. criteria = ["accuracy >= 0.8 on'
            f' every dataset"], then `rung eval {ref} {on}`; {override}',
        )
    if ev is None:
        others = other_evaluations(tx, row["artifact_hash"], None)
        why = f"it has no evaluation against the project's acceptance criteria ({declared.describe()})"
        if others:
            why += (
                f"; evaluation(s) {', '.join(map(str, others))} used other criteria or datasets"
                " and only inform"
            )
        return RefusedPromotion(
            f"{head}: {why}",
            f"evaluate it with `rung eval {ref} {on}` (the declared criteria are the default);"
            f" {override}",
        )
    reason = first_reason(tx, ev["id"])
    return RefusedPromotion(
        f"{head}: its evaluation {ev['id']} against the project's acceptance criteria has"
        f" verdict {ev['verdict']}" + (f" ({reason})" if reason else ""),
        f"promote a version that passed, {override}",
    )


def _rejected(
    name: str, alias: str, version: int, action: str, rejected: dict[str, Any]
) -> RefusedPromotion:
    """Why ``alias`` may not move onto ``version`` that the automation rejected for it."""
    ref = f"{name}@{version}"
    what = _VERBS.get(action, "move {name}@{alias} to {ref} (" + action + ")")
    head = f"refusing to {what.format(ref=ref, name=name, alias=alias)}"
    why = f" ({rejected['reason']})" if rejected["reason"] else ""
    other = "" if alias == "champion" else f" --alias {alias}"
    command = f"rollback {name}" if action == "rollback" else f"promote {name} {version}"
    return RefusedPromotion(
        f"{head}: automate job {rejected['job']} rejected it{why}",
        f'ship it anyway with `rung model approve {name} {version} --force --reason "..."`'
        f' or `rung model {command}{other} --force --reason "..."`',
    )


def _datasets_in(node: dict[str, Any]) -> set[str]:
    found = {node["dataset"]} if node.get("dataset") else set()
    if (
        node.get("type") == "dataset"
        and not node.get("dataset")
        and node.get("label", "").startswith("dataset ")
    ):
        found.add(node["label"].split()[1])
    for child in node.get("children", []):
        found |= _datasets_in(child)
    return found


def _same_registration(
    name: str, row: Any, signature: dict[str, Any] | None, allow_pickle: bool
) -> None:
    """The same bytes registered again under ``name`` return the version that holds them —
    unless this registration states something that version does not record (feature names
    stated with ``--features`` that differ from the version's, or ``--allow-pickle`` for a
    version registered without it): then refuse in one line, since a version never changes
    and silently keeping the old record would drop what was asked. Stating less (no
    ``--features``, no opt-in) returns the version as it is."""
    import json

    ref = f"{name}@{row['version']}"
    old = json.loads(row["signature"]) if row["signature"] else {}
    new = signature or {}
    if new.get("names") == "user" and (old.get("features") or []) != new.get("features"):
        held = old.get("features") or []
        has = f"feature names {held[:5]}" if held else "no feature names"
        raise InvalidInput(
            f"{ref} already holds these bytes with {has}; a version never changes",
            "register them under a new name (--name) to record other feature names",
        )
    if allow_pickle and not row["allow_pickle"]:
        raise InvalidInput(
            f"{ref} already holds these bytes, registered without --allow-pickle; a version"
            " never changes",
            "register them under a new name (--name) to record another opt-in",
        )


def _check_alias(alias: str) -> None:
    check_alias(alias)  # the one rule, shared with [automate] alias (rung.core.refs)


def current_user() -> str:
    """Who moves an alias: ``RUNG_USER``, else the login name (at most
    :data:`rung.core.limits.WHO` characters, or :class:`InvalidInput`)."""
    user = os.environ.get("RUNG_USER")
    if user:
        return check_length(user, WHO, "user name (RUNG_USER)")
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register_model(
    output: Any,
    name: str,
    *,
    allow_pickle: bool = False,
    features: Sequence[str] | None = None,
) -> ModelVersion:
    """Inside a pipeline: register a step's model output as the next version of ``name``.

    ``model = train(...); rung.register_model(model, "trend")`` — the version's source is the
    current run and step output, so its lineage and signature come along. ``features``
    states the training column order of a model fitted on an array (see
    :meth:`Registry.register`).
    """
    from rung.pipelines.runner import Output, current_executor

    executor = current_executor()
    if executor is None:
        raise InvalidInput(
            "rung.register_model(...) was called outside a running pipeline",
            "call it in a @pipeline function, or use ws.models.register(RUN, name)",
        )
    if not isinstance(output, Output) or output.kind not in MODEL_KINDS:
        raise InvalidInput(
            f"rung.register_model needs a step's model output, got {type(output).__name__}",
            "pass what a step returning a scikit-learn model returned",
        )
    registry = Registry(executor.stores)
    ref = ModelRef(f"{executor.run_id}:{output.name}", output.hash, output.kind, executor.run_id)
    check_name(name, "model name")
    stated = None if features is None else [str(f).strip() for f in features]
    return registry._register(ref, name, allow_pickle, stated)
