"""A small workspace with the whole story the home, monitoring and automation pages show,
built through rung's own API: model ``trend`` version 1 evaluated against the declared
criteria and promoted, two monitoring windows of served predictions (the second drifted,
with its alerts), a new training set that fires the loop (manual policy), the challenger
approved by a person — and script-carrying texts wherever a person can write one (a
promotion's reason, an approval's reason) or a stored text lands (an alert, its delivery)."""

from __future__ import annotations

import json
from typing import Any

from model_project import TRAIN, frame, in_fifties, log_served

SCRIPTS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
"""Texts that run a script wherever a page writes them unescaped."""

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.5 on every dataset"]
datasets = ["holdout@1"]

[monitor.alerts]
drifted_features = 1

[automate]
model = "trend"
alias = "champion"
pipeline = "train.py:train"
policy = "manual"
criteria = ["accuracy >= 0.5 on every dataset"]
datasets = ["holdout@1"]

[[automate.triggers]]
kind = "dataset"
dataset = "train"
"""


def build(ws: Any) -> Any:
    """The story in workspace ``ws``; returns the workspace reopened (it reads rung.toml)."""
    from rung import Workspace
    from rung.serving.feedback import record

    (ws.root / "train.py").write_text(TRAIN)
    (ws.root / "rung.toml").write_text(CONFIG)
    w = Workspace.open(ws.root)
    w.data.add(frame(1500, 1), name="train")
    w.data.add(frame(600, 9), name="holdout")
    run = w.run("train.py:train", {"C": 0.0001})
    w.models.register(str(run.id), "trend")
    w.evaluate("trend@1", ["holdout@1"])
    w.models.promote("trend", 1)  # through the gate: the evaluation passed
    w.models.promote("trend", 1, alias="stable", force=True, reason=SCRIPTS[0] + SCRIPTS[1])

    served = log_served(w.store, in_fifties(frame(300, 2)), 1, latency_ms=2.0)
    record(
        w.store,
        {"feedback": [{"request_id": rid, "labels": rows["y"].tolist()} for rid, rows in served]},
    )
    w.monitor.check("trend@champion", "300")
    moved = frame(300, 3)
    moved["a"] += 2.0
    log_served(w.store, in_fifties(moved), 1, latency_ms=9.0)
    report = w.monitor.check("trend@champion", "300")
    assert report is not None and report["alerts"], report
    with w.store.write() as tx:  # a stored alert text and delivery outcome carrying scripts
        tx.execute(
            "UPDATE alerts SET message = :m, delivery = :d WHERE id = :id",
            {
                "m": report["alerts"][0]["message"] + " " + SCRIPTS[0],
                "d": "refused: " + SCRIPTS[1],
                "id": report["alerts"][0]["id"],
            },
        )

    w.data.add(frame(3000, 5), name="train")
    outcome = w.automation.tick()
    assert outcome["job"]["decision"] == "await", json.dumps(outcome, default=str)
    w.automation.approve("trend", 2, reason="looks right " + SCRIPTS[1])
    return w
