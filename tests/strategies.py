"""One hypothesis strategy of **awkward frames**, shared by every rung's property tests.

A frame holds a few rows and a few columns drawn from what real data throws at a tool:
booleans; pandas' nullable dtypes (``Int64``, ``boolean``, ``string``) holding ``NA``; the
``category`` dtype; datetimes naive, with a fixed offset and with a named zone; all-null and
constant columns; object columns mixing types; int64 extremes; floats with NaN and ±inf;
and names that are unicode, dotted, spaced, integers — or duplicated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

I64 = np.iinfo(np.int64)

NAMES = st.sampled_from(
    ["a", "b", "x", "Größe", "名前", "a.b", "col with spaces", "🙂", "y_1", "1", "CamelCase"]
)
INT_NAMES = st.sampled_from([0, 1, 7])


def _column(kind: str, n: int, data: st.DataObject) -> pd.Series:
    """One column of ``n`` values of an awkward ``kind``."""
    draw = data.draw
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "Int64":
        values = draw(st.lists(st.none() | st.integers(-1000, 1000), min_size=n, max_size=n))
        return pd.Series(values, dtype="Int64")
    if kind == "boolean":
        values = draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n))
        return pd.Series(values, dtype="boolean")
    if kind == "string":
        words = st.none() | st.sampled_from(["red", "blue", "", "ß", "名", "a,b", '"q"'])
        return pd.Series(draw(st.lists(words, min_size=n, max_size=n)), dtype="string")
    if kind == "category":
        values = draw(st.lists(st.sampled_from(["lo", "mid", "hi"]), min_size=n, max_size=n))
        return pd.Series(pd.Categorical(values, categories=["lo", "mid", "hi"]))
    if kind in ("naive", "offset", "zone"):
        seconds = draw(st.lists(st.none() | st.integers(0, 2_000_000_000), min_size=n, max_size=n))
        stamps = pd.to_datetime(
            pd.Series([pd.NaT if s is None else pd.Timestamp(s, unit="s") for s in seconds])
        )
        if kind == "offset":
            hours = draw(st.sampled_from([5.5, -3.0, 0.0]))
            offset = dt.timezone(dt.timedelta(hours=hours))
            return stamps.dt.tz_localize("UTC").dt.tz_convert(offset)
        if kind == "zone":
            zone = draw(st.sampled_from(["Europe/Paris", "America/New_York", "UTC"]))
            return stamps.dt.tz_localize("UTC").dt.tz_convert(zone)
        return stamps
    if kind == "null":
        return pd.Series([None] * n, dtype=draw(st.sampled_from([object, "float64"])))
    if kind == "constant":
        return pd.Series([draw(st.sampled_from([3, 2.5, "same", True]))] * n)
    if kind == "mixed":
        values = st.one_of(
            st.integers(-5, 5), st.sampled_from(["a", "b"]), st.none(), st.floats(0, 1)
        )
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object)
    if kind == "extreme":
        pool = st.sampled_from([int(I64.min), int(I64.max), 0, -1, 1])
        return pd.Series(draw(st.lists(pool, min_size=n, max_size=n)), dtype="int64")
    if kind == "float":
        pool = st.floats(allow_nan=True, allow_infinity=True, width=64)
        return pd.Series(draw(st.lists(pool, min_size=n, max_size=n)), dtype="float64")
    raise AssertionError(kind)


COLUMN_KINDS = (
    "bool",
    "Int64",
    "boolean",
    "string",
    "category",
    "naive",
    "offset",
    "zone",
    "null",
    "constant",
    "mixed",
    "extreme",
    "float",
)


@st.composite
def awkward_frames(
    draw: Any,
    min_rows: int = 1,
    max_rows: int = 6,
    max_columns: int = 5,
    duplicates: bool = True,
    kinds: tuple[str, ...] = COLUMN_KINDS,
) -> pd.DataFrame:
    """A small DataFrame of awkward columns and names (see the module's docstring).

    ``duplicates=False`` keeps the names unique (as strings: ``1`` and ``"1"`` are the same
    name to JSON and Parquet).
    """
    data = draw(st.data())
    n = draw(st.integers(min_rows, max_rows))
    count = draw(st.integers(1, max_columns))
    names: list[Any] = []
    unique = not duplicates or draw(st.integers(0, 4)) > 0  # a duplicate in one frame of 5
    for _ in range(count):
        name = draw(NAMES | INT_NAMES)
        if unique:
            while str(name) in {str(x) for x in names}:
                name = f"{name}_"
        names.append(name)
    columns = [_column(draw(st.sampled_from(kinds)), n, data) for _ in names]
    frame = pd.concat([c.reset_index(drop=True) for c in columns], axis=1)
    frame.columns = names
    return frame


@st.composite
def awkward_columns(draw: Any, names: list[str], n: int) -> pd.DataFrame:
    """A frame of ``n`` rows with exactly the columns ``names``, each of an awkward kind."""
    data = draw(st.data())
    kind = st.sampled_from(COLUMN_KINDS)
    return pd.DataFrame({name: _column(draw(kind), n, data) for name in names})


@st.composite
def json_values(draw: Any) -> Any:
    """One JSON value a client might send for any feature."""
    return draw(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**70), 2**70),
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from(
                ["", "red", "lo", "2024-02-29", "2024-02-30", "2024-01-01T10:00:00+05:30"]
            ),
            st.sampled_from(["True", "false", "NaN", "1e400", "12"]),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
        )
    )
