"""Everything in the metadata store that refers to an artifact, by hash: the live roots of
``rung gc`` and the referrers that ``rung verify`` names for a missing or corrupt object.

Every column of :mod:`rung.store.schema` that holds an artifact hash is read here, once:

==========================  ============================================================
``artifacts.hash``          the object's own record (kind, size): "recorded artifact"
``datasets.artifact_hash``  a dataset version; for a folder version (format ``tree``) its
                            JSON manifest, whose ``files[].hash`` are objects too
``step_io.artifact_hash``   a step run's inputs and outputs
``runs.outputs``            a run's declared outputs (JSON ``{name: hash}``)
``model_versions``          a registered model version's artifact
``evaluations``             the evaluated model and its baseline (when they are recorded
                            artifacts: an application's hash is not), its datasets (JSON)
``monitor_references``      drift references, keyed ``"<model hash>:<reference>"``
==========================  ============================================================

The other tables (predictions, feedback, alerts, automation jobs, leases…) hold no hash. A new
column that holds one must be added here, or ``rung gc`` would sweep what it points at.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from rung.core.errors import IntegrityError
from rung.core.hashing import HASH_LEN
from rung.store.artifacts import ArtifactStore
from rung.store.metadata import MetadataStore

_HEX = frozenset("0123456789abcdef")


def is_digest(text: object) -> bool:
    return isinstance(text, str) and len(text) == HASH_LEN and set(text) <= _HEX


@dataclass
class References:
    """Referrers by hash (readable labels), and the folder manifests that could not be read
    (their files are then unknown: ``label -> error``)."""

    by_hash: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    unreadable: dict[str, str] = field(default_factory=dict)

    def add(self, digest: object, label: str) -> None:
        if is_digest(digest):
            self.by_hash[str(digest)].append(label)

    def describe(self, digest: str, limit: int = 5) -> list[str]:
        """The referrers of ``digest``, without the bare record when something else refers."""
        labels = self.by_hash.get(digest, [])
        named = [x for x in labels if not x.startswith("recorded artifact")] or labels
        return named[:limit] + ([f"… and {len(named) - limit} more"] if len(named) > limit else [])


def collect(store: MetadataStore, artifacts: ArtifactStore) -> References:
    """Every reference to an artifact in the metadata store (see the module's table).

    Folder manifests are read from the artifact store (verified against their hash); one that is
    missing or corrupt lands in ``unreadable``, and the files it lists are not known.
    """
    refs = References()
    with store.read() as tx:
        for r in tx.all("SELECT hash, kind FROM artifacts"):
            refs.add(r["hash"], f"recorded artifact ({r['kind']})")
        datasets = tx.all("SELECT name, version, format, artifact_hash FROM datasets")
        for r in tx.all(
            "SELECT step_io.direction, step_io.name, step_io.artifact_hash, step_runs.name AS step,"
            " step_runs.run_id FROM step_io JOIN step_runs ON step_runs.id = step_io.step_run_id"
        ):
            role = "output" if r["direction"] == "out" else "input"
            refs.add(r["artifact_hash"], f"run {r['run_id']} step {r['step']} {role} {r['name']}")
        for r in tx.all("SELECT id, outputs FROM runs WHERE outputs IS NOT NULL"):
            outputs = _json(r["outputs"])
            if isinstance(outputs, dict):
                for name, digest in outputs.items():
                    refs.add(digest, f"run {r['id']} output {name}")
        for r in tx.all("SELECT name, version, artifact_hash FROM model_versions"):
            refs.add(r["artifact_hash"], f"model {r['name']}@{r['version']}")
        # an application's model_hash is a hash of its components, not an object: only the
        # hashes of recorded artifacts are references
        for r in tx.all(
            "SELECT e.id, e.model, e.datasets, m.hash AS model_hash, b.hash AS baseline_hash"
            " FROM evaluations e LEFT JOIN artifacts m ON m.hash = e.model_hash"
            " LEFT JOIN artifacts b ON b.hash = e.baseline_hash"
        ):
            refs.add(r["model_hash"], f"evaluation {r['id']} model {r['model']}")
            refs.add(r["baseline_hash"], f"evaluation {r['id']} baseline")
            inputs = _json(r["datasets"])
            for d in inputs if isinstance(inputs, list) else []:
                if isinstance(d, dict):
                    refs.add(d.get("hash"), f"evaluation {r['id']} input {d.get('ref')}")
        for r in tx.all("SELECT key FROM monitor_references"):
            model_hash, _, reference = str(r["key"]).partition(":")
            refs.add(model_hash, f"monitor reference ({reference})")
    manifests: dict[str, list[dict[str, object]] | None] = {}
    for d in datasets:
        label = f"dataset {d['name']}@{d['version']}"
        refs.add(d["artifact_hash"], label)
        if d["format"] != "tree":
            continue
        digest = d["artifact_hash"]
        if digest not in manifests:
            try:
                manifests[digest] = list(json.loads(artifacts.get_bytes(digest))["files"])
            except (IntegrityError, ValueError, KeyError, TypeError) as exc:
                manifests[digest] = None
                reason = exc.message if isinstance(exc, IntegrityError) else "not a manifest"
                refs.unreadable[label] = reason
        for entry in manifests[digest] or []:
            refs.add(entry.get("hash"), f"{label} file {entry.get('path')}")
    return refs


def _json(text: str | None) -> object:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
