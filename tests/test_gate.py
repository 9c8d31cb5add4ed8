"""The registry's gate cannot be sidestepped (issue 11, §5).

* every command that moves an alias — promote, rollback, approve, the loop — is refused onto
  a version that does not pass the gate, unless forced with a reason, recorded;
* only an evaluation against the project's declared acceptance criteria, on its declared
  datasets, unlocks the gate: a looser threshold, another metric, another dataset or no
  criteria only inform;
* a version's verdict comes from its own evaluation against those criteria, and stays put
  when later evaluations use it as a baseline, use other criteria, or re-judge the serving
  version in the loop;
* a hypothesis test over random promote / force / rollback sequences: an alias never rests on
  a version that does not pass without a recorded forced event with a reason.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from model_project import TRAIN, frame
from rung.core.errors import InvalidInput, NotFound
from rung.registry.models import RefusedPromotion

pytest.importorskip("sklearn")


def declare(ws: Any, criteria: list[str], datasets: list[str] | None = None, more: str = "") -> Any:
    """The workspace reopened with acceptance criteria (and datasets) declared under [eval]."""
    from rung import Workspace

    lines = ["[eval]", 'label = "y"', "criteria = " + json.dumps(criteria)]
    if datasets is not None:
        lines.append("datasets = " + json.dumps(datasets))
    (ws.root / "rung.toml").write_text("\n".join(lines) + "\n" + more)
    return Workspace.open(ws.root)


def flipped(n: int, seed: int) -> Any:
    """Data whose labels say the opposite of the world the model learnt: it fails there."""
    f = frame(n, seed)
    f["y"] = f["y"].map({"yes": "no", "no": "yes"})
    return f


@pytest.fixture
def versions(ws):  # type: ignore[no-untyped-def]
    """trend@1 passes ``accuracy >= 0.7`` (the declared criterion), trend@2 fails it (on
    data with flipped labels), trend@3 has only an ad-hoc evaluation that passed."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(400, 1), name="train")
    ws.data.add(frame(300, 2), name="holdout")
    ws.data.add(flipped(300, 3), name="flipped")
    for c in (1.0, 0.01, 0.1):
        ws.models.register(str(ws.run("train.py:train", {"C": c}).id), "trend")
    w = declare(ws, ["accuracy >= 0.7"])
    assert w.evaluate("trend@1", ["holdout@1"]).status == "passed"
    assert w.evaluate("trend@2", ["flipped@1"]).status == "failed"
    assert w.evaluate("trend@3", ["holdout@1"], criteria=["accuracy >= 0.1"]).status == "passed"
    assert [w.models.get(f"trend@{v}").verdict for v in (1, 2, 3)] == ["passed", "failed", None]
    return w


# -- rollback, and every other command that moves an alias ---------------------------------


def test_rolling_back_onto_a_forced_version_needs_force_and_a_reason(versions) -> None:  # type: ignore[no-untyped-def]
    w = versions
    w.models.promote("trend", 1)
    w.models.promote("trend", 2, force=True, reason="hotfix for client B")
    assert w.models.rollback("trend")["to_version"] == 1  # back onto a version that passed
    with pytest.raises(RefusedPromotion, match=r"refusing to roll trend@champion back to trend@2"):
        w.models.rollback("trend")  # the example: it went back onto 2 unchecked
    assert w.models.get("trend@champion").version == 1  # nothing stored on the refusal
    assert len(w.models.history("trend")) == 3
    with pytest.raises(InvalidInput, match="--force needs a reason"):
        w.models.rollback("trend", force=True, reason="  ")
    event = w.models.rollback("trend", reason="client B again", force=True)
    assert (event["action"], event["to_version"], event["why"]) == (
        "force-rollback",
        2,
        "client B again",
    )
    assert event["evaluation_id"] == w.models.get("trend@2").evaluation_id  # the failed one
    # a version with no verdict is refused the same way, by promote and by rollback
    with pytest.raises(RefusedPromotion, match="no evaluation against the project's acceptance"):
        w.models.promote("trend", 3, "staging")


