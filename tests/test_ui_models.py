"""The Models pages and the actions of ``rung ui`` (issue 13), against a real ``rung ui``:

* ``/api/models``, ``/api/models/{name}`` and ``/api/models/{name}/{version}`` answer what the
  Workspace's registry holds, on both backends; unknown names and versions are 404s;
* the token scopes over a real socket: no token 401; a ``read`` token reads but may not act
  (403); **a ``predict`` token cannot approve** (403); an ``admin`` token approves, promotes
  and rolls back through the CLI's own methods, so the registry changes as the CLI would; a
  gate refusal is the gate's 409 and nothing moves; a post from another site is 403; a
  server without tokens refuses every action (403) and shows no form;
* the pages in Chromium, read-only and signed in as admin (approving from the page), on a
  workspace with a promoted and a waiting version and on an empty one, with script-carrying
  reasons and user names shown as text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from model_project import TRAIN, frame

pytest_plugins = ["ui_support"]  # its fixtures: ui_server, browser, watched
pytest.importorskip("sklearn")

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.6 on every dataset"]

[automate]
model = "trend"
alias = "champion"
pipeline = "train.py:train"
datasets = ["holdout@1"]
cooldown = "0"
policy = "manual"

[[automate.triggers]]
kind = "dataset"
dataset = "train"
"""


def waiting(ws: Any) -> Any:
    """trend@1 (so regularised it predicts one class) forced to champion with a
    script-carrying reason; the manual loop trained trend@2 on a new train version, judged it
    passed and left it waiting for approval. The workspace reopened with its configuration."""
    from rung import Workspace

    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(1500, 1), name="train")
    ws.data.add(frame(600, 9), name="holdout")
    ws.models.register(str(ws.run("train.py:train", {"C": 0.0001}).id), "trend")
    ws.models.promote("trend", 1, force=True, reason=f"first version {SCRIPT}")
    (ws.root / "rung.toml").write_text(CONFIG)
    w = Workspace.open(ws.root)
    w.data.add(frame(3000, 5), name="train")
    job = w.automation.tick()["job"]
    assert (job["decision"], job["challenger"]) == ("await", 2), job
    return w


def tokens(root: Path) -> tuple[Path, dict[str, str]]:
    """A token file with a ``read``, a ``predict`` and an ``admin`` token: its path and the
    secrets by scope."""
    from rung.core.tokens import make, write_file

    made = {scope: make(f"{scope}-bot", [scope]) for scope in ("read", "predict", "admin")}
    path = root / "ui-tokens"
    write_file(path, [t for _, t in made.values()])
    return path, {scope: secret for scope, (secret, _) in made.items()}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def events(ws: Any) -> list[dict[str, Any]]:
    return [dict(e) for e in ws.models.history("trend")]


# -- the API against the Workspace ----------------------------------------------------------


