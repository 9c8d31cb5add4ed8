"""Lineage as a graph: the chain of evidence from data to a model version, for ``rung ui``.

:meth:`rung.pipelines.history.Runs.lineage` answers trees (back from a run or artifact to its
datasets and code, forward from a dataset version to the steps and outputs derived from
it). This module joins them into one directed graph and adds what the registry and the
evaluations know: the model versions registered from an artifact (and back from a model
version to its run), and the evaluations of those versions or on that dataset.

The graph: ``{"from", "root": [node ids], "nodes": [...], "edges": [...], "layers",
"truncated", "limit", "kinds"}``. A node is ``{"id", "kind", "label", "layer", "order",
"url", "detail"}`` with ``kind`` one of :data:`KINDS`; an edge ``{"source", "target"}``
points the way data flows (a dataset to the step that read it, a step to its output, an
output to the model version registered from it, a model version to its evaluation).

Layout (a layered drawing left to right, as in Sugiyama et al. 1981): a node's layer is the
longest path to it from a node without inputs, and a node without inputs (code, a dataset an
evaluation used) is then moved just before its earliest reader; within a layer nodes are
ordered by the barycentre of their inputs in earlier layers (two sweeps), which keeps edges
from crossing where it can.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rung.core.errors import InvalidInput
from rung.core.limits import is_digits

if TYPE_CHECKING:
    from rung.pipelines.runner import Stores
    from rung.registry.models import Registry

KINDS = ("dataset", "step", "artifact", "model", "evaluation", "code")
"""The kinds of node, in the legend's order."""
MAX_NODES = 500
"""The most nodes a graph holds by default; a bigger lineage is cut (``truncated``)."""
_EVALUATIONS_PER_NODE = 20


