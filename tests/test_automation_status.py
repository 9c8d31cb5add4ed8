"""`rung automate status` and `rung model approve` explain the state (report t11user item 13):
a quiet trigger says what it waits for (for a performance trigger: how many labelled rows of
the champion there are of the number needed), challengers waiting for `rung model approve`
are listed, and approving a version approved before says so — by whom, in which job, and
whether it is still the champion — instead of "no challenger waiting"."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import rung_cli
from model_project import frame, in_fifties, log_served
from rung.core.errors import InvalidInput
from test_automation import setup
from test_automation_triggers import EXTRA

pytest.importorskip("sklearn")


def _why(w: Any) -> dict[str, str]:
    return {
        t["trigger"]: t.get("why")
        for t in w.automation.status()["triggers"]
        if t["state"] == "quiet"
    }


def test_each_quiet_trigger_says_what_it_waits_for(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from rung.serving.feedback import record

    extra = EXTRA["schedule"] + EXTRA["drift"] + EXTRA["performance"]
    w = setup(sqlite_ws, extra=extra)
    why = _why(w)
    assert why["dataset"] == "the champion trend@1 was trained on the newest version train@1"
    assert why["schedule"].startswith("next due at ") and "('0 0 1 1 *')" in why["schedule"]
    assert why["drift"] == "no prediction of trend logged yet"
    assert why["performance"].startswith("0 of the 100 labelled rows needed")
    served = log_served(w.store, in_fifties(frame(150, 4)), 1)
    labels = [{"request_id": r, "labels": ["no"] * 50} for r, _ in served[:1]]
    record(w.store, {"feedback": labels})  # 50 of the 150 served rows labelled
    why = _why(w)
    assert why["performance"] == (
        "50 of the 100 labelled rows needed: labels of rows trend@1 served (rows served by"
        " earlier versions do not count)"
    )
    assert why["drift"].startswith("predictions logged since the last window it judged")
    shown = rung_cli("automate", "status", cwd=w.root)
    assert shown.returncode == 0, shown.stderr
    assert "quiet: performance (performance): 50 of the 100 labelled rows needed" in shown.stdout


def test_a_challenger_waiting_for_approval_is_listed_and_a_second_approve_says_so(  # type: ignore[no-untyped-def]
    sqlite_ws,
) -> None:
    w = setup(sqlite_ws, policy="manual")
    w.data.add(frame(3000, 5), name="train")
    job = w.automation.tick()["job"]
    assert job["decision"] == "await"
    waiting = w.automation.status()["awaiting"]
    assert [(j["id"], j["challenger"], j["champion"]) for j in waiting] == [(job["id"], 2, 1)]
    shown = rung_cli("automate", "status", cwd=w.root).stdout
    assert f"waiting for approval: version 2 (job {job['id']}, evaluation" in shown
    assert "compared with version 1" in shown and "`rung model approve trend 2`" in shown
    assert rung_cli("model", "approve", "trend", "2", cwd=w.root).returncode == 0
    assert w.automation.status()["awaiting"] == []
    again = rung_cli("model", "approve", "trend", "2", cwd=w.root)
    assert again.returncode == 1
    assert "trend@2 was already approved by " in again.stderr
    assert f"(automate job {job['id']}): it is champion since " in again.stderr
    assert "no challenger" not in again.stderr
    w.models.promote("trend", 1, force=True, reason="test: back to the first version")
    with pytest.raises(InvalidInput, match="champion is now version 1") as raised:
        w.automation.approve("trend", 2)
    assert "rung model promote trend 2" in str(raised.value.hint)
