"""Pipelines through the library: cache, resume, outputs by type, runs, lineage, reproduce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rung
from rung import pipeline, step
from rung.core.errors import InvalidInput, StepFailed, UnsupportedType

CALLS: dict[str, int] = {}


def count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@step
def make(n: int = 5, noise: int = 0):
    count("make")
    return pd.DataFrame({"x": np.arange(n, dtype="float64")})


@step
def rounded(frame: pd.DataFrame, noise: int = 0):
    """Returns the same bytes whatever the noise (used to test early cut-off)."""
    count("rounded")
    return frame.assign(y=frame["x"] * 2)


@step
def total(frame: pd.DataFrame):
    count("total")
    value = float(frame["y"].sum())
    rung.log_metric("total", value)
    return {"total": value}


@pipeline
def three(n: int = 5, noise: int = 0):
    return total(rounded(make(n), noise=noise))


def test_second_run_executes_nothing(ws) -> None:  # type: ignore[no-untyped-def]
    first = ws.run(three)
    assert (first.executed, first.cached) == (3, 0)
    second = ws.run(three)
    assert (second.executed, second.cached) == (0, 3)
    assert CALLS == {"make": 1, "rounded": 1, "total": 1}
    assert ws.runs.get(second.id)["metrics"] == {"total": 20.0}  # metrics of cached steps show
    assert second.outputs == first.outputs


def test_a_parameter_change_reruns_only_what_depends_on_it(ws) -> None:  # type: ignore[no-untyped-def]
    ws.run(three)
    CALLS.clear()
    result = ws.run(three, {"noise": 1})
    # rounded re-executes (its parameter changed) but returns identical bytes: total stays cached
    assert CALLS == {"rounded": 1}
    assert [s.outcome for s in result.steps] == ["cached", "executed", "cached"]
    CALLS.clear()
    ws.run(three, {"n": 6})
    assert CALLS == {"make": 1, "rounded": 1, "total": 1}


FAIL = {"on": True}


@step
def fragile(frame: pd.DataFrame):
    count("fragile")
    if FAIL["on"]:
        raise ValueError("bad luck")
    return frame


@pipeline
def breaks():
    return total(rounded(fragile(make())))


def test_a_failed_step_is_recorded_and_the_next_run_resumes(ws) -> None:  # type: ignore[no-untyped-def]
    FAIL["on"] = True
    with pytest.raises(StepFailed, match="step 'fragile' failed with ValueError: bad luck"):
        ws.run(breaks)
    failed = ws.runs.list()[0]
    detail = ws.runs.get(failed.id)
    assert detail["status"] == "failed"
    step_rec = next(s for s in detail["steps"] if s["name"] == "fragile")
    assert step_rec["status"] == "failed" and "ValueError: bad luck" in step_rec["traceback"]
    FAIL["on"] = False
    CALLS.clear()
    result = ws.run(breaks)
    assert CALLS == {"fragile": 1, "rounded": 1, "total": 1}  # make came from the cache
    assert result.steps[0].outcome == "cached"


class Opaque:
    pass


@step
def returns_opaque():
    return Opaque()


@step(pickle=True)
def returns_opaque_opted_in():
    return {"not": "json"}, Opaque()


@pipeline
def opaque():
    return returns_opaque()


def test_a_type_rung_cannot_store_fails_clearly(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedType, match=r"returned a .*Opaque.*pickle=True"):
        ws.run(opaque)


@step(outputs=("arr", "model"))
def arrays_and_models():
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    return X, LogisticRegression().fit(X, [0, 0, 1, 1])


@step
def use_model(arr: np.ndarray, model):
    return model.predict(arr).tolist()


@pipeline
def typed():
    arr, model = arrays_and_models()
    return use_model(arr, model)


def test_numpy_arrays_and_sklearn_models_are_stored_safely_and_deterministically(ws) -> None:  # type: ignore[no-untyped-def]
    first = ws.run(typed)
    detail = ws.runs.get(first.id)
    kinds = {o["name"]: o["kind"] for s in detail["steps"] for o in s["outputs"]}
    assert kinds == {"arr": "npy", "model": "skops", "output": "json"}
    report = ws.runs.reproduce(first.id)
    assert report["reproduced"], report  # skops bytes are deterministic


def test_parameters_are_checked_and_coerced(ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=r"has no parameter 'windw'.*n, noise"):
        ws.run(three, {"windw": 3})
    with pytest.raises(InvalidInput, match="should be a int"):
        ws.run(three, {"n": "five"})
    result = ws.run(three, {"n": 4})
    assert ws.runs.get(result.id)["params"] == {"n": 4, "noise": 0}


def test_runs_record_code_environment_and_timing(ws) -> None:  # type: ignore[no-untyped-def]
    result = ws.run(three)
    detail = ws.runs.get(result.id)
    assert detail["code"]["hash"] and len(detail["code"]["hash"]) == 64
    assert detail["environment"]["python"].startswith("3.")
    assert "pandas" in detail["environment"]["packages"]
    assert detail["trigger"] == "manual"
    assert detail["ended_at"] >= detail["started_at"]
    assert detail["target"].endswith("test_pipelines.py:three")


def test_lineage_goes_back_to_datasets_and_forward_from_them(ws) -> None:  # type: ignore[no-untyped-def]
    ws.data.add(pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}), name="src")

    @pipeline
    def from_data():
        return total(rung.dataset("src"))

    result = ws.run(from_data)
    back = ws.runs.lineage(str(result.id))
    (out,) = back["children"]
    assert out["step"]["name"] == "total"
    assert out["children"][0]["dataset"] == "src@1"
    forward = ws.runs.lineage("src@1")
    assert forward["children"][0]["label"].startswith("step total")
    by_hash = ws.runs.lineage(out["hash"][:10])
    assert by_hash["step"]["name"] == "total"


def test_tracking_runs_log_metrics_and_params(ws) -> None:  # type: ignore[no-untyped-def]
    with ws.start_run("exp", params={"lr": 0.1}) as run:
        for i in range(5):
            rung.log_metric("loss", 1.0 / (i + 1))
        rung.log_params({"batch": 32})
        run.log_metric("acc", 0.9)
    detail = ws.runs.get(run.id)
    assert detail["params"] == {"lr": 0.1, "batch": 32}
    assert detail["metric_counts"] == {"loss": 5, "acc": 1}
    assert ws.runs.metric_history(run.id, "loss")[-1] == (4, 0.2)
    with pytest.raises(InvalidInput, match="no active run"):
        rung.log_metric("x", 1)
    with pytest.raises(ValueError), ws.start_run("broken"):
        raise ValueError("boom")
    assert ws.runs.list()[0].status == "failed"


def test_a_corrupted_cached_output_is_reported_with_its_producer(ws) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from rung.core.errors import IntegrityError

    result = ws.run(three)
    detail = ws.runs.get(result.id)
    made = next(s for s in detail["steps"] if s["name"] == "make")["outputs"][0]["hash"]
    Path(ws.artifacts.path(made)).write_bytes(b"garbage")
    with pytest.raises(
        IntegrityError, match=rf"output 'output' of step 'make' in run {result.id}.*corrupted"
    ):
        ws.run(three, {"noise": 5})  # rounded must load make's output


PROJECT_PIPE = """
import rung
from helpers import scale