class Graph:
    """Nodes and edges added at most once each, at most ``limit`` nodes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], None] = {}
        self.truncated = False

    def add(
        self,
        key: str,
        kind: str,
        label: str,
        url: str | None = None,
        **detail: Any,
    ) -> bool:
        """Add node ``key`` (once); False when the graph is full and it was left out."""
        if key in self.nodes:
            self.nodes[key]["detail"].update({k: v for k, v in detail.items() if v is not None})
            return True
        if len(self.nodes) >= self.limit:
            self.truncated = True
            return False
        self.nodes[key] = {
            "id": key,
            "kind": kind,
            "label": label,
            "url": url,
            "detail": {k: v for k, v in detail.items() if v is not None},
        }
        return True

    def link(self, source: str, target: str) -> None:
        if source in self.nodes and target in self.nodes and source != target:
            self.edges[(source, target)] = None


def parse_from(text: str) -> tuple[str, str]:
    """What a lineage reference names: ``(kind, rest)`` with kind ``dataset`` (``dataset:
    NAME@V``, ``NAME@V``, ``dataset:NAME`` for the latest version), ``run`` (``run:ID``, or an
    id), ``model`` (``model:NAME@V``, ``model:NAME@ALIAS``, ``model:NAME`` for the latest) or
    ``artifact`` (``artifact:HASH``, or any other word: :func:`lineage_graph` reads a bare
    word that is not a hash prefix as a dataset or model name). Raises
    :class:`~rung.core.errors.InvalidInput` for an empty reference or an unknown prefix."""
    text = text.strip()
    if not text:
        raise InvalidInput(
            "the lineage reference is empty",
            "write dataset:NAME@V, run:ID, model:NAME@V (or @ALIAS) or an artifact hash",
        )
    prefix, sep, rest = text.partition(":")
    if sep and prefix in ("dataset", "run", "model", "artifact"):
        if not rest.strip():
            raise InvalidInput(f"{text!r} names no {prefix}", f"write {prefix}:… after the colon")
        return prefix, rest.strip()
    if sep:
        raise InvalidInput(
            f"unknown lineage reference {text[:100]!r}",
            "start it with dataset:, run:, model: or artifact:",
        )
    if "@" in text:
        return "dataset", text
    if is_digits(text.lstrip("#")):
        return "run", text
    return "artifact", text


def lineage_graph(
    stores: Stores, registry: Registry, ref: str, limit: int = MAX_NODES
) -> dict[str, Any]:
    """The lineage graph of ``ref`` (see :func:`parse_from` for its forms), at most ``limit``
    nodes (see the module's docstring for the shape).

    Raises :class:`~rung.core.errors.NotFound` (with the nearest names) for an unknown
    dataset, version, run, model, alias or artifact, and
    :class:`~rung.core.errors.InvalidInput` for a malformed reference."""
    from rung.pipelines.history import Runs

    runs = Runs(stores)
    kind, rest = parse_from(ref)
    if kind == "artifact" and not ref.strip().startswith("artifact:"):
        kind, rest = _bare_name(stores, registry, rest)
    graph = Graph(max(1, limit))
    root: builtins.list[str] = []
    if kind == "dataset":
        version = stores.data.get(rest)
        top = f"dataset:{version.ref}"
        graph.add(
            top,
            "dataset",
            version.ref,
            _dataset_url(version.ref),
            hash=version.hash,
            rows=version.rows,
        )
        root.append(top)
        tree = runs.lineage(version.ref)
        _forward(graph, tree, top)
        _read_inside(graph, runs, version.ref, top)
        with stores.metadata.read() as tx:
            used = tx.all(
                "SELECT id FROM evaluations WHERE datasets LIKE :h ORDER BY id DESC LIMIT :n",
                {"h": f"%{version.hash}%", "n": _EVALUATIONS_PER_NODE},
            )
        for row in used:
            _evaluation(graph, stores, int(row["id"]))
    elif kind == "model":
        model = registry.get(rest)
        top = _model_node(graph, model.name, model.version, model.aliases)
        root.append(top)
        tree = runs.lineage(model.hash)
        out = _backward(graph, tree)
        if out is not None:
            graph.link(out, top)
        steps = [n for n in graph.nodes.values() if n["kind"] == "step"]
        if model.run_id is not None and not any(
            n["detail"].get("run") == model.run_id for n in steps
        ):  # registered from a run whose step records no such output: the run itself
            run = runs.get(model.run_id)
            key = f"run:{run['id']}"
            graph.add(
                key, "step", f"run {run['id']} {run['name']}", f"/runs/{run['id']}", run=run["id"]
            )
            graph.link(key, out or top)
    elif kind == "run":
        tree = runs.lineage(rest if rest.startswith("#") else f"#{rest}")
        run_id = int(tree["id"])
        for child in tree.get("children", []):
            _backward(graph, child)
        root.extend(
            k
            for k, n in graph.nodes.items()
            if n["kind"] == "step" and n["detail"].get("run") == run_id
        )
        if not root:
            key = f"run:{run_id}"
            graph.add(key, "step", tree["label"], f"/runs/{run_id}")
            root.append(key)
    else:
        tree = runs.lineage(rest)
        found = _backward(graph, tree)
        if found is not None:
            root.append(found)
    _models_and_evaluations(graph, stores)
    _code_versions(graph, runs)
    _output_names(graph, stores)
    return _laid_out(graph, ref, root)


def _output_names(graph: Graph, stores: Stores) -> None:
    """An artifact known only by its hash (the root of a model's lineage) named as the output
    of the step that produced it: ``train_model.output``."""
    producers = {t: s for s, t in graph.edges if graph.nodes[s]["kind"] == "step"}
    with stores.metadata.read() as tx:
        for key, node in graph.nodes.items():
            digest = node["detail"].get("hash", "")
            if node["kind"] != "artifact" or node["label"] != digest[:12] or key not in producers:
                continue
            step = graph.nodes[producers[key]]["detail"].get("step")
            name = tx.scalar(
                "SELECT name FROM step_io WHERE artifact_hash = :h AND direction = 'out'"
                " ORDER BY id LIMIT 1",
                {"h": digest},
            )
            if step and name:
                node["label"] = f"{step}.{name}"


def _code_versions(graph: Graph, runs: Any) -> None:
    """The git commit (and whether the tree was dirty) of each run of the graph's steps, on
    the step nodes and their code nodes: the code a model came from, as the run recorded it."""
    by_run: dict[int, builtins.list[dict[str, Any]]] = {}
    for node in graph.nodes.values():
        if node["kind"] == "step" and node["detail"].get("run") is not None:
            by_run.setdefault(int(node["detail"]["run"]), []).append(node)
    feeds: dict[str, builtins.list[str]] = {}
    for s, t in graph.edges:
        if graph.nodes[s]["kind"] == "code":
            feeds.setdefault(t, []).append(s)
    for run_id, nodes in builtins.list(by_run.items())[:100]:
        code = runs.get(run_id)["code"]
        if not code.get("commit"):
            continue
        detail = {"commit": code["commit"], "dirty": code["dirty"]}
        for node in nodes:
            node["detail"].update(detail)
            for c in feeds.get(node["id"], []):
                graph.nodes[c]["detail"].update(detail)


def _bare_name(stores: Stores, registry: Registry, text: str) -> tuple[str, str]:
    """What a bare word names: an artifact when it is a hash prefix, else the latest version
    of the dataset (first) or model of that name. Raises :class:`NotFound` with the nearest
    dataset and model names when it is a valid name of neither."""
    from rung.core.refs import check_name
    from rung.core.suggest import unknown
    from rung.pipelines.history import is_hash_prefix

    if is_hash_prefix(text):
        return "artifact", text
    try:
        check_name(text)
    except InvalidInput:
        return "artifact", text  # not a name: Runs.lineage says what the forms are
    if stores.data.list(text):
        return "dataset", text
    if any(v.name == text for v in registry.list()):
        return "model", text
    names = {v.name for v in stores.data.list()} | {v.name for v in registry.list()}
    raise unknown(
        "dataset or model",
        text,
        sorted(names),
        "write dataset:NAME@V, model:NAME@V, run:ID or 6+ hex digits of an artifact hash",
    )


# -- trees to nodes ----------------------------------------------------------------------


def _dataset_url(ref: str) -> str:
    from urllib.parse import quote

    return "/datasets/" + quote(ref, safe="@")


def _model_node(graph: Graph, name: str, version: int, aliases: builtins.list[str]) -> str:
    from urllib.parse import quote

    key = f"model:{name}@{version}"
    label = f"{name}@{version}" + (f" ({', '.join(aliases)})" if aliases else "")
    graph.add(key, "model", label, f"/models/{quote(name)}/{version}", aliases=aliases or None)
    return key


def _forward(graph: Graph, node: dict[str, Any], parent: str) -> None:
    """The children of forward tree ``node`` (steps and their outputs) under ``parent``."""
    for child in node.get("children", []):
        if child.get("type") == "cut":  # the tree stopped at its depth limit
            graph.truncated = True
            continue
        if child.get("type") == "step":
            runs_ = child.get("runs") or []
            name = child.get("name") or child.get("label", "step")
            outs = ",".join(sorted(c.get("hash", "")[:16] for c in child.get("children", [])))
            key = f"step:{name}:{outs}"
            first = runs_[0] if runs_ else None
            label = f"{name} · run {first}" + (f" (+{len(runs_) - 1})" if len(runs_) > 1 else "")
            if not graph.add(
                key,
                "step",
                label,
                f"/runs/{first}" if first is not None else None,
                step=name,
                runs=runs_,
                run=first,
            ):
                continue
            graph.link(parent, key)
            _forward(graph, child, key)
        elif child.get("hash"):
            key = f"artifact:{child['hash']}"
            label = child.get("label", "").split(" ")[0] or child["hash"][:12]
            if not graph.add(
                key, "artifact", label, f"/lineage?from={child['hash']}", hash=child["hash"]
            ):
                continue
            graph.link(parent, key)
            _forward(graph, child, key)


def _read_inside(graph: Graph, runs: Any, ref: str, parent: str) -> None:
    """The steps that loaded dataset version ``ref`` inside their body (recorded in their
    run's ``data_reads``; the forward tree follows only a step's inputs), with their
    outputs, under ``parent``."""
    for reader in runs.read_by(ref, limit=graph.limit):
        if "inside" not in reader["how"]:
            continue
        detail = runs.get(reader["id"])
        read = {e.get("step_run") for e in detail["data_reads"] or [] if e.get("dataset") == ref}
        for st in detail["steps"]:
            if st["id"] not in read:
                continue
            key = f"step:{reader['id']}:{st['name']}"
            label = f"{st['name']} · run {reader['id']}"
            if not graph.add(
                key, "step", label, f"/runs/{reader['id']}", step=st["name"], run=reader["id"]
            ):
                return
            graph.link(parent, key)
            for out in st["outputs"]:
                akey = f"artifact:{out['hash']}"
                if graph.add(
                    akey, "artifact", out["name"], f"/lineage?from={out['hash']}", hash=out["hash"]
                ):
                    graph.link(key, akey)


def _backward(graph: Graph, node: dict[str, Any]) -> str | None:
    """Add back tree ``node`` (an artifact or a dataset, with what produced it); its key."""
    kind = node.get("type")
    if node.get("cut"):  # the tree stopped at its depth limit
        graph.truncated = True
    if kind == "dataset":
        ref = node.get("dataset") or node.get("label", "dataset ?").split()[1]
        key = f"dataset:{ref}"
        if not graph.add(key, "dataset", ref, _dataset_url(ref), hash=node.get("hash")):
            return None
        return key
    digest = node.get("hash", "")
    key = f"artifact:{digest}"
    name = node.get("name") or "artifact"
    name = digest[:12] if name == "artifact" else name
    if not graph.add(key, "artifact", name, f"/lineage?from={digest}", hash=digest):
        return None
    step = node.get("step")
    if not step:
        return key
    run_id = step["cached_from_run"] or step["run_id"]
    skey = f"step:{run_id}:{step['name']}"
    if graph.add(
        skey,
        "step",
        f"{step['name']} · run {run_id}",
        f"/runs/{run_id}",
        step=step["name"],
        run=run_id,
        params=step.get("params") or None,
        cached_in=step["run_id"] if step["cached_from_run"] else None,
    ):
        graph.link(skey, key)
        ckey = f"code:{step['code_hash']}"
        names = ", ".join(step.get("code") or []) or step["name"]
        if graph.add(ckey, "code", f"code {names}", None, hash=step["code_hash"]):
            graph.link(ckey, skey)
        for child in node.get("children", []):
            inner = _backward(graph, child)
            if inner is not None:
                graph.link(inner, skey)
    return key


def _models_and_evaluations(graph: Graph, stores: Stores) -> None:
    """The model versions registered from each artifact of the graph, and their
    evaluations."""
    digests = [n["detail"]["hash"] for n in graph.nodes.values() if n["kind"] == "artifact"]
    with stores.metadata.read() as tx:
        for digest in digests:
            rows = tx.all(
                "SELECT name, version FROM model_versions WHERE artifact_hash = :h"
                " ORDER BY name, version",
                {"h": digest},
            )
            for row in rows:
                aliases = [
                    a["alias"]
                    for a in tx.all(
                        "SELECT alias FROM aliases WHERE name = :n AND version = :v ORDER BY alias",
                        {"n": row["name"], "v": row["version"]},
                    )
                ]
                key = _model_node(graph, row["name"], int(row["version"]), aliases)
                graph.link(f"artifact:{digest}", key)
    models = [k for k, n in graph.nodes.items() if n["kind"] == "model"]
    for key in models:
        name, _, version = key.removeprefix("model:").rpartition("@")
        with stores.metadata.read() as tx:
            digest = tx.scalar(
                "SELECT artifact_hash FROM model_versions WHERE name = :n AND version = :v",
                {"n": name, "v": int(version)},
            )
            rows = tx.all(
                "SELECT id FROM evaluations WHERE model_hash = :h ORDER BY id DESC LIMIT :n",
                {"h": digest, "n": _EVALUATIONS_PER_NODE},
            )
        for row in rows:
            _evaluation(graph, stores, int(row["id"]))


def _evaluation(graph: Graph, stores: Stores, eval_id: int) -> None:
    """Evaluation ``eval_id`` with edges from its model versions and its datasets."""
    with stores.metadata.read() as tx:
        row = tx.one(
            "SELECT id, model, model_hash, verdict, datasets, label FROM evaluations"
            " WHERE id = :id",
            {"id": eval_id},
        )
        if row is None:
            return
        versions = tx.all(
            "SELECT name, version FROM model_versions WHERE artifact_hash = :h",
            {"h": row["model_hash"]},
        )
    key = f"evaluation:{eval_id}"
    verdict = row["verdict"]
    label = f"evaluation {eval_id}" + (f" ({verdict})" if verdict else "")
    refs = [str(d.get("ref")) for d in json.loads(row["datasets"])]
    if not graph.add(
        key,
        "evaluation",
        label,
        f"/evaluations/{eval_id}",
        verdict=verdict,
        model=row["model"],
        datasets=refs,
    ):
        return
    for v in versions:
        source = f"model:{v['name']}@{v['version']}"
        if source in graph.nodes:
            graph.link(source, key)
    if not any(e[1] == key for e in graph.edges) and versions:
        first = versions[0]
        graph.link(_model_node(graph, first["name"], int(first["version"]), []), key)
    for ref in refs:
        dkey = f"dataset:{ref}"
        if graph.add(dkey, "dataset", ref, _dataset_url(ref)):
            graph.link(dkey, key)


# -- layout ------------------------------------------------------------------------------


def _laid_out(graph: Graph, ref: str, root: builtins.list[str]) -> dict[str, Any]:
    layers = _layers(graph)
    by_layer: dict[int, builtins.list[str]] = {}
    for key in graph.nodes:  # insertion order: the order the trees were walked
        by_layer.setdefault(layers[key], []).append(key)
    inputs: dict[str, builtins.list[str]] = {}
    for s, t in graph.edges:
        inputs.setdefault(t, []).append(s)
    order = {k: i for layer in by_layer.values() for i, k in enumerate(layer)}
    for _ in range(2):
        for layer in sorted(by_layer)[1:]:
            keys = by_layer[layer]

            def centre(k: str) -> float:
                seen = [order[s] for s in inputs.get(k, []) if s in order]
                return sum(seen) / len(seen) if seen else float(order[k])

            keys.sort(key=centre)
            order.update({k: i for i, k in enumerate(keys)})
    nodes = []
    for key, node in graph.nodes.items():
        nodes.append({**node, "layer": layers[key], "order": order[key], "root": key in root})
    return {
        "from": ref,
        "root": root,
        "nodes": nodes,
        "edges": [{"source": s, "target": t} for s, t in graph.edges],
        "layers": max(layers.values(), default=-1) + 1,
        "truncated": graph.truncated,
        "limit": graph.limit,
        "kinds": builtins.list(KINDS),
    }


def _layers(graph: Graph) -> dict[str, int]:
    """Each node's layer: the longest path to it from a node without inputs (Kahn's order),
    then each node without inputs (code, a dataset an evaluation used) moved to the layer
    just before its earliest reader, so its edges stay short; a node on a cycle (an output
    equal to its input) takes the layer after its placed inputs."""
    inputs: dict[str, set[str]] = {k: set() for k in graph.nodes}
    outputs: dict[str, builtins.list[str]] = {k: [] for k in graph.nodes}
    for s, t in graph.edges:
        inputs[t].add(s)
        outputs[s].append(t)
    layer = {k: 0 for k in graph.nodes}
    waiting = {k: len(v) for k, v in inputs.items()}
    ready = [k for k, n in waiting.items() if n == 0]
    placed: set[str] = set()
    for key in _drain(ready, outputs, waiting, placed, layer):
        placed.add(key)
    for key in graph.nodes:  # on a cycle: after whatever of its inputs is placed
        if key not in placed:
            layer[key] = 1 + max((layer[s] for s in inputs[key] if s in placed), default=-1)
            placed.add(key)
    for key in graph.nodes:  # a node without inputs sits just before its first reader
        if not inputs[key] and outputs[key]:
            layer[key] = max(0, min(layer[t] for t in outputs[key]) - 1)
    return layer


def _drain(
    ready: builtins.list[str],
    outputs: dict[str, builtins.list[str]],
    waiting: dict[str, int],
    placed: set[str],
    layer: dict[str, int],
) -> Iterator[str]:
    while ready:
        key = ready.pop()
        yield key
        for t in outputs[key]:
            layer[t] = max(layer[t], layer[key] + 1)
            waiting[t] -= 1
            if waiting[t] == 0:
                ready.append(t)
