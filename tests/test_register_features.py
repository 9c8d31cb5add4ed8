"""``--features`` is recorded exactly as given and checked, and a version never silently drops
what a registration states (issue 10, new-user report items 14 and 15).

* Names are split on commas only and kept as written (``"héllo wörld "`` was stripped to
  ``'héllo wörld'``); when the lineage knows the training step's input frame, every name must
  be one of its columns (``nosuch`` was accepted), and the count must equal
  ``n_features_in_``.
* Registering the same bytes again under the same name returns the version that holds them,
  but refuses when the registration states feature names or an opt-in that the version
  does not record (``--features`` was silently ignored: the version could never be fixed)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.core.errors import InvalidInput

PIPELINE = """
import rung
from sklearn.neighbors import KNeighborsClassifier

COLUMNS = {columns!r}

@rung.step
def fit(frame):
    return KNeighborsClassifier(1).fit(frame[COLUMNS].to_numpy(), frame["y"])

@rung.pipeline
def train():
    return fit(rung.dataset("d"))
"""

# column names a person may really have: spaces inside and around, accents, dots, digits
NAMES = ["x", "const", "big", "héllo wörld ", " lead", "a.b", "1st", "Größe", "名前"]


@pytest.fixture
def array_model(ws):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame({n: [float(i + j) for j in range(6)] for i, n in enumerate(NAMES)})
    frame["y"] = ["a", "b"] * 3
    ws.data.add(frame, name="d")
    (ws.root / "p.py").write_text(PIPELINE.format(columns=NAMES))
    run = ws.run("p.py:train").id
    return ws, str(run)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(NAMES), st.data())
def test_stated_names_are_kept_exactly_and_checked(
    array_model: Any, order: list[str], data: st.DataObject
) -> None:
    ws, run = array_model
    name = f"m{abs(hash(tuple(order))) % 10**9}"
    wrong = data.draw(
        st.sampled_from(
            [
                [n.strip() if n != n.strip() else n + " " for n in order],  # spaces differ
                [*order[:-1], "nosuch"],
                [n.upper() for n in order],
            ]
        )
    )
    if wrong != order:
        with pytest.raises(InvalidInput, match="not a column of the training step's input"):
            ws.models.register(run, name, features=wrong)
    v = ws.models.register(run, name, features=order)
    assert v.signature["features"] == order and v.signature["names"] == "user"
    with pytest.raises(InvalidInput, match="fitted on 9"):
        ws.models.register(run, name + "x", features=order[:-1])


def test_the_cli_splits_on_commas_only(array_model: Any) -> None:
    ws, run = array_model
    stated = ",".join(NAMES)
    out = rung_cli("model", "register", run, "--name", "knn", "--features", stated, cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert ws.models.get("knn@1").signature["features"] == NAMES
    out = rung_cli(
        "model", "register", run, "--name", "knn2", "--features", stated.replace(",c", ", c"),
        cwd=ws.root,
    )  # fmt: skip
    assert out.returncode == 1 and "' const'" in out.stderr and "did you mean 'const'" in out.stderr


@pytest.mark.parametrize(
    ("first", "second", "refused"),
    [
        ({}, {"features": NAMES}, "with no feature names"),
        ({"features": NAMES}, {"features": NAMES[::-1]}, "with feature names"),
        ({}, {"allow_pickle": True}, "registered without --allow-pickle"),
        ({"features": NAMES}, {}, None),  # stating less: the version as it is
        ({"features": NAMES}, {"features": NAMES}, None),
        ({"allow_pickle": True}, {}, None),
    ],
)
def test_the_same_bytes_again_never_drop_what_is_stated(
    array_model: Any, first: dict[str, Any], second: dict[str, Any], refused: str | None
) -> None:
    ws, run = array_model
    v = ws.models.register(run, "knn", **first)
    before = len(ws.models.list())
    if refused is None:
        assert ws.models.register(run, "knn", **second).version == v.version
        return
    with pytest.raises(InvalidInput, match=rf"knn@1 already holds these bytes,? {refused}"):
        ws.models.register(run, "knn", **second)
    assert len(ws.models.list()) == before
    # the fix named: another name records it
    other = ws.models.register(run, "knn-named", **second)
    assert other.version == 1


def test_the_reported_example_at_the_cli(array_model: Any) -> None:
    ws, run = array_model
    assert rung_cli("model", "register", run, "--name", "knn", cwd=ws.root).returncode == 0
    out = rung_cli(
        "model", "register", run, "--name", "knn", "--features", ",".join(NAMES), cwd=ws.root
    )
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith("error: knn@1 already holds these bytes with no feature names")
    assert len(out.stderr.strip().splitlines()) == 1
