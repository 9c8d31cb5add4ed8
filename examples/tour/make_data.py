"""Small generated data for the README's tour: one row per trading day of an index, its
date and year, three features of its recent prices and the label ``trend``, whether the next 20 days went "down"
or "up". Writes prices.csv, prices_more.csv (the same days and 100 more: an append),
djia.csv and nyse.csv (two other indices) into the current folder."""

import numpy as np
import pandas as pd


def days(n: int, seed: int, start: str = "2005-01-03") -> pd.DataFrame:
    r = np.random.default_rng(seed)
    ret_5 = r.normal(0, 2, n)  # % change over the last 5 days
    ret_20 = r.normal(0, 4, n)  # % change over the last 20 days
    vol_20 = r.gamma(2.0, 0.5, n)  # % daily volatility over the last 20 days
    score = -0.3 * ret_5 - 0.15 * ret_20 + 1.5 * (vol_20 - 1) + r.normal(0, 0.5, n)
    dates = pd.bdate_range(start, periods=n)
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d"),
            "year": dates.year,
            "ret_5": ret_5.round(3),
            "ret_20": ret_20.round(3),
            "vol_20": vol_20.round(3),
            "trend": np.where(score > 0.5, "down", "up"),
        }
    )


if __name__ == "__main__":
    prices = days(700, seed=1)
    prices.to_csv("prices.csv", index=False)
    pd.concat([prices, days(800, seed=1).iloc[700:]]).to_csv("prices_more.csv", index=False)
    days(300, seed=2).to_csv("djia.csv", index=False)
    days(300, seed=3).to_csv("nyse.csv", index=False)
    print("wrote prices.csv, prices_more.csv, djia.csv, nyse.csv")