def test_the_rollback_example_through_the_cli(versions) -> None:  # type: ignore[no-untyped-def]
    root = versions.root
    assert rung_cli("model", "promote", "trend", "1", cwd=root).returncode == 0
    forced = rung_cli("model", "promote", "trend", "2", "--force", "--reason", "hotfix", cwd=root)
    assert forced.returncode == 0 and "[force]" in forced.stdout
    back = rung_cli("model", "rollback", "trend", cwd=root)
    assert back.returncode == 0 and "→ version 1 (was 2) [rollback]" in back.stdout
    again = rung_cli("model", "rollback", "trend", cwd=root)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.startswith("error: refusing to roll trend@champion back to trend@2:")
    assert "has verdict failed" in again.stderr and "--force --reason" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    ok = rung_cli("model", "rollback", "trend", "--force", "--reason", "client B", cwd=root)
    assert ok.returncode == 0 and "→ version 2 (was 1) [force-rollback]" in ok.stdout
    history = json.loads(rung_cli("model", "history", "trend", "--json", cwd=root).stdout)
    assert [(e["action"], e["to_version"], e["why"]) for e in history] == [
        ("promote", 1, None),
        ("force", 2, "hotfix"),
        ("rollback", 1, None),
        ("force-rollback", 2, "client B"),
    ]


def test_the_gate_is_one_rule_under_every_command(versions) -> None:  # type: ignore[no-untyped-def]
    """Any caller of the registry's alias move — a later command included — meets the gate."""
    w = versions
    with pytest.raises(RefusedPromotion):
        w.models._move("trend", "champion", 2, "approve", None, None)
    with pytest.raises(RefusedPromotion, match=r"move trend@champion to trend@3 \(approve\)"):
        w.models._move("trend", "champion", 3, "approve", "a reason, but no force", None)
    forced = w.models._move("trend", "champion", 2, "approve", "signed off", None, force=True)
    assert forced["action"] == "force-approve"
    assert w.models._move("trend", "champion", 1, "approve", None, None)["action"] == "approve"
    with pytest.raises(NotFound):
        w.models._move("trend", "champion", 9, "promote", None, None, force=True)


# -- ad-hoc criteria inform, never unlock -----------------------------------------------------


DECLARED = ["mean accuracy >= 0.55", "f1_macro >= 0"]
ADHOC = {  # evaluations of trend@1 that pass but are not the project's acceptance criteria
    "a looser threshold": {"criteria": ["mean accuracy >= 0.01", "f1_macro >= 0"]},
    "another metric": {"criteria": ["precision_yes >= 0"]},
    "part of the declared set": {"criteria": ["f1_macro >= 0"]},
    "no criteria": {"criteria": []},
    "another dataset": {"on": ["easy@1"]},
    "the declared dataset and others lifting the mean": {"on": ["holdout@1", "easy@1", "easy@2"]},
}


@pytest.mark.parametrize("case", list(ADHOC))
def test_an_evaluation_with_other_criteria_or_datasets_never_unlocks(ws, case: str) -> None:  # type: ignore[no-untyped-def]
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(400, 1), name="train")
    ws.data.add(flipped(300, 2), name="holdout")  # it fails the declared criteria here
    ws.data.add(frame(300, 3), name="easy")
    ws.data.add(frame(300, 4), name="easy")
    ws.models.register(str(ws.run("train.py:train").id), "trend")
    w = declare(ws, DECLARED, ["holdout@1"])
    before = rung_cli("model", "promote", "trend", "1", cwd=w.root)
    assert "no evaluation against the project's acceptance criteria" in before.stderr
    assert "--on holdout@1" in before.stderr  # how to evaluate it as the gate wants
    gate = w.evaluate("trend@1", [])  # the declared criteria and datasets are the default
    assert gate.status == "failed" and [d["ref"] for d in gate.datasets] == ["holdout@1"]
    options = ADHOC[case]
    other = w.evaluate(
        "trend@1", options.get("on", ["holdout@1"]), criteria=options.get("criteria")
    )
    assert other.status in ("passed", None), other.verdict
    version = w.models.get("trend@1")
    assert (version.verdict, version.evaluation_id) == ("failed", gate.id)
    refused = rung_cli("model", "promote", "trend", "1", cwd=w.root)
    assert refused.returncode == 1 and f"its evaluation {gate.id} against" in refused.stderr
    with w.store.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM alias_events") == 0


