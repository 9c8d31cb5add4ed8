"""The lineage graph (``ws.models.lineage``, :mod:`rung.registry.lineage`), its API
(``GET /api/lineage``) and its page (``/lineage``) in a real browser.

The graph is checked against what the workspace recorded: forward from a dataset version
every run that read it, its output, the model versions registered from it and their
evaluations; back from a model version its step, code and training data; edges point the
way data flows, so every edge goes to a later column of the layout."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_project import TRAIN, frame
from rung.core.errors import InvalidInput, NotFound
from rung.registry.lineage import KINDS, Graph, parse_from

XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def story(ws: Any) -> dict[str, Any]:
    """train@1 → run 1 → trend@1 (champion), evaluated on test@1; train@2 → run 2 →
    trend@2; other@1 read by nobody."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(200, 1), name="train")
    first = ws.run("train.py:train", {"C": 1.0})
    ws.models.register(str(first.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="test")
    ws.data.add(frame(120, 7), name="test")
    ev = ws.evaluate("trend@1", ["test@1"], label="y", criteria=[])
    ws.data.add(frame(300, 2), name="train")
    second = ws.run("train.py:train", {"C": 0.5})
    ws.models.register(str(second.id), "trend")
    ws.data.add(frame(10, 3), name="other")
    return {"runs": [first.id, second.id], "evaluation": ev.id}


TAG = """
import rung

@rung.step
def tag(frame, note: str = ""):
    return frame.assign(note=note)

@rung.pipeline
def tagged(note: str = ""):
    return tag(rung.dataset("train"), note=note)
"""


def by_kind(graph: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in graph["nodes"] if n["kind"] == kind]


def assert_layered(graph: dict[str, Any]) -> None:
    """Every edge joins two nodes of the graph and goes to a later column; node ids are
    unique; the roots are nodes."""
    layer = {n["id"]: n["layer"] for n in graph["nodes"]}
    assert len(layer) == len(graph["nodes"])
    for e in graph["edges"]:
        assert layer[e["source"]] < layer[e["target"]], e
    assert set(graph["root"]) <= set(layer)
    assert graph["layers"] == (max(layer.values()) + 1 if layer else 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset:train@2", ("dataset", "train@2")),
        ("train@2", ("dataset", "train@2")),
        ("dataset:train", ("dataset", "train")),
        ("model:trend@champion", ("model", "trend@champion")),
        ("model:trend@3", ("model", "trend@3")),
        ("run:12", ("run", "12")),
        ("12", ("run", "12")),
        ("#12", ("run", "#12")),
        ("abcdef12", ("artifact", "abcdef12")),
        ("artifact:abcdef12", ("artifact", "abcdef12")),
        ("  model:trend  ", ("model", "trend")),
    ],
)
def test_every_form_of_reference_names_its_kind(text: str, expected: tuple[str, str]) -> None:
    assert parse_from(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "model:", "dataset: ", "foo:bar", "<x>:y"])
def test_a_malformed_reference_is_one_line_with_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_from(text)
    assert caught.value.hint


def test_forward_from_a_dataset_reaches_runs_outputs_models_and_evaluations(ws) -> None:  # type: ignore[no-untyped-def]
    s = story(ws)
    graph = ws.models.lineage("dataset:train@1")
    assert_layered(graph)
    assert graph["root"] == ["dataset:train@1"] and not graph["truncated"]
    steps = by_kind(graph, "step")
    assert [n["detail"]["runs"] for n in steps] == [[s["runs"][0]]]
    assert steps[0]["url"] == f"/runs/{s['runs'][0]}"
    [model] = by_kind(graph, "model")
    assert model["label"] == "trend@1 (champion)" and model["url"] == "/models/trend/1"
    [evaluation] = by_kind(graph, "evaluation")
    assert evaluation["id"] == f"evaluation:{s['evaluation']}"
    assert {"source": model["id"], "target": evaluation["id"]} in graph["edges"]
    # the evaluation's own data is shown feeding it
    assert {"source": "dataset:test@1", "target": evaluation["id"]} in graph["edges"]
    # nothing of the second version's run
    assert all("trend@2" not in n["label"] for n in graph["nodes"])
    # what the workspace recorded: the artifact the run produced is the one registered
    [artifact] = by_kind(graph, "artifact")
    assert artifact["detail"]["hash"] == ws.models.get("trend@1").hash


