"""A reference spelled in digits may be a run id or the start of an artifact hash.

CI failed once on ``rung eval 057825700707``: a 12-digit hash prefix that happened to be all
decimal digits (about one hash in 300; one in 17 for a 6-digit prefix) was read as run
57825700707, which did not exist. Every door that takes "a run id or a hash" (eval's model,
lineage) goes through one rule, ``Runs.resolve`` (``ws.runs.resolve``): digits name a run
when that run exists, an artifact when a hash starts with them, and are refused as ambiguous
when both are true; ``#N`` is always run N."""

from __future__ import annotations

import pickle
from typing import Any

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from rung.core.errors import InvalidInput, NotFound
from rung.core.hashing import hash_bytes
from rung.registry.models import resolve_artifact
from test_safe_loading import _store


def _digit_hash(ws: Any, kind: str, digits: int) -> str:
    """Store distinct objects until one's hash starts with ``digits`` decimal digits."""
    for i in range(20_000):
        model = DummyClassifier(strategy="constant", constant=i).fit([[0.0]], [i])
        data = pickle.dumps(model)
        digest = hash_bytes(data)
        if digest[:digits].isdigit():
            return _store(ws, kind, data)
    raise AssertionError("no digit-led hash in 20,000 tries")


@pytest.mark.parametrize("digits", [6, 7, 9])
def test_digit_prefix_resolves_to_the_artifact(ws, digits: int) -> None:  # type: ignore[no-untyped-def]
    digest = _digit_hash(ws, "pickle", digits)
    for n in range(6, digits + 1):
        prefix = digest[:n]
        what, row = ws.runs.resolve(prefix)
        assert (what, row["hash"]) == ("artifact", digest)
        assert resolve_artifact(ws._stores(), prefix).hash == digest
        assert ws.runs.lineage(prefix)["hash"] == digest


def test_a_run_and_a_prefix_spelled_alike_are_ambiguous(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    digest = _digit_hash(ws, "pickle", 6)
    with ws.start_run("t") as run:
        pass
    run_id = run.id
    assert ws.runs.resolve(f"#{run_id}") == ("run", run_id)
    assert ws.runs.resolve(str(run_id)) == ("run", run_id)
    # both at once: a run whose id is spelled as the prefix (a workspace past 100,000 runs)
    with ws.store.write() as tx:
        tx.execute(f"UPDATE runs SET id = {int(digest[:6])} WHERE id = {run_id}")
    with pytest.raises(InvalidInput, match=rf"both run {int(digest[:6])}.*write #"):
        ws.runs.resolve(digest[:6])
    assert ws.runs.resolve(f"#{int(digest[:6])}")[0] == "run"
    assert ws.runs.resolve(digest[:7])[0] == "artifact"


def test_unknown_digits_name_the_known_runs(ws) -> None:  # type: ignore[no-untyped-def]
    ws.data.add(pd.DataFrame({"a": [1.0]}), name="d")
    with pytest.raises(NotFound, match="unknown run 98765432"):
        resolve_artifact(ws._stores(), "98765432")
    with pytest.raises(NotFound, match="unknown run"):
        ws.runs.lineage("98765432")
