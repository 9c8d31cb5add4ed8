"""What a service can check, it checks; what it cannot, it says so, in a 4xx.

A version's signature records each feature's kind from the frame its training step received
(lineage). A model whose step built its frame itself records names but no kinds (the gap
mlflow/mlflow#25593 reports as a silently dropped signature): registration warns, the
service still refuses non-scalar values, and a model refusing unchecked input is a 422, not a
500. And the OpenAPI document's example is a record ``/predict`` accepts, for every kind.
"""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
from hypothesis import given, settings

from conftest import rung_cli, start_server
from rung.core.columns import kinds_of
from rung.serving.openapi import example_record
from rung.serving.payload import validate
from strategies import awkward_frames

SELF_MADE = """
from rung import pipeline, step


@step
def fit():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    df = pd.DataFrame({"n": [1, 2, 3, 4, 5, 6], "y": ["a", "a", "a", "b", "b", "b"]})
    return LogisticRegression().fit(df[["n"]], df["y"])


@pipeline
def train():
    return fit()
"""


def test_a_version_without_kinds_warns_and_is_still_guarded(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "m.py").write_text(SELF_MADE)
    run = ws.run("m.py:train")
    reg = rung_cli("model", "register", str(run.id), "--name", "m", cwd=ws.root)
    assert reg.returncode == 0, reg.stderr
    assert "warning: m@1 records no column kinds for 1 of its 1 feature(s) (n)" in " ".join(
        reg.stderr.split()
    )
    ws.models.promote("m", 1, force=True, reason="test")
    proc, url = start_server(ws.root, "m@champion")
    try:
        ok = httpx.post(f"{url}/predict", json={"n": 2})
        assert ok.status_code == 200 and ok.json()["predictions"] == ["a"]
        for bad, says in (
            ({"n": {"x": 1}}, "expected a single value, got an object"),
            ({"n": [1, 2]}, "expected a single value, got a list"),
            ({"n": "abc"}, "the model refused the input"),
            ({"n": None}, "the model refused the input"),
        ):
            got = httpx.post(f"{url}/predict", json=bad)
            assert got.status_code == 422, (bad, got.text)
            assert says in got.json()["error"]["message"], got.text
        spec = httpx.get(f"{url}/openapi.json").json()
        body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        assert httpx.post(f"{url}/predict", json=body["example"]).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@settings(max_examples=150, deadline=None)
@given(awkward_frames(duplicates=False))
def test_the_openapi_example_is_accepted_for_every_kind(frame: pd.DataFrame) -> None:
    """An integer feature once had the example null, which /predict refused (int32, uint8,
    Int64 alike); every kind's example must pass the service's own check."""
    features = [str(c) for c in frame.columns]
    frame.columns = features
    signature: dict[str, Any] = {
        "features": features,
        "columns": {n: k.to_dict() for n, k in kinds_of(frame, "the frame").items()},
    }
    example = example_record(signature)
    assert list(validate({"records": [example]}, signature).columns) == features
