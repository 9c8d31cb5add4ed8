"""The promotion policy through the real loop and CLI (`rung automate tick`, `rung model
approve`, `rung automate history`, `rung eval show`), on both backends, with synthetic
champion / challenger pairs: clearly better, truly worse, a noisy tie over repeated ticks,
the issue's drifted champion, and a person's approval (waiting, and forced with a reason)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import rung_cli
from model_project import TRAIN, in_fifties, log_served

pytest.importorskip("sklearn")

CONFIG = """
[eval]
label = "y"
criteria = [{criteria}]

[automate]
model = "trend"
pipeline = "train.py:train"
datasets = ["holdout@1"]
policy = "{policy}"
params = {params}
{more}
[[automate.triggers]]
kind = "dataset"
dataset = "train"
"""
CRITERIA = (
    '"accuracy >= 0.6 on every dataset", "accuracy drop <= 0.05 vs baseline on every dataset"'
)


def world(n: int, seed: int, threshold: float = 0.5, noise: float = 0.5) -> pd.DataFrame:
    """Rows of the model project's shape: ``y`` is "yes" when a + (color is red) + noise
    passes ``threshold`` (the concept; moving it is a drift of the labels)."""
    r = np.random.default_rng(seed)
    a = r.normal(0, 1, n)
    color = r.choice(["red", "blue"], n)
    y = np.where(a + (color == "red") + r.normal(0, noise, n) > threshold, "yes", "no")
    return pd.DataFrame({"a": a, "color": color, "y": y})


def project(
    ws: Any,
    *,
    champion_C: float = 1.0,
    params: str = "{}",
    policy: str = "auto",
    more: str = "",
    criteria: str = CRITERIA,
    train: pd.DataFrame | None = None,
    holdout: pd.DataFrame | None = None,
) -> Any:
    """A champion (trend@1, trained on train@1 with C = ``champion_C``), a holdout, and the
    loop configured; the workspace reopened so that it reads rung.toml."""
    from rung import Workspace

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(world(1500, 1) if train is None else train, name="train")
    ws.data.add(world(600, 9) if holdout is None else holdout, name="holdout")
    run = ws.run("train.py:train", {"C": champion_C})
    ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="first version")
    config = CONFIG.format(policy=policy, params=params, more=more, criteria=criteria)
    (ws.root / "rung.toml").write_text(config)
    return Workspace.open(ws.root)


def tick(w: Any) -> dict[str, Any]:
    """`rung automate tick` through the real CLI; the job it carried."""
    out = rung_cli("automate", "tick", cwd=w.root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "..." not in out.stdout  # every metric that decided, in full
    return w.automation.history()[-1]  # type: ignore[no-any-return]


def champion(w: Any) -> int:
    return w.models.get("trend@champion").version  # type: ignore[no-any-return]


def events(w: Any) -> list[dict[str, Any]]:
    with w.store.read() as tx:
        return tx.all("SELECT to_version, action, who, why FROM alias_events ORDER BY id")


def test_clearly_better_is_promoted_and_truly_worse_is_rejected(ws) -> None:  # type: ignore[no-untyped-def]
    w = project(ws, champion_C=0.0001)  # a champion that predicts one class: accuracy ~0.55
    w.data.add(world(1500, 2), name="train")
    job = tick(w)
    assert job["decision"] == "promote" and champion(w) == 2
    evidence = job["evidence"]
    assert evidence["decisive"] == {"accuracy": "0.05"}  # the change criterion's bound
    assert evidence["deciding"] == ["holdout@1"]  # no served rows: the acceptance set decides
    assert evidence["decided_by"][0].startswith("accuracy on holdout@1:")
    assert "better (p 0.000999" in evidence["decided_by"][0]
    assert "decided by accuracy on holdout@1" in events(w)[-1]["why"]

    # the next challenger is so regularised it predicts one class: truly worse
    text = (w.root / "rung.toml").read_text().replace("params = {}", "params = { C = 0.00001 }")
    (w.root / "rung.toml").write_text(text)
    w.data.add(world(1500, 3), name="train")
    job = tick(w)
    assert job["decision"] == "reject" and champion(w) == 2
    reasons = job["evidence"]["reasons"]
    assert any(r.startswith("criterion not met: accuracy = ") for r in reasons)
    worse = [r for r in reasons if r.startswith("significantly worse: accuracy on holdout@1")]
    assert worse and worse[0].endswith("(decisive)") and "beyond the margin 0.05" in worse[0]
    history = rung_cli("automate", "history", cwd=w.root).stdout
    assert worse[0] in history  # untruncated, as recorded


def test_a_noisy_tie_never_promotes_and_never_flips(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """Each tick trains a challenger like the champion on another sample of the same world:
    every one is a tie, the champion stays, and no tick flips the alias. (The decision is
    the same code on either backend: walked on SQLite; the loop's writes on both are in
    test_clearly_better_… and test_manual_waits_….)"""
    w = project(sqlite_ws)
    for seed in (21, 22, 23):
        w.data.add(world(1500, seed), name="train")
        job = tick(w)
        assert job["decision"] == "reject", job["evidence"]["reasons"]
        assert any("a tie keeps the champion" in r for r in job["evidence"]["reasons"])
        assert job["evidence"]["worse"] == []  # nor is a tie ever "worse"
    assert champion(w) == 1 and len(events(w)) == 1


def test_the_issues_drifted_champion_does_not_veto_a_far_better_challenger(ws) -> None:  # type: ignore[no-untyped-def]
    """The labels drift (the threshold moves from 0.5 to -1): the served champion now says
    "no" to most rows, so it "wins" precision_yes and recall_no, and the holdout (far from
    both thresholds) scores both models 1.0, their log losses a little apart. The freshly
    labelled served rows decide: the challenger is far better there, and is promoted."""
    r = np.random.default_rng(4)
    far = r.uniform(3.0, 5.0, 400) * r.choice([-1, 1], 400)
    holdout = pd.DataFrame(
        {"a": far, "color": r.choice(["red", "blue"], 400), "y": np.where(far > 0, "yes", "no")}
    )
    w = project(
        ws,
        holdout=holdout,
        criteria='"accuracy >= 0.9 on every dataset"',
        more="fresh = 400\n",
    )
    served = world(400, 30, threshold=-1.0)
    log_served(w.store, in_fifties(served), version=1)
    from rung.serving.feedback import record

    with w.store.read() as tx:
        ids = [
            row["request_id"]
            for row in tx.all("SELECT request_id FROM predictions WHERE version = 1 ORDER BY id")
        ]
    labels = [list(part["y"]) for part in in_fifties(served)]
    record(
        w.store,
        {"feedback": [{"request_id": i, "labels": y} for i, y in zip(ids, labels, strict=True)]},
    )
    w.data.add(world(1500, 31, threshold=-1.0), name="train")
    job = tick(w)
    evidence = job["evidence"]
    assert job["decision"] == "promote", evidence["reasons"]
    assert evidence["deciding"] == ["trend-served@1"] and evidence["gating"] == ["holdout@1"]
    assert evidence["decided_by"][0].startswith("accuracy on trend-served@1:")
    ev = w.evals.get(job["evaluation_id"])
    assert ev.rows["holdout@1"]["accuracy"] == 1.0
    assert ev.details["holdout@1"]["baseline_metrics"]["accuracy"] == 1.0
    deltas = ev.details["trend-served@1"]["deltas"]
    assert deltas["accuracy"]["delta"] > 0.2
    # the drifted champion "wins" per-class metrics, significantly: none of them vetoes
    per_class = [m for m in ("precision_yes", "recall_no") if deltas[m]["reading"] == "worse"]
    assert per_class, {m: deltas[m] for m in ("precision_yes", "recall_no")}
    assert not any(m in line for line in evidence["worse"] for m in per_class)
    # even were the holdout to decide, its log loss difference is inside the 0.05 margin
    from rung.core.criteria import parse_criteria
    from rung.core.policy import Comparison, Policy, decide

    every = Policy(decide_on="all")
    decisive, guardrails = every.resolve(parse_criteria(["accuracy >= 0.9"]), regression=False)
    comparisons = [
        c
        for ref, detail in ev.details.items()
        for m, d in detail["deltas"].items()
        if (c := Comparison.from_delta(ref, m, d)) is not None
    ]
    both = decide(
        every,
        decisive=decisive,
        guardrails=guardrails,
        deciding=["holdout@1", "trend-served@1"],
        comparisons=comparisons,
        verdict="passed",
    )
    assert both.decision == "promote" and both.worse == [], both.reasons
    assert abs(ev.details["holdout@1"]["deltas"]["log_loss"]["delta"]) < 0.05
    # `rung eval show` names every metric the decision and the deltas cite, with p-values
    shown = rung_cli("eval", "show", str(ev.id), cwd=w.root).stdout
    for m in ("accuracy", "log_loss", *per_class):
        assert m in shown
    assert "better 0.000999" in shown


def test_manual_waits_and_a_forced_approval_is_recorded(ws) -> None:  # type: ignore[no-untyped-def]
    w = project(ws, champion_C=0.0001, policy="manual")
    w.data.add(world(1500, 2), name="train")
    job = tick(w)
    assert job["decision"] == "await" and champion(w) == 1  # would promote: waits
    assert job["evidence"]["decided_by"][0].startswith("accuracy on holdout@1")
    ok = rung_cli("model", "approve", "trend", "2", cwd=w.root)
    assert ok.returncode == 0 and "approved and promoted" in ok.stdout, ok.stderr
    assert champion(w) == 2 and events(w)[-1]["action"] == "promote"

    # a challenger the policy rejects: approving it needs --force and a reason
    text = (w.root / "rung.toml").read_text().replace("params = {}", "params = { C = 0.00001 }")
    (w.root / "rung.toml").write_text(text)
    w.data.add(world(1500, 3), name="train")
    job = tick(w)
    assert job["decision"] == "reject" and job["challenger"] == 3
    plain = rung_cli("model", "approve", "trend", "3", cwd=w.root)
    assert plain.returncode == 1 and "--force --reason" in plain.stderr
    bare = rung_cli("model", "approve", "trend", "3", "--force", cwd=w.root)
    assert bare.returncode == 1 and "--force needs a reason" in bare.stderr
    assert champion(w) == 2
    why = "the regulator asked for the simpler model"
    forced = rung_cli("model", "approve", "trend", "3", "--force", "--reason", why, cwd=w.root)
    assert forced.returncode == 0, forced.stderr
    assert champion(w) == 3
    event = events(w)[-1]
    assert event["action"] == "force" and why in event["why"] and "forced" in event["why"]
    job = w.automation.job(job["id"])
    approval = job["evidence"]["approval"]
    assert job["decision"] == "approved"
    assert approval["forced"] and approval["reason"] == why and approval["was"] == "reject"
    assert approval["by"] == event["who"]
    history = rung_cli("automate", "history", cwd=w.root).stdout
    assert f"(forced over the policy's rejection): {why}" in history


TRAIN_REGRESSION = """
import rung
from sklearn.linear_model import Ridge

