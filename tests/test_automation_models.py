"""Several models in one workspace: each with its own pipeline, datasets, triggers, criteria,
policy, alias and lease; every command's output and history per model (issue 11, §8)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import rung_cli
from model_project import TRAIN, frame
from rung.core.errors import InvalidInput, NotFound

pytest.importorskip("sklearn")

SCHEDULE = {"kind": "schedule", "cron": "* * * * *"}

CONFIG = """
[eval]
label = "y"
criteria = ["accuracy >= 0.6 on every dataset"]

[automate]
cooldown = "0"
policy = "auto"

[automate.models.east]
pipeline = "east.py:train"
datasets = ["east_holdout@1"]

[[automate.models.east.triggers]]
kind = "dataset"
dataset = "east_train"

[automate.models.west]
pipeline = "west.py:train"
datasets = ["west_holdout@1"]
policy = "manual"
alias = "prod"

[[automate.models.west.triggers]]
kind = "dataset"
dataset = "west_train"
"""


def two_models(ws: Any) -> Any:
    """Two models, each with a weak champion (trained on shuffled labels of its own dataset's
    version 1), so that a challenger trained on real labels is clearly better."""
    from rung import Workspace

    for name, alias, seed in (("east", "champion", 1), ("west", "prod", 2)):
        (ws.root / f"{name}.py").write_text(TRAIN.replace('"train"', f'"{name}_train"'))
        noise = frame(800, seed)
        noise["y"] = noise["y"].sample(frac=1, random_state=seed).to_numpy()
        ws.data.add(noise, name=f"{name}_train")
        ws.data.add(frame(400, seed + 10), name=f"{name}_holdout")
        run = ws.run(f"{name}.py:train", {})
        ws.models.register(str(run.id), name)
        ws.models.promote(name, 1, alias, force=True, reason="first version")
    (ws.root / "rung.toml").write_text(CONFIG)
    return Workspace.open(ws.root)


def test_each_model_is_automated_with_its_own_settings(ws) -> None:  # type: ignore[no-untyped-def]
    ws = two_models(ws)
    assert sorted(ws.automations) == ["east", "west"]
    with pytest.raises(InvalidInput, match=r"2 models are automated \(east, west\)"):
        ws.automation  # noqa: B018
    with pytest.raises(NotFound, match="did you mean 'east'"):
        ws.automation_of("eastt")
    assert ws.automation_of("west").policy == "manual"
    assert ws.automation_of("east").policy == "auto"  # the [automate] default
    assert ws.automation_of("west").alias == "prod"

    assert all(o["status"] == "idle" for o in _tick(ws))  # nothing new yet
    ws.data.add(frame(900, 3), name="east_train")  # only east's trigger can fire
    east, west = _tick(ws)
    assert (east["model"], east["status"], west["status"]) == ("east", "done", "idle")
    assert east["job"]["decision"] == "promote" and ws.models.get("east@champion").version == 2
    assert ws.models.get("west@prod").version == 1

    ws.data.add(frame(900, 4), name="west_train")
    east, west = _tick(ws)
    assert east["status"] == "idle" and west["job"]["decision"] == "await"  # manual: waits
    assert ws.models.get("west@prod").version == 1
    ws.automation_of("west").approve("west", 2)
    assert ws.models.get("west@prod").version == 2

    jobs = {m: ws.automation_of(m).history() for m in ("east", "west")}
    assert [j["model"] for j in jobs["east"]] == ["east"]
    assert [j["model"] for j in jobs["west"]] == ["west"]


def _tick(ws: Any) -> list[dict[str, Any]]:
    from rung.automation.loop import tick_each

    return tick_each([ws.automations[m] for m in sorted(ws.automations)])


def test_the_cli_ticks_every_model_and_keeps_history_per_model(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = two_models(sqlite_ws)
    ws.data.add(frame(900, 3), name="east_train")
    tick = rung_cli("automate", "tick", cwd=ws.root)
    assert tick.returncode == 0, tick.stderr
    lines = tick.stdout.splitlines()
    assert any(line.startswith("east: job 1") and "PROMOTED version 2" in line for line in lines)
    assert "west: no trigger fired" in lines
    one = rung_cli("automate", "tick", "--model", "west", "--json", cwd=ws.root)
    assert json.loads(one.stdout)["status"] == "idle"
    typo = rung_cli("automate", "tick", "--model", "wset", cwd=ws.root)
    assert typo.returncode != 0 and "did you mean 'west'" in typo.stderr
    history = rung_cli("automate", "history", "--json", cwd=ws.root)
    assert [j["model"] for j in json.loads(history.stdout)] == ["east"]
    west = rung_cli("automate", "history", "--model", "west", "--json", cwd=ws.root)
    assert json.loads(west.stdout) == []


def test_a_model_holding_its_lease_does_not_block_another(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    from rung.store.lease import Lease

    ws = two_models(sqlite_ws)
    ws.data.add(frame(900, 3), name="east_train")
    ws.data.add(frame(900, 4), name="west_train")
    held = Lease(ws.store, "automate:east", 60)
    assert held.acquire()
    try:
        east, west = _tick(ws)
    finally:
        held.release()
    assert east["status"] == "busy" and west["job"]["decision"] == "await"


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        (
            '[automate]\nmodel = "a"\n[automate.models.a]\n',
            "also configured as [automate.models.a]",
        ),
        ("[automate.models.a]\ncooldwn = 1\n", "unknown key 'automate.models.a.cooldwn'"),
        ('[automate.models.a]\npolicy = "sometimes"\n', "automate.models.a.policy = 'sometimes'"),
        ('[automate.models.a]\nlease = "soon"\n', "automate.models.a.lease = 'soon'"),
        ('[[automate.models.a.triggers]]\nkind = "nope"\n', "automate.models.a.triggers[0].kind"),
    ],
)
def test_a_bad_model_table_is_one_line_at_open(tmp_path, toml: str, says: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "rung.toml").write_text(toml)
    got = rung_cli("automate", "history", cwd=tmp_path)
    assert got.returncode != 0 and len(got.stderr.strip().splitlines()) == 1
    assert says in got.stderr


def test_the_gate_judges_each_model_by_its_own_table() -> None:
    """The registry's gate takes an automated model's criteria and datasets from its own
    table (defaults from [automate] included), the others' from [eval]."""
    from rung.config import validate
    from rung.registry.gate import Acceptance

    settings = validate(
        {
            "eval": {"criteria": ["accuracy >= 0.6"], "datasets": ["shared@1"], "label": "y"},
            "automate": {
                "datasets": ["base@1"],
                "pipeline": "train.py:train",
                "triggers": [{"kind": "dataset", "dataset": "d"}],
                "models": {
                    "east": {"criteria": ["accuracy >= 0.9"], "label": "e"},
                    "west": {"datasets": ["west@2"]},
                },
            },
        }
    )
    acceptance = Acceptance.from_settings(settings)
    east, west, other = (acceptance.of(m) for m in ("east", "west", "other"))
    assert (east.criteria, east.datasets) == (("accuracy >= 0.9",), ("base@1",))
    assert (west.criteria, west.datasets) == (("accuracy >= 0.6",), ("west@2",))
    assert (other.criteria, other.datasets) == (("accuracy >= 0.6",), ("shared@1",))
    assert (east.label, west.label, other.label) == ("e", "y", "y")  # its own, else [eval]


