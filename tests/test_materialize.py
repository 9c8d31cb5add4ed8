"""Outputs by type: round trips, deterministic bytes (what the cache keys on), safe loading."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rung.core.errors import UnsupportedType, Untrusted
from rung.pipelines.materialize import dump, load

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(finite, st.integers(-(2**40), 2**40), st.text(max_size=5)), max_size=30))
def test_dataframes_round_trip_with_stable_bytes(rows: list[tuple[float, int, str]]) -> None:
    df = pd.DataFrame(rows, columns=["f", "i", "s"]).astype({"f": "float64", "i": "int64"})
    kind, first = dump(df)
    _, second = dump(df.copy())
    assert kind == "parquet" and first == second
    pd.testing.assert_frame_equal(load(kind, first), df, check_dtype=False, check_index_type=False)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(0, 20), st.integers(0, 5)), elements=finite))
def test_arrays_round_trip_with_stable_bytes(arr: np.ndarray) -> None:
    kind, data = dump(arr)
    assert kind == "npy" and dump(arr.copy())[1] == data
    np.testing.assert_array_equal(load(kind, data), arr)


def test_object_arrays_and_unknown_types_need_the_opt_in() -> None:
    with pytest.raises(UnsupportedType, match="numpy array of Python objects"):
        dump(np.array([object()]))
    with pytest.raises(UnsupportedType, match=r"returned a builtins\.object.*pickle=True"):
        dump(object())
    kind, data = dump({1, 2}, allow_pickle=True)
    assert kind == "pickle" and load(kind, data, allow_pickle=True) == {1, 2}


MODEL = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from rung.pipelines.materialize import dump
X = np.random.RandomState(0).rand(60, 4)
y = (X[:, 0] > 0.5).astype(int)
junk = [object() for _ in range(int(sys.argv[1]))]  # shift id()s between processes
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
sys.stdout.write(dump(model)[1].hex())
"""


def test_sklearn_models_give_the_same_bytes_in_different_processes() -> None:
    outs = [
        subprocess.run(
            [sys.executable, "-c", MODEL, str(n)], capture_output=True, text=True, check=True
        ).stdout
        for n in (1, 5000)
    ]
    assert outs[0] == outs[1]
    model = load("skops", bytes.fromhex(outs[0]))
    assert model.predict(np.array([[0.9, 0, 0, 0]])).tolist() == [1]


def test_skops_refuses_types_outside_the_trusted_libraries() -> None:
    import io
    import zipfile

    from sklearn.dummy import DummyClassifier

    kind, data = dump(DummyClassifier().fit(np.array([[0.0], [1.0]]), [0, 1]))
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "schema.json":
                body = body.replace(b'"sklearn.dummy"', b'"evil.module"', 1)
            dst.writestr(info, body)
    with pytest.raises(Untrusted, match=r"evil\.module"):
        load(kind, buf.getvalue())
