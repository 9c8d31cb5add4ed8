"""Models fitted on numpy arrays: rung cannot prove the order of an array's columns, so the
columns of the training step's input frame are never taken as the model's input order. Such
a version is registered with unknown names and a warning, every rung refuses it in one line,
and `--features` states the order, which is then used everywhere."""

from __future__ import annotations

import json
import textwrap
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.core.errors import InvalidInput

COLUMNS = ["mean_radius", "mean_texture", "worst_area"]

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    @rung.step
    def fit(df, order: str):
        X = df[order.split(",")].to_numpy()  # an array: the model knows no names
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, df["target"])

    @rung.pipeline
    def train(order: str = "worst_area,mean_texture,mean_radius"):
        return fit(rung.dataset("cancer"), order)
    """
)


def _frame(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """Three features on different scales; the label depends on them unequally, so a model
    fed its columns in another order scores visibly worse."""
    r = np.random.default_rng(seed)
    radius = r.normal(14, 3, n)
    texture = r.normal(19, 4, n)
    area = r.normal(800, 300, n)
    score = 2.5 * (area - 800) / 300 + 0.3 * (texture - 19) / 4 - 0.5 * (radius - 14) / 3
    target = np.where(score + r.normal(0, 0.4, n) > 0, "malignant", "benign")
    return pd.DataFrame(
        {"mean_radius": radius, "mean_texture": texture, "worst_area": area, "target": target}
    )


@pytest.fixture
def cancer_ws(sqlite_ws, tmp_path: Path):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "arr.py").write_text(TRAIN)
    _frame().to_csv(tmp_path / "cancer.csv", index=False)
    ws.data.add(str(tmp_path / "cancer.csv"), name="cancer")
    return ws


def _true_accuracy(ws, ref: str, order: list[str]) -> float:  # type: ignore[no-untyped-def]
    """The model's accuracy fed its columns in the order it was fitted on (the oracle)."""
    _, model = ws.models.load(ref)
    frame = ws.data.get("cancer@1").load()
    return float(np.mean(model.predict(frame[order].to_numpy()) == frame["target"].to_numpy()))


def test_the_reordered_array_case_never_scores_silently_wrong(cancer_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = cancer_ws
    fitted = ["worst_area", "mean_texture", "mean_radius"]
    run = ws.run("arr.py:train").id
    out = rung_cli("model", "register", str(run), "--name", "cancer", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert "signature of 0 feature(s)" in out.stdout
    warning = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert "fitted without column names on 3 column(s)" in warning[0]
    assert "--features" in warning[0] and "DataFrame" in warning[0]
    sig = ws.models.get("cancer@1").signature
    assert sig["features"] == [] and sig["names"] is None
    assert sig["lineage_columns"] == [*COLUMNS, "target"]  # information only
    # eval (registered or the run itself), serve and predict refuse in one line
    for target in ("cancer@1", str(run)):
        ev = rung_cli("eval", target, "--on", "cancer@1", "--label", "target", cwd=ws.root)
        assert ev.returncode != 0 and "Traceback" not in ev.stderr
        errors = [line for line in ev.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "cannot know their order" in errors[0], ev.stderr
    served = rung_cli("serve", "cancer@1", "--port", "1", cwd=ws.root)
    assert served.returncode != 0 and "cannot know their order" in served.stderr
    ws.data.get("cancer@1").load().to_csv(tmp_path / "in.csv", index=False)
    scored = rung_cli(
        "predict", "cancer@1", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"),
        cwd=ws.root,
    )  # fmt: skip
    assert scored.returncode != 0 and "cannot know their order" in scored.stderr
    # the order stated at registration is recorded and used: the true accuracy, not 0.6
    out = rung_cli(
        "model", "register", str(run), "--name", "stated", "--features", ",".join(fitted),
        cwd=ws.root,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr and "signature of 3 feature(s)" in out.stdout
    sig = ws.models.get("stated@1").signature
    assert sig["features"] == fitted and sig["names"] == "user"
    assert set(sig["columns"]) == set(fitted)
    truth = _true_accuracy(ws, "stated@1", fitted)
    assert truth > 0.85
    ev = rung_cli(
        "eval", "stated@1", "--on", "cancer@1", "--label", "target", "--format", "json",
        cwd=ws.root,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["rows"]["cancer@1"]["accuracy"] == pytest.approx(truth)
    scored = rung_cli(
        "predict", "stated@1", "-i", str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv"),
        cwd=ws.root,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    out_frame = pd.read_csv(tmp_path / "o.csv")
    pred_col = next(c for c in out_frame.columns if c not in [*COLUMNS, "target"] and "id" not in c)
    got = float(np.mean(out_frame[pred_col].astype(str) == out_frame["target"]))
    assert got == pytest.approx(truth)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ("a,b", "names 2 column(s); the model was fitted on 3"),
        ("worst_area,worst_area,mean_radius", "repeats"),
        ("worst_area,,mean_radius", "empty column"),
    ],
)
def test_a_stated_order_that_cannot_be_right_is_refused(cancer_ws, features, message) -> None:  # type: ignore[no-untyped-def]
    ws = cancer_ws
    run = ws.run("arr.py:train").id
    out = rung_cli(
        "model", "register", str(run), "--name", "bad", "--features", features, cwd=ws.root
    )
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr
    assert ws.models.list() == []  # nothing stored on a refusal


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fitted=st.permutations(COLUMNS),
    shown=st.permutations([*COLUMNS, "target"]),
)
def test_any_fitted_order_is_refused_unstated_and_right_when_stated(
    cancer_ws, fitted: list[str], shown: list[str]
) -> None:  # type: ignore[no-untyped-def]
    """Whatever order the step fitted on, and whatever order the evaluation data has, the
    version is refused until the order is stated, then scores what the model really scores."""
    ws = cancer_ws
    order = ",".join(fitted)
    run = ws.run("arr.py:train", {"order": order}).id
    tag = "-".join(c[:6] for c in fitted).replace("_", "")
    blind = ws.models.register(str(run), f"blind-{tag}")
    assert blind.signature is not None and blind.signature["features"] == []
    name = f"data-{tag}-{'-'.join(c[:4] for c in shown).replace('_', '')}"
    if name not in {d.name for d in ws.data.list()}:
        ws.data.add(ws.data.get("cancer@1").load()[shown], name=name)
    with pytest.raises(InvalidInput, match="cannot know their order"):
        ws.evaluate(blind.ref, [f"{name}@1"], label="target")
    with pytest.raises(InvalidInput, match="cannot know their order"):
        ws.evaluate(str(run), [f"{name}@1"], label="target")
    stated = ws.models.register(str(run), f"stated-{tag}", features=fitted)
    ev = ws.evaluate(stated.ref, [f"{name}@1"], label="target")
    assert ev.rows[f"{name}@1"]["accuracy"] == pytest.approx(_true_accuracy(ws, stated.ref, fitted))


def test_every_permutation_is_a_distinct_fit() -> None:
    """The family above is not vacuous: feeding the columns in any other order than the
    fitted one scores worse, so a silent mix-up would be caught."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = _frame()
    for fitted in permutations(COLUMNS):
        model = make_pipeline(StandardScaler(), LogisticRegression())
        model.fit(frame[list(fitted)].to_numpy(), frame["target"])
        right = np.mean(model.predict(frame[list(fitted)].to_numpy()) == frame["target"])
        for other in permutations(COLUMNS):
            if other != fitted:
                wrong = np.mean(model.predict(frame[list(other)].to_numpy()) == frame["target"])
                assert wrong < right - 0.1
