"""Integers at and past every integer dtype's bounds are checked exactly, in every body form.

orjson reads an integer literal outside 64 bits as the nearest float: -2**63-1 became
-9.223372036854776e18, which is int64's minimum, so /predict accepted (and logged) a value
the client never sent. Bodies holding long digit runs are read with exact integers
(:func:`rung.serving.payload.loads`), and the value is checked against the feature's dtype.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rung_cli, start_server
from rung.core.columns import ColumnKind, integer_range
from rung.serving.payload import PayloadError, loads, validate

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "Int64"]


def _bounds(dtype: str) -> tuple[int, int]:
    return integer_range(ColumnKind("integer", dtype, False))


@st.composite
def near_bounds(draw: st.DrawFn) -> tuple[str, int]:
    """A dtype and an integer within 2,000 of one of its bounds (or of 2**64)."""
    dtype = draw(st.sampled_from(DTYPES))
    lo, hi = _bounds(dtype)
    edge = draw(st.sampled_from([lo, hi, 2**64, -(2**63)]))
    return dtype, edge + draw(st.integers(-2000, 2000))


def _bodies(value: int) -> list[bytes]:
    """The same row in the three forms, as a client's bytes (exact integer literals)."""
    return [
        json.dumps(body).encode()
        for body in (
            {"big": value, "x": 0.1},
            {"records": [{"big": value, "x": 0.1}]},
            {"columns": {"big": [value], "x": [0.1]}},
        )
    ]


@settings(max_examples=300, deadline=None)
@given(near_bounds())
def test_integers_near_every_dtypes_bounds_are_checked_exactly(case: tuple[str, int]) -> None:
    dtype, value = case
    lo, hi = _bounds(dtype)
    signature: dict[str, Any] = {
        "features": ["big", "x"],
        "columns": {
            "big": ColumnKind("integer", dtype, False).to_dict(),
            "x": ColumnKind("numeric", "float64", False).to_dict(),
        },
    }
    for raw in _bodies(value):
        body = loads(raw)
        if lo <= value <= hi:
            frame = validate(body, signature)
            assert int(frame["big"].iloc[0]) == value
        else:
            with pytest.raises(PayloadError, match=f"outside the range of {dtype}"):
                validate(body, signature)


def test_long_digit_bodies_are_still_json_only() -> None:
    for raw in (b'{"big": 12345678901234567890, "x": NaN}', b"[" * 5000 + b"1234567890123456789"):
        with pytest.raises(ValueError):
            loads(raw)
    assert loads(b'{"s": "1234567890123456789012", "v": 1.5}') == {
        "s": "1234567890123456789012",
        "v": 1.5,
    }


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # any size: 19 digits and more are the case that needs the exact parser
    | st.integers(min_value=10**17, max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='0123456789 .-eE"ab', max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_a_body_reads_as_the_standard_parser_reads_it(value: Any) -> None:
    """Whatever the body holds — integers of any length, anywhere, digits in strings and in
    floats — :func:`loads` gives exactly what Python's own parser gives (every integer exact),
    through whichever parser it picks."""
    for raw in (json.dumps(value).encode(), json.dumps(value, indent=1).encode()):
        assert loads(raw) == json.loads(raw)
        assert type(loads(raw)) is type(json.loads(raw))


TRAIN = textwrap.dedent(
    """
    import rung
    from sklearn.linear_model import LinearRegression

    @rung.step
    def fit(frame):
        return LinearRegression().fit(frame[["big", "x"]], frame["y"])

    @rung.pipeline
    def train():
        return fit(rung.dataset("ints"))
    """
)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "uint8"])
def test_served_and_batch_scored_integers_past_the_bounds_are_refused(
    sqlite_ws, dtype: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ws = sqlite_ws
    lo, hi = _bounds(dtype)
    ws.data.add(
        pd.DataFrame(
            {
                "big": pd.Series(np.arange(20) % 7, dtype=dtype),
                "x": np.linspace(0, 1, 20),
                "y": np.arange(20, dtype=float),
            }
        ),
        name="ints",
    )
    (ws.root / "train.py").write_text(TRAIN)
    run = ws.run("train.py:train")
    ws.models.register(str(run.id), "m")
    ws.models.promote("m", 1, force=True, reason="test")
    bad = [lo - 1, lo - 1024, lo - 1025, hi + 1, 2**64, -(2**64)]
    proc, url = start_server(ws.root, "m@champion")
    try:
        for value in bad:
            for raw in _bodies(value):
                r = httpx.post(
                    f"{url}/predict", content=raw, headers={"content-type": "application/json"}
                )
                assert r.status_code == 422, (value, raw, r.text)
                assert "outside the range" in r.text or "expected" in r.text, r.text
        for value in (lo, hi):
            for raw in _bodies(value):
                r = httpx.post(
                    f"{url}/predict", content=raw, headers={"content-type": "application/json"}
                )
                assert r.status_code == 200, (value, r.text)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with ws.store.read() as tx:
        logged = [r["inputs"] for r in tx.all("SELECT inputs FROM predictions WHERE status = 200")]
    assert len(logged) == 6 and not any("e+" in x or "E+" in x for x in logged), logged
    assert {json.loads(x)["big"][0] for x in logged} == {lo, hi}
    for value in bad:
        src = tmp_path / f"in{value}.csv"
        src.write_text(f"big,x\n{lo},0.1\n{value},0.2\n")
        out = rung_cli(
            "predict", "m@champion", "-i", str(src), "-o", str(tmp_path / "o.csv"), cwd=ws.root
        )
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert f"{value}" in out.stderr and "outside the range" in out.stderr, out.stderr
