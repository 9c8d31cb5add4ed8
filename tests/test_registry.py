"""The model registry: versions with provenance, gated promotions, rollbacks, the audit trail."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import rung_cli
from model_project import TRAIN, frame
from rung.core.errors import InvalidInput, NotFound, Untrusted
from rung.registry.models import RefusedPromotion


@pytest.fixture
def registry_ws(ws):  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(400, 1), name="train")
    ws.data.add(frame(200, 2), name="holdout")
    first = ws.run("train.py:train").id
    second = ws.run("train.py:train", {"C": 0.01}).id
    return ws, first, second


def test_a_version_records_its_provenance_and_signature(registry_ws) -> None:  # type: ignore[no-untyped-def]
    ws, first, _ = registry_ws
    v = ws.models.register(str(first), "trend")
    assert (v.ref, v.run_id, v.datasets, v.metrics) == (
        "trend@1",
        first,
        ["train@1"],
        {"rows": 400.0},
    )
    sig = v.signature
    assert sig["features"] == ["a", "color"] and sig["classes"] == ["no", "yes"]
    assert sig["columns"]["color"]["categories"] == ["blue", "red"]
    assert sig["columns"]["a"]["kind"] == "numeric"
    assert ws.models.register(str(first), "trend").version == 1  # same bytes: same version
    assert ws.models.get("trend").version == 1
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        ws.models.get("nope@1")
    with pytest.raises(NotFound, match="has no version 9"):
        ws.models.get("trend@9")


def declare(ws: Any, criteria: list[str], datasets: list[str] | None = None) -> Any:
    """The workspace reopened with acceptance criteria (and datasets) declared under [eval]."""
    from rung import Workspace

    lines = ["[eval]", 'label = "y"', f"criteria = {criteria!r}".replace("'", '"')]
    if datasets is not None:
        lines.append(f"datasets = {datasets!r}".replace("'", '"'))
    (ws.root / "rung.toml").write_text("\n".join(lines) + "\n")
    return Workspace.open(ws.root)


def test_promotion_is_gated_by_the_verdict_against_the_declared_criteria(registry_ws) -> None:  # type: ignore[no-untyped-def]
    ws, first, second = registry_ws
    ws.models.register(str(first), "trend")
    ws.models.register(str(second), "trend")
    with pytest.raises(RefusedPromotion, match="the project declares no acceptance criteria"):
        ws.models.promote("trend", 1)
    strict = declare(ws, ["accuracy >= 0.99"])
    with pytest.raises(RefusedPromotion, match="trend@1 to 'champion': it has no evaluation"):
        strict.models.promote("trend", 1)
    strict.evaluate("trend@1", ["holdout@1"])
    with pytest.raises(RefusedPromotion, match="has verdict failed"):
        strict.models.promote("trend", 1)
    w = declare(ws, ["accuracy >= 0.5"])
    ev = w.evaluate("trend@1", ["holdout@1"])
    event = w.models.promote("trend", 1)
    assert (event["action"], event["evaluation_id"], event["from_version"]) == (
        "promote",
        ev.id,
        None,
    )
    assert w.models.get("trend@champion").version == 1
    with pytest.raises(InvalidInput, match="--force needs a reason"):
        w.models.promote("trend", 2, force=True)
    forced = w.models.promote("trend", 2, force=True, reason="hotfix for client B")
    assert (forced["action"], forced["from_version"]) == ("force", 1)
    back = w.models.rollback("trend")
    assert (back["to_version"], back["from_version"], back["action"]) == (1, 2, "rollback")
    trail = w.models.history("trend")
    assert [(e["action"], e["from_version"], e["to_version"]) for e in trail] == [
        ("promote", None, 1),
        ("force", 1, 2),
        ("rollback", 2, 1),
    ]
    assert trail[1]["why"] == "hotfix for client B" and trail[0]["who"]
    assert w.models.get("trend@1").aliases == ["champion"]


def _race(root: str, url: str, worker: int, barrier: Any, out: Any) -> None:
    os.environ["RUNG_STORE_URL"] = url
    from rung import Workspace

    try:
        barrier.wait(timeout=60)
        with Workspace.open(root) as ws:
            for i in range(15):
                ws.models.promote(
                    "trend", 1 + (worker + i) % 2, "champion", force=True, reason=f"w{worker}"
                )
        out.put(("ok", worker))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def test_racing_promotions_from_two_processes_keep_a_consistent_trail(
    registry_ws, store_url: str
) -> None:  # type: ignore[no-untyped-def]
    ws, first, second = registry_ws
    ws.models.register(str(first), "trend")
    ws.models.register(str(second), "trend")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(str(ws.root), store_url, w, barrier, out)) for w in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results
    trail = ws.models.history("trend")
    assert len(trail) == 30
    for before, after in itertools.pairwise(trail):
        assert after["from_version"] == before["to_version"]  # no move was lost or interleaved
    assert ws.models.get("trend@champion").version == trail[-1]["to_version"]


def test_the_cli(registry_ws) -> None:  # type: ignore[no-untyped-def]
    ws, first, _ = registry_ws
    ws = declare(ws, ["accuracy >= 0.5"])
    assert rung_cli("model", "register", str(first), "--name", "trend", cwd=ws.root).returncode == 0
    listed = rung_cli("model", "list", "--json", cwd=ws.root)
    assert '"ref": "trend@1"' in listed.stdout
    refused = rung_cli("model", "promote", "trend", "1", cwd=ws.root)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: refusing to promote trend@1 to 'champion'")
    evaluated = rung_cli(
        "eval",
        "trend@1",
        "--on",
        "holdout@1",
        cwd=ws.root,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert rung_cli("model", "promote", "trend", "1", cwd=ws.root).returncode == 0
    shown = rung_cli("model", "show", "trend@champion", cwd=ws.root)
    assert "aliases: champion" in shown.stdout and "color" in shown.stdout
    history = rung_cli("model", "history", "trend", cwd=ws.root)
    assert "promote" in history.stdout
    bad = rung_cli("model", "rollback", "trend", cwd=ws.root)
    assert bad.returncode == 1 and "no previous version" in bad.stderr
    assert rung_cli("model", "show", "nope", cwd=ws.root).stderr.startswith(
        "error: unknown model 'nope'"
    )


def test_invalid_alias(registry_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, first, _ = registry_ws
    ws.models.register(str(first), "trend")
    with pytest.raises(InvalidInput, match="invalid alias '1x'"):
        ws.models.promote("trend", 1, "1x", force=True, reason="x")


def test_a_pipeline_registers_its_model(registry_ws) -> None:  # type: ignore[no-untyped-def]
    import rung

    ws, _, _ = registry_ws
    (ws.root / "reg.py").write_text(
        TRAIN.replace(
            '    return fit(rung.dataset("train"), C=C)',
            '    model = fit(rung.dataset("train"), C=C)\n'
            '    rung.register_model(model, "trend")\n'
            "    return model",
        )
    )
    assert "register_model" in (ws.root / "reg.py").read_text()
    run = ws.run("reg.py:train", {"C": 0.5})
    v = ws.models.get("trend")
    assert (
        v.run_id == run.id
        and v.datasets == ["train@1"]
        and v.signature["features"] == ["a", "color"]
    )
    assert v.source == f"{run.id}:fit.output"
    with pytest.raises(InvalidInput, match="outside a running pipeline"):
        rung.register_model(object(), "trend")


PICKLED = textwrap.dedent(
    """
    import rung

    class Threshold:
        feature_names_in_ = ["a"]

        def predict(self, frame):
            return ["yes" if v > 0 else "no" for v in frame["a"]]

    @rung.step(pickle=True)
    def rule():
        return Threshold()

    @rung.pipeline
    def make():
        return rule()
    """
)


def test_a_pickled_model_needs_an_explicit_recorded_opt_in(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "rule.py").write_text(PICKLED)
    run = ws.run("rule.py:make").id
    with pytest.raises(Untrusted, match=r"stored with pickle.*--allow-pickle"):
        ws.models.register(str(run), "rule")
    version = ws.models.register(str(run), "rule", allow_pickle=True)
    assert version.allow_pickle and version.kind == "pickle"
    loaded_version, model = ws.models.load("rule@1")
    assert loaded_version.version == 1 and list(
        model.predict(pd.DataFrame({"a": [1.0, -1.0]}))
    ) == ["yes", "no"]