@pytest.mark.parametrize(
    ("automate", "refused"),
    [
        ({"models": {"m3": {"triggers": [SCHEDULE]}}}, "automate.models.m3.pipeline"),
        ({"models": {"m4": {"pipeline": "t.py:f"}}}, "automate.models.m4.triggers"),
        ({"model": "m", "triggers": [SCHEDULE]}, "automate.pipeline"),
        ({"model": "m", "pipeline": "t.py:f"}, "automate.triggers"),
        ({"pipeline": "t.py:f", "models": {"a": {}}}, "models.a.triggers"),
        ({"triggers": [SCHEDULE], "models": {"a": {"pipeline": "t.py:f"}, "b": {}}}, "b.pipeline"),
    ],
)
def test_an_automated_model_without_a_pipeline_or_triggers_is_refused_at_open(
    automate: dict[str, Any], refused: str
) -> None:
    """prefect#18420's kind: what a tick needs is known when the workspace opens, not when a
    trigger fires (and a failed job would have consumed it). Inherited values count."""
    from rung.config import validate

    with pytest.raises(InvalidInput, match=re.escape(refused)):
        validate({"automate": {"label": "y", **automate}})
    inherited = {"label": "y", "pipeline": "t.py:f", "triggers": [SCHEDULE], **automate}
    validate({"automate": inherited})  # everything inherited from [automate]: fine


def test_a_missing_pipeline_file_is_named_by_status(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "w"
    assert rung_cli("init", str(root), cwd=tmp_path).returncode == 0
    with (root / "rung.toml").open("a") as toml:
        toml.write(
            '\n[automate.models.m]\npipeline = "nofile.py:train"\nlabel = "y"\n'
            '[[automate.models.m.triggers]]\nkind = "schedule"\ncron = "* * * * *"\n'
        )
    for command in (["status"], ["tick"]):
        shown = rung_cli("automate", *command, cwd=root)
        assert shown.returncode == 1, shown.stdout
        assert shown.stderr.startswith("error: model 'm': no pipeline file 'nofile.py'"), (
            shown.stderr
        )