@rung.step
def fit(frame, alpha: float = 1.0):
    return Ridge(alpha=alpha).fit(frame[["a", "b"]], frame["y"])

@rung.pipeline
def train(alpha: float = 1.0):
    return fit(rung.dataset("train"), alpha=alpha)
"""


def regression_world(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a, b = r.normal(0, 1, n), r.normal(0, 1, n)
    return pd.DataFrame({"a": a, "b": b, "y": 30 * a - 20 * b + r.normal(0, 5, n)})


def test_a_regressor_is_judged_on_mae_with_a_relative_margin(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    """No criterion names a metric of its own: MAE decides, RMSE guards (5 %), and the
    margins are shares of the champion's values."""
    from rung import Workspace

    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN_REGRESSION)
    ws.data.add(regression_world(800, 1), name="train")
    ws.data.add(regression_world(400, 9), name="holdout")
    run = ws.run("train.py:train", {"alpha": 1e6})  # shrunk to the mean: a poor champion
    ws.models.register(str(run.id), "trend")
    ws.models.promote("trend", 1, force=True, reason="first version")
    config = CONFIG.format(policy="auto", params="{}", more="", criteria='"mae <= 10"')
    (ws.root / "rung.toml").write_text(config)
    w = Workspace.open(ws.root)
    w.data.add(regression_world(800, 2), name="train")
    job = tick(w)
    evidence = job["evidence"]
    assert job["decision"] == "promote", evidence["reasons"]
    assert evidence["decisive"] == {"mae": "1%"}  # the first criterion's metric, 1 % of it
    assert evidence["guardrails"] == {"rmse": "5%"}
    assert evidence["decided_by"][0].startswith("mae on holdout@1:")
    deltas = w.evals.get(job["evaluation_id"]).details["holdout@1"]["deltas"]
    assert deltas["rmse"]["margin"] == pytest.approx(0.05 * deltas["rmse"]["old"])
    # a challenger shrunk back to the mean is truly worse on MAE, beyond a declared 2 % margin
    text = (w.root / "rung.toml").read_text().replace('"mae <= 10"', '"mae <= 100"')
    (w.root / "rung.toml").write_text(
        text.replace("params = {}", "params = { alpha = 1e6 }")
        + '\n[automate.decisive]\nmae = "2%"\n'
    )
    w = Workspace.open(w.root)
    w.data.add(regression_world(800, 3), name="train")
    job = tick(w)
    assert job["decision"] == "reject" and champion(w) == 2
    worse = job["evidence"]["worse"]
    assert job["evidence"]["decisive"] == {"mae": "2%"}
    assert any(line.startswith("mae on holdout@1") and "(2%)" in line for line in worse), worse