def test_back_from_a_model_version_reaches_its_run_code_and_data(ws) -> None:  # type: ignore[no-untyped-def]
    s = story(ws)
    for ref, run, data in (
        ("model:trend@champion", s["runs"][0], "train@1"),
        ("model:trend", s["runs"][1], "train@2"),
        ("model:trend@2", s["runs"][1], "train@2"),
    ):
        graph = ws.models.lineage(ref)
        assert_layered(graph)
        [root] = graph["root"]
        assert root == f"model:trend@{1 if run == s['runs'][0] else 2}"
        [step] = by_kind(graph, "step")
        assert step["detail"]["run"] == run
        assert next(n["label"] for n in by_kind(graph, "dataset")) == data
        [artifact] = by_kind(graph, "artifact")
        assert artifact["label"] == "fit.output"  # named as the step's output, not its hash
        [code] = by_kind(graph, "code")
        recorded = ws.runs.get(run)["steps"][0]["code_hash"]
        assert code["detail"]["hash"] == recorded
        assert {"source": code["id"], "target": step["id"]} in graph["edges"]


def test_back_from_a_run_and_an_artifact(ws) -> None:  # type: ignore[no-untyped-def]
    s = story(ws)
    graph = ws.models.lineage(f"run:{s['runs'][1]}")
    assert_layered(graph)
    assert [ws_n["detail"]["run"] for ws_n in by_kind(graph, "step")] == [s["runs"][1]]
    assert graph["root"] == [by_kind(graph, "step")[0]["id"]]
    assert [n["label"] for n in by_kind(graph, "model")] == ["trend@2"]
    digest = ws.models.get("trend@1").hash
    graph = ws.models.lineage(digest[:10])
    assert graph["root"] == [f"artifact:{digest}"]
    assert "model:trend@1" in {n["id"] for n in graph["nodes"]}


def test_unknown_references_name_the_nearest(ws) -> None:  # type: ignore[no-untyped-def]
    story(ws)
    # a bare name is the latest version of that dataset, else of that model
    assert ws.models.lineage("train")["root"] == ["dataset:train@2"]
    assert ws.models.lineage("trend")["root"] == ["model:trend@2"]
    for ref, near in (
        ("dataset:trian@1", "train"),
        ("model:trnd@1", "trend"),
        ("model:trend@champoin", "champion"),
        ("train@9", "1 to 2"),
        ("run:999", "1 to 2"),
        ("abcdef0123", "rung show"),
        ("trian", "train"),  # a bare word: a dataset or a model name
        ("trendd", "trend"),
    ):
        with pytest.raises(NotFound) as caught:
            ws.models.lineage(ref)
        assert near in (caught.value.hint or ""), (ref, caught.value.hint)


def test_a_graph_larger_than_its_limit_is_cut_and_says_so() -> None:
    for limit in (1, 2, 5):
        g = Graph(limit)
        for i in range(limit + 3):
            g.add(f"n{i}", "artifact", str(i))
            g.link(f"n{i - 1}", f"n{i}")
        assert len(g.nodes) == limit and g.truncated
        assert all(s in g.nodes and t in g.nodes for s, t in g.edges)


def test_the_limit_holds_on_a_real_graph(ws) -> None:  # type: ignore[no-untyped-def]
    story(ws)
    whole = ws.models.lineage("model:trend@1")
    cut = ws.models.lineage("model:trend@1", limit=2)
    assert not whole["truncated"] and len(whole["nodes"]) > 2
    assert cut["truncated"] and len(cut["nodes"]) == 2
    assert_layered(cut)


