"""Evaluating models on many dataset versions at once, through the library and the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import rung_cli
from rung.core.errors import InvalidInput, NotFound, RungError

TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LogisticRegression

    @rung.step
    def fit(frame, C: float = 1.0):
        return LogisticRegression(C=C).fit(frame[["a", "b"]], frame["y"])

    @rung.pipeline
    def train(C: float = 1.0):
        return fit(rung.dataset("train"), C=C)
    """
)


def make(n: int, shift: float, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a = r.normal(shift, 1, n)
    b = r.normal(0, 1, n)
    y = np.where(a + 0.5 * b + r.normal(0, 1, n) > shift, "up", "down")
    return pd.DataFrame({"a": a, "b": b, "y": y, "year": r.integers(2000, 2004, n)})


@pytest.fixture
def trained(sqlite_ws):  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    (ws.root / "train.py").write_text(TRAIN)
    ws.data.add(make(1000, 0, 1), name="train")
    for i, (n, shift) in enumerate([(100, 0.0), (200, 0.5), (300, 1.0)]):
        ws.data.add(make(n, shift, 10 + i), name=f"set{i}")
    strong = ws.run("train.py:train").id
    weak = ws.run("train.py:train", {"C": 0.0001}).id
    return ws, strong, weak


SETS = ["set0@1", "set1@1", "set2@1"]


def test_table_2_with_aggregates_and_verdict(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained
    ev = ws.evaluate(str(strong), SETS, label="y", criteria=["accuracy >= 0.6 on every dataset"])
    names = [name for name, _ in ev.table()]
    assert names == [*SETS, "Total", "Mean", "Std"]
    assert [ev.rows[s]["examples"] for s in SETS] == [100, 200, 300]
    accs = [ev.rows[s]["accuracy"] for s in SETS]
    assert ev.aggregates["Mean"]["accuracy"] == pytest.approx(np.mean(accs))
    assert ev.aggregates["Std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1))
    assert ev.aggregates["Total"]["examples"] == 600
    assert ev.aggregates["Mean"]["top_error"] == "-"
    for key in ("precision_down", "recall_up", "f1_macro", "f1_weighted", "roc_auc", "log_loss"):
        assert key in ev.columns
    assert ev.details["set0@1"]["confusion"]["labels"] == ["down", "up"]
    assert ev.status == "passed"
    again = ws.evals.get(ev.id)
    assert again.table() == ev.table() and again.verdict == ev.verdict
    assert ws.evals.list()[0]["datasets"] == SETS


def test_no_criteria_no_verdict_and_missing_metric_fails(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained
    assert ws.evaluate(str(strong), SETS[:1], label="y", criteria=[]).status is None
    ev = ws.evaluate(str(strong), SETS[:1], label="y", criteria=["mae <= 1"])
    assert ev.status == "failed" and "metric 'mae' is missing" in ev.verdict["reasons"][0]


def test_baseline_deltas_and_change_thresholds(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, weak = trained
    first = ws.evaluate(str(weak), SETS, label="y", criteria=["accuracy drop <= 0.01 vs champion"])
    assert "judged on absolute bounds alone" in first.verdict["notes"][0]
    ev = ws.evaluate(
        str(weak),
        SETS,
        label="y",
        baseline=str(strong),
        criteria=["accuracy drop <= 0.01 vs champion on every dataset"],
    )
    deltas = ev.details["set0@1"]["deltas"]
    d = deltas["log_loss"]
    assert d["low"] <= d["delta"] <= d["high"]
    assert d["reading"] == "worse"  # a heavily regularised model is less confident
    assert {x["reading"] for x in deltas.values()} <= {
        "better",
        "worse",
        "no significant difference",
    }


def test_slices_and_worst_slices(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained
    ev = ws.evaluate(
        str(strong),
        SETS,
        label="y",
        slices=["year"],
        criteria=["accuracy >= 0.5 on every slice year"],
    )
    years = ev.details["set1@1"]["slices"]["year"]
    assert set(years) == {"2000", "2001", "2002", "2003"}
    assert sum(v["examples"] for v in years.values()) == 200
    worst = ev.worst_slices(limit=3)
    assert [w["value"] for w in worst] == sorted(w["value"] for w in worst)
    assert len([c for c in ev.verdict["checks"]]) == 12


def test_user_metrics_and_non_numeric_ones(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained

    ev = ws.evaluate(
        str(strong),
        SETS,
        label="y",
        metrics=["accuracy", "top_error", "share_up"],
        custom_metrics={"share_up": _share_up},
    )
    assert ev.columns == ["examples", "labelled", "accuracy", "top_error", "share_up"]
    assert 0 <= ev.rows["set0@1"]["share_up"] <= 1
    with pytest.raises(InvalidInput, match=r"unknown metric 'acuracy'.*accuracy"):
        ws.evaluate(str(strong), SETS, label="y", metrics=["acuracy"])


def _share_up(y, pred, proba, classes):  # type: ignore[no-untyped-def]
    return float(np.mean(pred == "up"))


def test_bad_input_names_the_dataset_and_the_fix(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained
    with pytest.raises(
        InvalidInput, match=r"dataset set0@1 has no label column 'label'.*a, b, y, year"
    ):
        ws.evaluate(str(strong), ["set0@1"], label="label")
    ws.data.add(make(20, 0, 3).assign(y=lambda f: (f["y"] == "up").astype(int)), name="ints")
    with pytest.raises(
        InvalidInput, match=r"label column 'y' of dataset ints@1 holds \['0', '1'\].*classes"
    ):
        ws.evaluate(str(strong), ["ints@1"], label="y")
    ws.data.add(make(5, 0, 3).iloc[0:0], name="empty")
    with pytest.raises(InvalidInput, match="dataset empty@1 is empty"):
        ws.evaluate(str(strong), ["empty@1"], label="y")
    ws.data.add(make(30, 0, 3).assign(a="oops"), name="broken")
    with pytest.raises(RungError, match=r"model raised ValueError.*dataset broken@1, rows 0 to 29"):
        ws.evaluate(str(strong), ["broken@1"], label="y")
    with pytest.raises(NotFound, match="no model 'zzz'"):
        ws.evaluate("zzz", SETS, label="y")
    with pytest.raises(InvalidInput, match="malformed criterion 'accuracy >= high'"):
        ws.evaluate(str(strong), SETS, label="y", criteria=["accuracy >= high"])


def test_reports_markdown_and_offline_html(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rung.evaluation import report

    ws, strong, weak = trained
    ev = ws.evaluate(
        str(weak),
        SETS,
        label="y",
        baseline=str(strong),
        slices=["year"],
        criteria=["precision_down >= 0.75 on every dataset"],
    )
    md = report.to_markdown(ev)
    assert "| dataset | examples | labelled | precision_down |" in md and "| **Std** |" in md
    page = report.to_html(ev)
    import re

    assert page.count("<svg") >= 3
    assert "<script" not in page and "<link" not in page  # nothing to fetch: works offline
    assert not re.search(r"""(src|href)\s*=\s*["']https?:""", page)
    assert "Confusion matrices" in page and "Calibration" in page


def test_cli_eval_gates_on_the_verdict(trained) -> None:  # type: ignore[no-untyped-def]
    ws, strong, _ = trained
    ok = rung_cli(
        "eval",
        str(strong),
        "--on",
        "set0@1",
        "--on",
        "set1@1",
        "--label",
        "y",
        "--criterion",
        "accuracy >= 0.5",
        cwd=ws.root,
    )
    assert ok.returncode == 0, ok.stderr
    assert "verdict: PASSED" in ok.stdout and "Std" in ok.stdout
    bad = rung_cli(
        "eval",
        str(strong),
        "--on",
        "set0@1",
        "--label",
        "y",
        "--criterion",
        "accuracy >= 0.99",
        "--format",
        "json",
        cwd=ws.root,
    )
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["verdict"]["status"] == "failed"
    shown = rung_cli("eval", "show", "2", "--format", "markdown", cwd=ws.root)
    assert shown.returncode == 0 and "**verdict: FAILED**" in shown.stdout  # re-rendering
    listed = json.loads(rung_cli("evals", "--json", cwd=ws.root).stdout)
    assert [e["verdict"] for e in listed] == ["failed", "passed"]
    malformed = rung_cli(
        "eval",
        str(strong),
        "--on",
        "set0@1",
        "--label",
        "y",
        "--criterion",
        "precision >= high",
        cwd=ws.root,
    )
    assert malformed.returncode == 1
    assert malformed.stderr.strip().startswith("error: malformed criterion 'precision >= high'")


APP_TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LogisticRegression

    @rung.step(outputs=("language", "intent"))
    def fit_both(frame):
        lang = LogisticRegression().fit(frame[["a", "b"]], frame["lang"])
        intent = LogisticRegression().fit(frame[["b"]], frame["intent"])
        return lang, intent

    @rung.pipeline
    def train():
        return fit_both(rung.dataset("chat"))
    """
)


def chat(n: int, seed: int) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    a, b = r.normal(0, 1, n), r.normal(0, 1, n)
    lang = np.where(a + r.normal(0, 0.3, n) > 0, "pt", "en")
    intent = np.where(b + r.normal(0, 0.3, n) > 0, "buy", "sell")
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "lang": lang,
            "intent": intent,
            "response": [f"{i}-{g}" for i, g in zip(intent, lang, strict=True)],
        }
    )


def entities(frame):  # type: ignore[no-untyped-def]
    return np.where(frame["a"].abs() > 1, "big", "small")


def respond(frame):  # type: ignore[no-untyped-def]
    return (frame["intent"] + "-" + frame["language"]).to_numpy()


def test_an_application_of_four_components_is_evaluated_end_to_end(sqlite_ws) -> None:  # type: ignore[no-untyped-def]
    import rung

    ws = sqlite_ws
    (ws.root / "chat_train.py").write_text(APP_TRAIN)
    ws.data.add(chat(800, 1), name="chat")
    ws.data.add(chat(150, 2), name="clientA")
    ws.data.add(chat(250, 3).drop(columns=["intent"]), name="clientB")  # no intent labels here
    run_id = ws.run("chat_train.py:train").id
    app = rung.Application(
        "assistant",
        [
            rung.Component("language", f"{run_id}:fit_both.language", label="lang"),
            rung.Component("intent", f"{run_id}:fit_both.intent", label="intent"),
            rung.Component("entities", entities),
            rung.Component("response", respond),
        ],
    )
    ev = ws.evaluate(
        app,
        ["clientA@1", "clientB@1"],
        label="response",
        criteria=["accuracy >= 0.5 on every dataset"],
    )
    assert ev.model == "assistant" and ev.status == "passed"
    a, b = ev.rows["clientA@1"], ev.rows["clientB@1"]
    assert 0.5 < a["accuracy"] <= 1 and 0.5 < b["accuracy"] <= 1
    assert a["language.accuracy"] > 0.8 and a["intent.accuracy"] > 0.8
    assert "intent.accuracy" not in b  # no labels for that component on clientB
    assert ev.aggregates["Mean"]["intent.accuracy"] == "-"  # missing on one dataset
    assert "precision_buy-pt" in ev.columns  # the application's own classes
    with pytest.raises(InvalidInput, match="baseline is compared with a single model"):
        ws.evaluate(app, ["clientA@1"], label="response", baseline=str(run_id))


def test_metric_names_as_the_table_shows_them(trained) -> None:  # type: ignore[no-untyped-def]
    from rung.evaluation import report

    ws, strong, _ = trained
    ev = ws.evaluate(str(strong), SETS[:2], label="y", metrics=["precision_down", "f1_macro"])
    assert ev.columns == ["examples", "labelled", "precision_down", "f1_macro"]
    assert report.columns(ev) == ["examples", "labelled", "precision_down", "f1_macro"]
    with pytest.raises(InvalidInput, match="has no column 'nosuch'"):
        report.columns(ev, ["nosuch"])


def test_everything_works_with_a_remote_artifact_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsspec's memory:// stands in for object storage: data, pipelines and evaluation."""
    import uuid

    from rung import Workspace

    monkeypatch.setenv("RUNG_ARTIFACT_ROOT", f"memory://rung-{uuid.uuid4().hex}")
    with Workspace.init(tmp_path / "remote") as ws:
        (ws.root / "train.py").write_text(TRAIN)
        ws.data.add(make(300, 0, 1), name="train")
        ws.data.add(make(100, 0, 2), name="set0")
        run_id = ws.run("train.py:train").id
        assert ws.run("train.py:train").executed == 0
        ev = ws.evaluate(str(run_id), ["set0@1"], label="y", criteria=["accuracy >= 0.5"])
        assert ev.status == "passed"
        assert not (
            ws.root / ".rung" / "artifacts"
        ).exists()  # nothing stored locally but the cache