def test_the_example_and_no_declared_criteria_through_the_cli(versions) -> None:  # type: ignore[no-untyped-def]
    root = versions.root
    adhoc = rung_cli(
        "eval", "trend@3", "--on", "holdout@1", "--criterion", "accuracy >= 0.1", cwd=root
    )
    assert adhoc.returncode == 0, adhoc.stderr
    assert "gate: informs only — not the project's acceptance criteria" in adhoc.stdout
    refused = rung_cli("model", "promote", "trend", "3", cwd=root)  # the example
    assert refused.returncode == 1
    assert "used other criteria or datasets and only inform" in refused.stderr
    declared = rung_cli("eval", "trend@3", "--on", "holdout@1", cwd=root)
    assert "gate: this is now the verdict of trend@3 for promotion" in declared.stdout
    assert rung_cli("model", "promote", "trend", "3", cwd=root).returncode == 0
    versions.evaluate("trend@3", ["flipped@1"], criteria=["accuracy >= 0.1"])  # informs again
    shown = json.loads(rung_cli("model", "show", "trend@3", "--json", cwd=root).stdout)
    assert shown["verdict"] == "passed" and shown["gate"]["criteria"] == ["accuracy >= 0.7"]
    assert shown["gate"]["declared_in"] == "[eval] criteria"
    # nothing declared: said so, with how to declare them
    (root / "rung.toml").write_text('[eval]\nlabel = "y"\n')
    bare = rung_cli("model", "promote", "trend", "1", cwd=root)
    assert bare.returncode == 1 and "the project declares no acceptance criteria" in bare.stderr
    assert "under [eval]" in bare.stderr and "criteria = [" in bare.stderr
    listed = rung_cli("model", "list", cwd=root)
    assert "no criteria" in listed.stdout
    shown_text = rung_cli("model", "show", "trend@1", cwd=root).stdout
    assert "the project declares no acceptance criteria" in shown_text


# -- whose verdict ----------------------------------------------------------------------------


def test_the_verdict_is_the_versions_own_against_the_criteria_and_stays(versions) -> None:  # type: ignore[no-untyped-def]
    w = versions
    v1 = w.models.get("trend@1")
    # later: trend@1 as the baseline of a failing trend@2 on the same declared criteria …
    assert w.evaluate("trend@2", ["flipped@1"], baseline="trend@1").status == "failed"
    # … trend@1 judged by stricter ad-hoc criteria, and by none
    assert w.evaluate("trend@1", ["holdout@1"], criteria=["accuracy >= 0.999"]).status == "failed"
    w.evaluate("trend@1", ["flipped@1"], criteria=[])
    again = w.models.get("trend@1")
    assert (again.verdict, again.evaluation_id) == ("passed", v1.evaluation_id)
    # shown with the evaluation and its criteria
    out = rung_cli("model", "show", "trend@1", cwd=w.root).stdout
    assert f"passed (evaluation {v1.evaluation_id}, on holdout@1)" in out
    assert "criteria  accuracy >= 0.7 ([eval] criteria)" in out
    listed = rung_cli("model", "list", "--json", cwd=w.root).stdout
    row = next(v for v in json.loads(listed) if v["ref"] == "trend@1")
    assert (
        row["evaluation_id"] == v1.evaluation_id and row["gate"]["evaluation"] == v1.evaluation_id
    )
    assert f"passed (eval {v1.evaluation_id})" in rung_cli("model", "list", cwd=w.root).stdout
    # a new evaluation against the declared criteria is the verdict from then on
    newer = w.evaluate("trend@1", ["flipped@1"])
    assert newer.status == "failed"
    assert (w.models.get("trend@1").verdict, w.models.get("trend@1").evaluation_id) == (
        "failed",
        newer.id,
    )
    # other declared criteria: every earlier evaluation is of another set, and no longer counts
    w2 = declare(w, ["accuracy >= 0.6"])
    assert w2.models.get("trend@1").verdict is None