def test_api_answers_what_the_workspace_records(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    story(ws)
    url = ui_server(ws.root)
    for ref in ("dataset:train@1", "model:trend@champion", "run:2"):
        answer = httpx.get(f"{url}/api/lineage", params={"from": ref}, timeout=30)
        assert answer.status_code == 200
        assert answer.json() == ws.models.lineage(ref)
    # without a reference: the newest model version
    newest = httpx.get(f"{url}/api/lineage", timeout=30).json()
    assert newest["from"] == "model:trend@2"
    cut = httpx.get(f"{url}/api/lineage", params={"from": "model:trend@1", "limit": 2}).json()
    assert cut["truncated"] and len(cut["nodes"]) == 2
    missing = httpx.get(f"{url}/api/lineage", params={"from": "dataset:trian@1"})
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["type"] == "NotFound" and "train" in error["hint"]
    bad = httpx.get(f"{url}/api/lineage", params={"from": "foo:bar"})
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    assert httpx.get(f"{url}/api/lineage", params={"limit": 0}).status_code == 422


def test_the_graph_is_drawn_and_a_click_opens_the_node(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    story(sqlite_ws)
    url = ui_server(sqlite_ws.root)
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    watched.visit(f"{url}/lineage", shot="lineage-newest")
    chart = page.locator("#lineage-chart")
    chart.locator("svg").first.wait_for()
    graph = sqlite_ws.models.lineage("model:trend@2")
    assert chart.get_attribute("data-drawn") == str(len(graph["nodes"]))
    svg = chart.locator("svg").first.inner_html()
    for n in graph["nodes"]:
        assert n["label"] in svg  # every node drawn with its label
    # the picker offers every model version and dataset version
    options = page.locator("#lineage-select option").all_inner_texts()
    assert "trend@1 (champion)" in options and "other@1" in options
    # forward from train@1, then click the training step → its run's page; the dataset →
    # its page (a page of this area, so it answers 200 here)
    watched.visit(f"{url}/lineage?from=dataset:train@1", shot="lineage-forward")
    chart.locator("svg").first.wait_for()
    page.locator("#lineage-chart svg text", has_text="train@1").first.click()
    page.wait_for_url(f"{url}/datasets/train@1")
    watched.check("lineage-clicked")
    assert page.locator("h1").inner_text() == "Dataset train@1"
    # a parameter's text in a tooltip is text, not markup
    (sqlite_ws.root / "tag.py").write_text(TAG)
    tagged = sqlite_ws.run("tag.py:tagged", {"note": XSS[1]})
    watched.visit(f"{url}/lineage?from=run:{tagged.id}", shot="lineage-run")
    box = page.locator("#lineage-chart svg text", has_text=f"tag · run {tagged.id}").first
    where = box.bounding_box()
    assert where is not None
    for dy in (4, 10, 14):  # from the label up onto the node's symbol
        page.mouse.move(where["x"] + where["width"] / 2, where["y"] - dy)
    tip = page.locator("#lineage-chart > div", has_text="params:").last
    tip.wait_for()
    assert "<img src=x onerror=alert(1)>" in tip.inner_text() and tip.locator("img").count() == 0
    watched.check()
    assert not dialogs


def test_empty_workspace_unknown_and_script_carrying_references(
    tmp_path, ui_server, watched
) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    Workspace.init(tmp_path / "empty").close()
    url = ui_server(tmp_path / "empty")
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    watched.visit(f"{url}/lineage", shot="lineage-empty")
    assert "Nothing to trace yet" in page.locator("#lineage-empty").inner_text()
    assert page.locator("#lineage-chart").count() == 0
    watched.visit(f"{url}/lineage?from=dataset:nope@1", status=404, shot="lineage-404")
    assert "nope" in page.locator(".error").inner_text()
    assert page.locator("a.back").count() == 1
    for text in XSS:
        for ref in (text, f"model:{text}", f"dataset:{text}"):
            answer = watched.visit(f"{url}/lineage?from={quote(ref)}", status=400)
            assert "alert(1)" in page.locator(".error").inner_text()  # shown as text
            body = answer.text()
            assert "<script>alert" not in body and "<img src=x" not in body
    assert not dialogs


READ_INSIDE = """
import rung

@rung.step
def read_inside(name: str):
    return rung.dataset(name).load().assign(b=1.0)

@rung.pipeline
def inside(name: str = "prices"):
    return read_inside(name)
"""


def test_forward_reaches_a_step_that_loaded_the_version_inside_its_body(ws) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    (ws.root / "inside.py").write_text(READ_INSIDE)
    ws.data.add(pd.DataFrame({"a": [1.0, 2.0]}), name="prices")
    run = ws.run("inside.py:inside")
    graph = ws.models.lineage("prices@1")
    assert_layered(graph)
    [step] = by_kind(graph, "step")
    assert step["detail"]["run"] == run.id and step["detail"]["step"] == "read_inside"
    assert {"source": "dataset:prices@1", "target": step["id"]} in graph["edges"]
    [out] = by_kind(graph, "artifact")
    assert out["detail"]["hash"] == ws.runs.get(run.id)["steps"][0]["outputs"][0]["hash"]


@st.composite
def digraphs(draw: Any, acyclic: bool) -> tuple[int, list[tuple[int, int]]]:
    """A graph of up to 40 nodes; acyclic: every edge from a lower to a higher number."""
    n = draw(st.integers(1, 40))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = draw(st.lists(pairs, max_size=3 * n))
    if acyclic:
        edges = [(min(a, b), max(a, b)) for a, b in edges if a != b]
    return n, edges


def laid_out(n: int, edges: list[tuple[int, int]]) -> dict[str, Any]:
    from rung.registry.lineage import _laid_out

    g = Graph(1000)
    for i in range(n):
        g.add(f"n{i}", KINDS[i % len(KINDS)], f"node {i}")
    for a, b in edges:
        g.link(f"n{a}", f"n{b}")
    return _laid_out(g, "test", ["n0"])


@settings(max_examples=200, deadline=None)
@given(digraphs(acyclic=True))
def test_every_edge_of_a_dag_goes_to_a_later_column(
    graph: tuple[int, list[tuple[int, int]]],
) -> None:
    out = laid_out(*graph)
    assert_layered(out)
    columns: dict[int, list[int]] = {}
    for node in out["nodes"]:
        columns.setdefault(node["layer"], []).append(node["order"])
    for orders in columns.values():  # each column's order is a permutation
        assert sorted(orders) == list(range(len(orders)))
    # a node without inputs stands just before its first reader
    inputs = {t for e in out["edges"] for t in [e["target"]]}
    layer = {node["id"]: node["layer"] for node in out["nodes"]}
    for node in out["nodes"]:
        readers = [layer[e["target"]] for e in out["edges"] if e["source"] == node["id"]]
        if node["id"] not in inputs and readers:
            assert node["layer"] == min(readers) - 1


@settings(max_examples=200, deadline=None)
@given(digraphs(acyclic=False))
def test_a_graph_with_cycles_is_still_laid_out(graph: tuple[int, list[tuple[int, int]]]) -> None:
    n, _ = graph
    out = laid_out(*graph)
    assert len(out["nodes"]) == n
    assert all(0 <= node["layer"] < out["layers"] for node in out["nodes"])
    assert all(e["source"] != e["target"] for e in out["edges"])


def test_back_from_a_model_names_the_commit_its_run_recorded(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    root = sqlite_ws.root
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (root / "train.py").write_text(TRAIN)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "train"], check=True)
    sqlite_ws.data.add(frame(200, 1), name="train")
    run = sqlite_ws.run("train.py:train", {"C": 1.0})
    sqlite_ws.models.register(str(run.id), "trend")
    recorded = sqlite_ws.runs.get(run.id)["code"]
    assert recorded["commit"]
    graph = sqlite_ws.models.lineage("model:trend@1")
    [step] = by_kind(graph, "step")
    [code] = by_kind(graph, "code")
    for node in (step, code):
        assert node["detail"]["commit"] == recorded["commit"]
        assert node["detail"]["dirty"] == recorded["dirty"]