@rung.step
def make():
    return [1.0, 2.0, 3.0]

@rung.step
def scaled(values):
    return [scale(v) for v in values]

@rung.pipeline
def pipe():
    return scaled(make())
"""
HELPERS = """
def scale(v):
    return v * 2

def unrelated(v):
    return v + 1
"""


def test_editing_a_project_helper_reruns_the_step_that_calls_it(ws) -> None:  # type: ignore[no-untyped-def]
    import sys

    (ws.root / "pipe.py").write_text(PROJECT_PIPE)
    (ws.root / "helpers.py").write_text(HELPERS)

    def run_fresh():  # type: ignore[no-untyped-def]
        for name in [m for m in sys.modules if m == "helpers" or m.startswith("rung_pipeline_")]:
            del sys.modules[name]  # as a new `rung run` process would import them
        return ws.run("pipe.py:pipe")

    try:
        assert run_fresh().executed == 2
        assert run_fresh().executed == 0
        (ws.root / "helpers.py").write_text(HELPERS.replace("v + 1", "v + 100"))
        assert run_fresh().executed == 0  # an unrelated function changed
        (ws.root / "helpers.py").write_text(HELPERS.replace("v * 2", "v * 3"))
        result = run_fresh()
        assert [s.outcome for s in result.steps] == ["cached", "executed"]
        assert ws.runs.get(result.id)["steps"][1]["code"] == ["scaled", "scale"]
    finally:
        sys.path[:] = [p for p in sys.path if p != str(ws.root)]
        sys.modules.pop("helpers", None)


def test_forward_lineage_keeps_every_branch(ws) -> None:  # type: ignore[no-untyped-def]
    ws.data.add(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), name="base")

    @pipeline
    def branches(k: int = 2):  # type: ignore[no-untyped-def]
        return scale_by(rung.dataset("base"), k=k)

    ws.run(branches)
    ws.run(branches, {"k": 3})
    tree = ws.runs.lineage("base@1")
    steps = [c for c in tree["children"] if c["label"].startswith("step scale_by")]
    assert len(steps) == 2  # one branch per distinct output
    assert sorted(s["runs"][0] for s in steps) == sorted(r.id for r in ws.runs.list())


@step
def scale_by(frame: pd.DataFrame, k: int = 2):  # type: ignore[no-untyped-def]
    return frame * k