def test_the_migration_fills_in_the_digest_of_earlier_evaluations(store_url: str) -> None:
    """Evaluations recorded before revision 0012 count by the criteria their result names."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from rung.core.criteria import criteria_digest
    from rung.store.metadata import MetadataStore

    engine = create_engine(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", "rung.store:migrations")
    insert = text(
        "INSERT INTO evaluations (model, model_hash, label, datasets, result, verdict,"
        " created_at) VALUES ('m@1', 'h', 'y', '[]', :r, :v, 0)"
    )
    results = [
        (["accuracy >= 0.5", "mean f1_macro >= 0.6"], "passed"),
        ([], None),
        (["precision >= high"], "failed"),  # unreadable criteria: counts toward nothing
    ]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        for texts, verdict in results:
            payload = {"verdict": {"criteria": texts, "status": verdict}}
            conn.execute(insert, {"r": json.dumps(payload), "v": verdict})
    engine.dispose()
    store = MetadataStore(store_url)  # opening migrates to the head
    try:
        with store.read() as tx:
            rows = tx.all("SELECT criteria_digest, informs_only FROM evaluations ORDER BY id")
    finally:
        store.close()
    digest = criteria_digest(["f1_macro >= 0.6 on the mean", "accuracy >= 0.50"])
    assert [r["criteria_digest"] for r in rows] == [digest, None, None]
    assert not any(r["informs_only"] for r in rows)


# -- the loop: approve and the automation meet the same gate ---------------------------------


LOOP = """
[automate]
model = "trend"
pipeline = "train.py:train"
datasets = ["holdout@1"]
policy = "{policy}"
{more}
[[automate.triggers]]
kind = "dataset"
dataset = "train"
{extra}"""


def loop(ws: Any, policy: str = "auto", more: str = "", extra: str = "", weak: bool = False) -> Any:
    """The loop over a promoted version 1; ``weak``: one so regularised that it predicts one
    class (accuracy ~0.55, the criterion then 0.5), so a retrained challenger is clearly
    better — the promotion policy keeps a champion a challenger merely ties."""
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(frame(1500, 1), name="train")
    ws.data.add(frame(600, 9), name="holdout")
    ws.models.register(str(ws.run("train.py:train", {"C": 0.0001} if weak else {}).id), "trend")
    w = declare(
        ws,
        [f"accuracy >= {0.5 if weak else 0.6} on every dataset"],
        more=LOOP.format(policy=policy, more=more, extra=extra),
    )
    assert w.evaluate("trend@1", []).status == "passed"  # the automated model's datasets
    w.models.promote("trend", 1)
    return w


def test_approve_meets_the_gate(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    w = loop(sqlite_ws, policy="manual", weak=True)
    w.data.add(frame(3000, 5), name="train")
    assert w.automation.tick()["job"]["decision"] == "await"
    # the criteria the project declares changed since: the challenger no longer passes
    text = (w.root / "rung.toml").read_text().replace("accuracy >= 0.5", "accuracy >= 0.999")
    (w.root / "rung.toml").write_text(text)
    refused = rung_cli("model", "approve", "trend", "2", cwd=w.root)
    assert refused.returncode == 1 and "refusing to promote trend@2" in refused.stderr
    assert "no evaluation against the project's acceptance criteria" in refused.stderr
    assert w.models.get("trend@champion").version == 1


def test_the_loop_meets_the_gate_when_it_resumes_a_promotion(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from rung import Workspace

    w = loop(sqlite_ws, weak=True)
    w.data.add(frame(3000, 5), name="train")
    job = w.automation.tick()["job"]
    assert job["decision"] == "promote" and w.models.get("trend@champion").version == 2
    w.models.rollback("trend")  # back to 1; then as if the tick had died before promoting
    with w.store.write() as tx:
        tx.execute("UPDATE automation_jobs SET state = 'decided' WHERE id = :id", {"id": job["id"]})
    text = (w.root / "rung.toml").read_text().replace("accuracy >= 0.5", "accuracy >= 0.999")
    (w.root / "rung.toml").write_text(text)
    resumed = Workspace.open(w.root).automation.tick()
    assert resumed["status"] == "failed"
    assert "refusing to promote trend@2" in resumed["job"]["error"]
    assert w.models.get("trend@champion").version == 1


def test_the_loop_re_judging_the_serving_version_never_changes_its_verdict(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from model_project import in_fifties, log_served
    from rung.serving.feedback import record

    schedule = '\n[[automate.triggers]]\nkind = "schedule"\ncron = "0 0 1 1 *"\n'
    # gate_on = "all": the criteria are judged on the served rows too, where it fails
    w = loop(sqlite_ws, more='fresh = 100\ngate_on = "all"\n', extra=schedule)
    passed = w.models.get("trend@1")
    assert w.automation.tick()["status"] == "idle"  # the first tick only notes the time
    served = frame(150, 4)
    served["a"] += 4  # the model says "yes" to all of them, and every label says "no"
    log_served(w.store, in_fifties(served), 1)
    with w.store.read() as tx:
        ids = [r["request_id"] for r in tx.all("SELECT request_id FROM predictions ORDER BY id")]
    record(w.store, {"feedback": [{"request_id": r, "labels": ["no"] * 50} for r in ids]})
    with w.store.write() as tx:  # as if that tick had run over a year ago: New Year was due
        tx.execute(
            "UPDATE automation_state SET value = :v WHERE key = 'trend/schedule'",
            {"v": json.dumps({"checked": time.time() - 370 * 86400, "streak": 0})},
        )
    job = w.automation.tick()["job"]
    assert job["champion"] == job["challenger"] == 1, job
    assert w.evals.get(job["evaluation_id"]).status == "failed"  # on the served rows
    after = w.models.get("trend@1")
    assert (after.verdict, after.evaluation_id) == ("passed", passed.evaluation_id)


# -- the property -------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["promote", "rollback"]),
        st.integers(1, 3),
        st.booleans(),  # force
        st.sampled_from([None, "", "why not"]),  # reason
    ),
    min_size=1,
    max_size=12,
)
_aliases = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_an_alias_never_rests_on_a_failing_version_without_a_forced_event(versions, ops) -> None:  # type: ignore[no-untyped-def]
    w = versions
    alias = f"a{next(_aliases)}"
    passes = {v: w.models.get(f"trend@{v}").verdict == "passed" for v in (1, 2, 3)}
    model: list[tuple[int | None, int]] = []  # (from, to) of each move, as the registry should
    for op, version, force, reason in ops:
        blank = force and not (reason or "").strip()
        if op == "promote":
            target: int | None = version
        else:
            target = model[-1][0] if model else None
        try:
            if op == "promote":
                event = w.models.promote("trend", version, alias, force=force, reason=reason)
            else:
                event = w.models.rollback("trend", alias, reason, force=force)
        except RefusedPromotion:
            assert target is not None and not passes[target] and not force
            continue
        except InvalidInput as exc:
            assert blank or (op == "rollback" and model and model[-1][0] is None), exc
            continue
        except NotFound:
            assert op == "rollback" and not model
            continue
        assert not blank and target is not None and event["to_version"] == target
        assert event["action"].startswith("force") == (not passes[target])
        model.append((event["from_version"], target))
    trail = [e for e in w.models.history("trend") if e["alias"] == alias] if model else []
    assert [(e["from_version"], e["to_version"]) for e in trail] == model
    for e in trail:  # the invariant, on the recorded trail
        if not passes[e["to_version"]]:
            assert e["action"] in ("force", "force-rollback") and (e["why"] or "").strip()
    if model:
        assert w.models.get(f"trend@{alias}").version == model[-1][1]


JUDGEMENTS = st.lists(  # the loop's judgements of trend@1 for an alias, oldest first
    st.tuples(
        st.sampled_from(["reject", "promote", "await", "approved"]),
        st.booleans(),  # the job's run reproduced the serving version (it judged nothing)
    ),
    max_size=4,
)


def record_judgements(w: Any, alias: str, judgements: list[tuple[str, bool]]) -> int | None:
    """The loop's job rows judging trend@1 for ``alias``, as the loop stores them; the id of
    the standing rejection (None: none stands)."""
    import json
    import time

    standing = None
    with w.store.write() as tx:
        for decision, same in judgements:
            job = tx.insert(
                "automation_jobs",
                {
                    "model": "trend",
                    "alias": alias,
                    "trigger": "dataset",
                    "reason": "dataset: new dataset version train@1",
                    "state": "done",
                    "challenger": 1,
                    "champion": 1 if same else 3,
                    "decision": decision,
                    "evidence": json.dumps({"reasons": ["a tie keeps the champion"]}),
                    "created_at": time.time(),
                    "updated_at": time.time(),
                },
            )
            if not same:
                standing = job if decision == "reject" else None
    return standing


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(judgements=JUDGEMENTS, ops=OPS)
def test_an_alias_never_rests_on_a_version_the_loop_rejected_without_a_forced_event(
    versions, judgements, ops
) -> None:  # type: ignore[no-untyped-def]
    """The same invariant for the loop's rejection (report t11 item 6): whatever the loop's
    judgements of trend@1 for this alias (a rejection stands when the latest judgement that
    judged anything is ``reject``; a reproduction of the serving version judged nothing),
    promote and rollback move the alias onto a rejected version only forced, with a reason,
    and name the rejecting job when refusing; another alias is not guarded by it."""
    w = versions
    alias = f"r{next(_aliases)}"
    standing = record_judgements(w, alias, judgements)
    passes = {v: w.models.get(f"trend@{v}").verdict == "passed" for v in (1, 2, 3)}
    allowed = {**passes, 1: passes[1] and standing is None}
    model: list[tuple[int | None, int]] = []
    for op, version, force, reason in ops:
        blank = force and not (reason or "").strip()
        target = version if op == "promote" else (model[-1][0] if model else None)
        try:
            if op == "promote":
                event = w.models.promote("trend", version, alias, force=force, reason=reason)
            else:
                event = w.models.rollback("trend", alias, reason, force=force)
        except RefusedPromotion as exc:
            assert target is not None and not allowed[target] and not force
            if passes[target]:  # refused for the rejection alone: it names the job
                assert f"automate job {standing} rejected it" in exc.message
                assert "--force --reason" in exc.hint
            continue
        except (InvalidInput, NotFound):
            continue  # a blank reason, nothing to roll back to: test_gate's test above
        assert not blank and target is not None and event["to_version"] == target
        assert event["action"].startswith("force") == (not allowed[target])
        if target == 1 and passes[1] and standing is not None:
            assert f"overrides automate job {standing}'s rejection" in event["why"]
        model.append((event["from_version"], target))
    for e in [e for e in w.models.history("trend") if e["alias"] == alias] if model else []:
        if not allowed[e["to_version"]]:
            assert e["action"] in ("force", "force-rollback") and (e["why"] or "").strip()
    if standing is not None:  # the loop guards its own alias only
        other = f"o{next(_aliases)}"
        assert w.models.promote("trend", 1, other)["action"] == "promote"


# -- the pieces, without a store -------------------------------------------------------------

CRITERIA = st.lists(
    st.tuples(
        st.sampled_from(["accuracy", "f1_macro", "precision_down"]),
        st.sampled_from([">=", ">"]),
        st.sampled_from([0.5, 0.6, 0.75]),
        st.sampled_from(["", " on every dataset", " on the mean", " on dataset holdout@1"]),
    ),
    min_size=1,
    max_size=4,
)


@given(CRITERIA, st.randoms(use_true_random=False))
def test_the_criteria_digest_is_the_set_not_its_spelling(crit, rnd) -> None:  # type: ignore[no-untyped-def]
    from rung.core.criteria import criteria_digest

    texts = [f"{m} {op} {b}{scope}" for m, op, b, scope in crit]
    spelt = [
        f"{m}{op}  {b:.2f}{scope or rnd.choice(['', ' on every dataset'])}".replace(
            " on the mean", "  on   mean"
        )
        for m, op, b, scope in crit
    ]
    shuffled = spelt + spelt[:1]
    rnd.shuffle(shuffled)
    assert criteria_digest(shuffled) == criteria_digest(texts)
    m, op, b, scope = crit[0]
    looser = [f"{m} {op} {b - 0.4}{scope}", *texts[1:]]
    assert criteria_digest(looser) != criteria_digest(texts) or looser[0] in texts[1:]
    other = [f"recall_up {op} {b}{scope}", *texts[1:]]
    assert criteria_digest(other) != criteria_digest(texts)
    assert criteria_digest([]) is None


def test_declared_datasets_are_covered_exactly() -> None:
    from rung.registry.gate import Declared

    d = Declared("trend", ("accuracy >= 0.5",), ("holdout@1", "djia"))
    assert d.covers(["holdout@1", "djia@3"])
    assert d.covers(["djia@1", "holdout@1", "trend-served@4"])  # the loop's fresh rows
    assert not d.covers(["holdout@1"])  # a declared dataset missing
    assert not d.covers(["holdout@2", "djia@1"])  # a pinned version is that version
    assert not d.covers(["holdout@1", "djia@1", "easy@1"])  # an extra dataset lifts a mean
    assert not d.covers(["holdout@1", "djia@1", "other-served@1"])  # another model's rows
    assert Declared("trend").covers(["anything@1"])  # none declared: any datasets