def test_the_api_answers_what_the_registry_holds(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    w = waiting(ws)
    url = ui_server(w.root)
    index = httpx.get(f"{url}/api/models").json()
    versions = w.models.list()
    assert [m["name"] for m in index["models"]] == ["trend"]
    (trend,) = index["models"]
    assert (trend["versions"], trend["latest"], trend["automated"]) == (2, 2, True)
    assert trend["aliases"] == [
        {"alias": "champion", "version": 1, "verdict": None, "evaluation_id": None}
    ]

    detail = httpx.get(f"{url}/api/models/trend").json()
    assert detail["aliases"] == {"champion": 1}
    rejected = ws.models.rejections("trend")
    assert detail["versions"] == json.loads(
        json.dumps([{**v.to_dict(), "rejected": rejected.get(v.version, [])} for v in versions])
    )
    assert [e["id"] for e in detail["history"]] == [e["id"] for e in events(w)]
    assert detail["history"][0]["why"] == f"first version {SCRIPT}"
    job = w.automation.history()[-1]
    assert detail["awaiting"] == [
        {
            "id": job["id"],
            "challenger": 2,
            "champion": 1,
            "evaluation_id": job["evaluation_id"],
            "updated_at": job["updated_at"],
        }
    ]
    assert detail["acceptance"]["criteria"] == ["accuracy >= 0.6 on every dataset"]

    two = httpx.get(f"{url}/api/models/trend/2").json()
    v2 = w.models.get("trend@2")
    assert (two["verdict"], two["evaluation_id"]) == ("passed", job["evaluation_id"])
    assert two["datasets"] == v2.datasets == ["train@2"]
    assert two["signature"]["features"] == ["a", "color"]
    assert two["run"]["id"] == v2.run_id and two["run"]["code"]["hash"]
    assert [e["id"] for e in two["evaluations"]] == [
        e["id"] for e in w.evals.list(50) if e["model_hash"] == v2.hash
    ]
    assert two["moves"] == []

    for path, shown in (
        ("/api/models/trnd", "did you mean 'trend'?"),
        ("/api/models/trend/9", "its versions are 1 to 2"),
        ("/api/models/nothing/1", "unknown model 'nothing'"),
    ):
        missing = httpx.get(url + path)
        assert missing.status_code == 404, path
        error = missing.json()["error"]
        assert shown in error["message"] + " " + error["hint"], (path, error)


# -- the actions, over a real socket ----------------------------------------------------------


def test_token_scopes_and_the_gate_decide_every_action(ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    w = waiting(ws)
    path, secret = tokens(w.root)
    url = ui_server(w.root, "--tokens", str(path))
    approve = f"{url}/api/models/trend/approve"
    body = {"version": 2, "reason": f"looks good {IMG}"}

    assert httpx.get(f"{url}/api/models").status_code == 401
    assert httpx.post(approve, json=body).status_code == 401
    assert httpx.get(f"{url}/api/models", headers=bearer(secret["read"])).status_code == 200
    for scope, forms in (("read", 0), ("admin", 3)):  # the forms for admin tokens only
        shown = httpx.get(f"{url}/models/trend", headers=bearer(secret[scope])).text
        assert shown.count('<form class="act"') == forms, scope
    for scope in ("read", "predict"):  # a predict token cannot approve, nor can a reader
        refused = httpx.post(approve, json=body, headers=bearer(secret[scope]))
        assert refused.status_code == 403, (scope, refused.text)
        assert "lacks the scope 'admin'" in refused.json()["error"]["message"]
    admin = bearer(secret["admin"])
    foreign = httpx.post(approve, json=body, headers={**admin, "Origin": "https://evil.test"})
    assert foreign.status_code == 403 and "evil.test" in foreign.json()["error"]["message"]
    simple = httpx.post(  # what a cross-site form could send: not JSON, refused
        approve, content=json.dumps(body), headers={**admin, "Content-Type": "text/plain"}
    )
    assert simple.status_code == 422, simple.text
    assert w.models.get("trend@champion").version == 1 and len(events(w)) == 1

    # the gate: trend@1 has no evaluation against the criteria, so it may not be staging
    gate = httpx.post(
        f"{url}/api/models/trend/promote",
        json={"version": 1, "alias": "staging", "reason": "try"},
        headers=admin,
    )
    assert gate.status_code == 409, gate.text
    error = gate.json()["error"]
    assert error["type"] == "RefusedPromotion"
    assert error["message"].startswith("refusing to promote trend@1 to 'staging'")
    assert len(events(w)) == 1
    blank = httpx.post(approve, json={"version": 2, "reason": "  "}, headers=admin)
    assert blank.status_code == 422 and len(events(w)) == 1  # a reason is required

    approved = httpx.post(approve, json=body, headers=admin)
    assert approved.status_code == 200, approved.text
    job = approved.json()["job"]
    assert (job["decision"], job["challenger"]) == ("approved", 2)
    approval = job["evidence"]["approval"]
    assert (approval["reason"], approval["by"]) == (f"looks good {IMG}", "admin-bot (rung ui)")
    assert w.models.get("trend@champion").version == 2
    last = events(w)[-1]
    # what `rung model approve` records: a promote onto 2, citing the job's evaluation
    assert (last["from_version"], last["to_version"], last["action"]) == (1, 2, "promote")
    assert last["evaluation_id"] == job["evaluation_id"]
    assert last["who"] == "admin-bot (rung ui)"  # the token that acted, not the server's user
    assert last["why"] == (
        f"approved by admin-bot (rung ui) (automate job {job['id']}, evaluation"
        f" {job['evaluation_id']}, the policy would promote): looks good {IMG}"
    )
    again = httpx.post(approve, json=body, headers=admin)
    assert again.status_code == 422 and "already approved" in again.json()["error"]["message"]

    # rolling back onto trend@1 (forced once, no passing verdict) passes the same gate
    back = {"alias": "champion", "reason": "regression in prod"}
    refused = httpx.post(f"{url}/api/models/trend/rollback", json=back, headers=admin)
    assert refused.status_code == 409
    assert "refusing to roll trend@champion back to trend@1" in refused.json()["error"]["message"]
    assert w.models.get("trend@champion").version == 2
    forced = httpx.post(
        f"{url}/api/models/trend/rollback", json={**back, "force": True}, headers=admin
    )
    assert forced.status_code == 200, forced.text
    event = forced.json()["event"]
    assert (event["to_version"], event["action"]) == (1, "force-rollback")
    assert (event["who"], event["why"]) == ("admin-bot (rung ui)", "regression in prod")
    assert events(w)[-1]["id"] == event["id"] and w.models.get("trend@champion").version == 1


def test_without_tokens_every_action_is_refused(sqlite_ws, ui_server) -> None:  # type: ignore[no-untyped-def]
    """Authorize lets everything through when no tokens are configured; the actions' own
    check refuses them, in one place, naming how to configure tokens."""
    w = sqlite_ws
    (w.root / "train.py").write_text(TRAIN)
    w.data.add(frame(200, 1), name="train")
    w.models.register(str(w.run("train.py:train").id), "trend")
    url = ui_server(w.root)
    for action, body in (
        ("promote", {"version": 1, "reason": "x", "force": True}),
        ("rollback", {"reason": "x", "force": True}),
        ("approve", {"version": 1, "reason": "x", "force": True}),
    ):
        refused = httpx.post(f"{url}/api/models/trend/{action}", json=body)
        assert refused.status_code == 403, (action, refused.text)
        assert "rung token create NAME --scope admin" in refused.json()["error"]["hint"]
    assert w.models.history("trend") == []
    page = httpx.get(f"{url}/models/trend").text
    assert '<form class="act"' not in page and "actions.js" not in page


# -- the pages in a browser --------------------------------------------------------------------


def test_the_pages_read_only_and_empty(
    sqlite_ws, ui_server, watched, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    empty = Workspace.init(tmp_path / "empty")
    url = ui_server(empty.root)
    assert httpx.get(f"{url}/api/models").json() == {"models": []}
    watched.visit(f"{url}/models", shot="models-empty")
    assert "No registered models yet" in watched.page.inner_text("main")
    watched.visit(f"{url}/models/trend", shot="models-404", status=404)
    assert "unknown model 'trend'" in watched.page.inner_text("main")

    w = sqlite_ws
    (w.root / "train.py").write_text(TRAIN)
    w.data.add(frame(300, 1), name="train")
    w.data.add(frame(300, 2), name="holdout")
    w.models.register(str(w.run("train.py:train").id), "trend")
    (w.root / "rung.toml").write_text('[eval]\nlabel = "y"\ncriteria = ["accuracy >= 0.6"]\n')
    w = Workspace.open(w.root)
    w.evaluate("trend@1", ["holdout@1"])
    monkeypatch.setenv("RUNG_USER", SCRIPT)  # who moved it
    w.models.promote("trend", 1, reason=IMG)
    url = ui_server(w.root)
    page = watched.page
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    watched.visit(f"{url}/models", shot="models")
    assert "champion → 1 (passed)" in page.inner_text("#models")
    watched.visit(f"{url}/models/trend", shot="model")
    history = page.inner_text("#history")
    assert IMG in history and SCRIPT in history  # the reason and who, as text
    assert "passed" in history  # the verdict of the evaluation behind the move
    assert page.locator("form.act").count() == 0  # read-only: no forms
    page.click("#versions a[href='/models/trend/1']")
    page.wait_for_load_state("networkidle")
    watched.check("model-version")
    assert "holdout@1" in page.inner_text("#evaluations")
    assert page.inner_text("#trained-on") == "train@1"
    assert page.locator("#signature tr").count() == 3  # the header and two features
    for hostile in (IMG, "<svg onload=alert(1)>"):  # a URL's name, as text on the 404 page
        watched.visit(f"{url}/models/{quote(hostile, safe='')}", status=404)
        assert f"unknown model {hostile!r}" in page.inner_text("main")
        missing = httpx.get(f"{url}/api/models/{quote(hostile, safe='')}")
        assert missing.status_code == 404 and hostile in missing.json()["error"]["message"]
    watched.visit(f"{url}/models/trend/7", status=404)
    assert "its versions are 1 to 1" in page.inner_text("main")


def test_an_admin_approves_from_the_page(sqlite_ws, ui_server, watched) -> None:  # type: ignore[no-untyped-def]
    w = waiting(sqlite_ws)
    path, secret = tokens(w.root)
    url = ui_server(w.root, "--tokens", str(path))
    page = watched.page
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    watched.visit(f"{url}/models/trend")  # signed out: the sign-in page, then back here
    page.fill("input[name=token]", secret["admin"])
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{url}/models/trend")
    page.wait_for_load_state("networkidle")
    watched.check("model-admin")
    assert page.locator("#awaiting form.act").count() == 1

    # a refusal of the gate is shown with its message; nothing moves
    watched.expected = {409}
    page.select_option("#promote-form select[name=version]", "1")
    page.fill("#promote-form input[name=alias]", "staging")
    page.fill("#promote-form input[name=reason]", "try")
    page.click("#promote-form button[type=submit]")
    page.wait_for_selector("#action-result.error")
    assert "refusing to promote trend@1 to 'staging'" in page.inner_text("#action-result")
    watched.check("model-refused")
    assert len(events(w)) == 1

    watched.expected = set()
    page.fill("#awaiting input[name=reason]", f"ship it {SCRIPT}")
    with page.expect_navigation():  # the page reloads once the move is made
        page.click("#awaiting button[type=submit]")
    page.wait_for_load_state("networkidle")
    watched.check("model-approved")
    assert w.models.get("trend@champion").version == 2
    assert page.locator("#awaiting").count() == 0
    newest = page.inner_text("#history tbody tr:first-child")
    assert f"ship it {SCRIPT}" in newest and "admin-bot (rung ui)" in newest


def test_the_registry_and_evaluations_list_one_model(ws) -> None:  # type: ignore[no-untyped-def]
    """The queries the pages use: ``Registry.list(name)`` and ``Evaluator.list(model_hash=)``."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(300, 1), name="train")
    ws.data.add(frame(200, 2), name="holdout")
    for name, c in (("trend", 1.0), ("other", 0.5), ("trend", 0.1)):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), name)
    assert [v.ref for v in ws.models.list("trend")] == ["trend@2", "trend@1"]
    assert [v.ref for v in ws.models.list("other")] == ["other@1"]
    assert ws.models.list("nothing") == [] and len(ws.models.list()) == 3
    one, two = ws.models.get("trend@1"), ws.models.get("trend@2")
    first = ws.evaluate("trend@1", ["holdout@1"], label="y")
    ws.evaluate("trend@2", ["holdout@1"], label="y", baseline="trend@1")  # 1 only a baseline
    by_run = ws.evaluate(str(one.run_id), ["holdout@1"], label="y")  # the same bytes, by run
    assert [e["id"] for e in ws.evals.list(10, model_hash=one.hash)] == [by_run.id, first.id]
    assert len(ws.evals.list(10, model_hash=two.hash)) == 1
    assert ws.evals.list(10, model_hash="0" * 64) == []
    assert len(ws.evals.list(1, model_hash=one.hash)) == 1
    summary = {"id": first.id, "verdict": None, "datasets": ["holdout@1"]}  # no criteria
    assert ws.evals.summaries([first.id, 10_000]) == {first.id: summary}
    assert set(ws.evals.summaries(range(1, 1200))) == {first.id, by_run.id, first.id + 1}
    assert ws.evals.summaries([]) == {}
