"""Distinct int64 values near the extremes (equal as floats) are not collapsed: the profile's
range is exact and a reference is constant only when its exact values are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli
from rung.core.drift import NumericReference
from rung.data.profile import profile

INT64 = np.iinfo(np.int64)


@settings(max_examples=60, deadline=None)
@given(
    base=st.sampled_from([INT64.max, INT64.min + 400, 2**60, -(2**62), 0]),
    offsets=st.lists(st.integers(0, 300), min_size=1, max_size=50),
    nullable=st.booleans(),
)
def test_integers_are_profiled_and_judged_constant_on_their_exact_values(
    base: int, offsets: list[int], nullable: bool
) -> None:
    sign = -1 if base == INT64.max else 1
    values = [int(base) + sign * o for o in offsets]
    series = pd.Series(values, dtype="Int64" if nullable else "int64")
    if nullable:
        series = pd.concat([series, pd.Series([None], dtype="Int64")], ignore_index=True)
    ref = NumericReference.of(series)
    assert ref.constant is (len(set(values)) == 1)
    _, stats = profile(pd.DataFrame({"big": series}))
    assert stats["columns"]["big"]["min"] == min(values)
    assert stats["columns"]["big"]["max"] == max(values)


def test_data_show_and_monitor_of_int64_extremes(sqlite_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    ws.data.add(pd.DataFrame({"big": INT64.max - np.arange(300, dtype=np.int64)}), name="big")
    out = rung_cli("data", "show", "big@1", cwd=ws.root)
    assert out.returncode == 0, out.stderr
    assert f"min {INT64.max - 299}" in out.stdout and f"max {INT64.max}" in out.stdout
    ref = NumericReference.of(ws.data.get("big@1").load()["big"])
    assert not ref.constant
