"""``rung.Client`` sends the values an application holds in pandas and numpy (NaN, NA, NaT,
datetime64, numpy scalars and arrays) as the service reads them, instead of failing before
anything is sent (a tester's DataFrame with a NaN in a nullable feature, a datetime64
column, a numpy label)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from rung.core.errors import InvalidInput
from rung.serving.client import encode
from strategies import awkward_frames

VALUES: list[tuple[Any, Any]] = [  # (what an application holds, what the service reads)
    (float("nan"), None),
    (np.float64("nan"), None),
    (np.float32(0.5), 0.5),
    (np.int64(3), 3),
    (np.uint8(7), 7),
    (np.bool_(True), True),
    (pd.NA, None),
    (pd.NaT, None),
    (np.datetime64("NaT"), None),
    (np.datetime64("2020-01-02T03:04"), "2020-01-02T03:04"),
    (np.array(["2020-01-02", "NaT"], dtype="datetime64[D]"), ["2020-01-02", None]),
    (np.array([1, None], dtype=object), [1, None]),
    (pd.Timestamp("2020-01-02 03:04:05"), "2020-01-02T03:04:05"),
    (pd.Timestamp("2020-01-02", tz="UTC"), "2020-01-02T00:00:00+00:00"),
    (dt.date(2020, 1, 2), "2020-01-02"),
    (np.array([1, 2]), [1, 2]),
    (pd.Series([1.5, None]), [1.5, None]),
    (pd.Series(pd.to_datetime(["2020-01-02", None])), ["2020-01-02T00:00:00", None]),
    ("text", "text"),
    (None, None),
]


@pytest.mark.parametrize(("value", "read"), VALUES, ids=[repr(v)[:30] for v, _ in VALUES])
def test_each_value_is_sent_as_the_service_reads_it(value: Any, read: Any) -> None:
    assert json.loads(encode({"v": value})) == {"v": read}


def test_a_value_json_cannot_hold_is_one_line() -> None:
    with pytest.raises(InvalidInput, match="cannot send a object value"):
        encode({"v": object()})


@settings(max_examples=60, deadline=None)
@given(awkward_frames(duplicates=False))
def test_any_frame_is_sent(frame: pd.DataFrame) -> None:
    """Whatever a DataFrame holds, its records encode to JSON (nothing raises before a
    request is sent; the service judges the values)."""
    try:
        records = frame.to_dict("records")
    except ValueError:  # pandas itself cannot make records of it
        return
    try:
        text = encode({"records": records})
    except InvalidInput as exc:  # a value JSON cannot hold: refused in one line
        assert "\n" not in exc.message
        return
    assert len(json.loads(text)["records"]) == len(frame)
