"""The Open Inference Protocol's tensors, as a family: every datatype, in JSON (flat or nested)
and in the binary tensor data extension, is decoded to its values when its shape and
datatype agree with them, and refused with a 400 naming the input when they do not."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rung.serving.tensors import DTYPES, TensorError, decode, from_binary, split, to_binary

INTS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
UINTS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}


def values_of(datatype: str) -> st.SearchStrategy[Any]:
    if datatype == "BOOL":
        return st.booleans()
    if datatype == "BYTES":
        return st.text(max_size=8)
    if datatype in INTS:
        b = INTS[datatype]
        return st.integers(-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    if datatype in UINTS:
        return st.integers(0, 2 ** UINTS[datatype] - 1)
    width = {"FP16": 16, "FP32": 32, "FP64": 64}[datatype]
    return st.floats(allow_nan=False, allow_infinity=False, width=width)  # type: ignore[arg-type]


@st.composite
def tensors(draw: st.DrawFn) -> tuple[dict[str, Any], bytes, list[Any]]:
    """A valid input tensor: its JSON object, its binary data (or b"") and its values."""
    datatype = draw(st.sampled_from(list(DTYPES)))
    values = draw(st.lists(values_of(datatype), max_size=6))
    column = draw(st.booleans())  # shape [n, 1], data nested as rows, or [n] flat
    shape = [len(values), 1] if column else [len(values)]
    tensor: dict[str, Any] = {"name": "x", "shape": shape, "datatype": datatype}
    if draw(st.booleans()):
        tensor["data"] = [[v] for v in values] if column else values
        return tensor, b"", values
    blob = to_binary(values, datatype)
    tensor["parameters"] = {"binary_data_size": len(blob)}
    return tensor, blob, from_binary(blob, datatype, "x")


@given(tensors())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_tensor_whose_shape_and_datatype_agree_decodes_to_its_values(
    case: tuple[dict[str, Any], bytes, list[Any]],
) -> None:
    tensor, blob, values = case
    got = decode({"inputs": [tensor]}, blob)["x"]
    assert len(got) == len(values)
    for a, b in zip(got, values, strict=True):
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


WRONG_VALUES = {
    "BOOL": [1, "true", None],
    "BYTES": [1, True, None],
    "INT64": [20.7, True, "3", 2**63],
    "INT8": [128, -129, 1.5],
    "UINT8": [-1, 256],
    "UINT64": [-1, 2**64],
    "FP64": ["1.5", True, None, 10**309],
    "FP32": ["x", False, 3.5e38, -(10**39)],
    "FP16": [65520.0, -70000, 1e300],  # past binary16's largest finite value, 65504
}


@st.composite
def broken(draw: st.DrawFn) -> tuple[dict[str, Any], bytes, str]:
    """A tensor with one fault of a kind, and words the 400 must hold."""
    tensor, blob, values = draw(tensors())
    kind = draw(
        st.sampled_from(["shape", "datatype", "value", "twice", "rank", "binary size", "nesting"])
    )
    if kind == "shape":
        n = draw(st.integers(0, 20).filter(lambda k: k != len(values)))
        tensor["shape"] = [n]
        return tensor, blob, "has shape"
    if kind == "datatype":
        tensor["datatype"] = draw(st.text(max_size=10).filter(lambda t: t not in DTYPES))
        return tensor, blob, "datatype"
    if kind == "value":
        datatype = draw(st.sampled_from(list(WRONG_VALUES)))
        bad = draw(st.sampled_from(WRONG_VALUES[datatype]))
        good = draw(st.lists(values_of(datatype), max_size=3))
        at = draw(st.integers(0, len(good)))
        data = [*good[:at], bad, *good[at:]]
        tensor = {"name": "x", "shape": [len(data)], "datatype": datatype, "data": data}
        return tensor, b"", "holds"
    if kind == "twice":
        return {"inputs": [tensor, dict(tensor)]}, blob + blob, "given twice"  # type: ignore[return-value]
    if kind == "rank":
        tensor["shape"] = [len(values), draw(st.integers(2, 5))]
        return tensor, blob, "has shape"
    if kind == "nesting":
        tensor = {"name": "x", "shape": [1], "datatype": "INT64", "data": [[[[[[[[[[1]]]]]]]]]]}
        return tensor, b"", "nested"
    if not blob:
        return {**tensor, "shape": [len(values) + 1]}, blob, "has shape"
    cut = draw(st.integers(1, len(blob)))
    return tensor, blob[:-cut], "binary"


@given(broken())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_tensor_with_a_fault_is_a_400_naming_the_input(
    case: tuple[dict[str, Any], bytes, str],
) -> None:
    tensor, blob, words = case
    request = tensor if "inputs" in tensor else {"inputs": [tensor]}
    with pytest.raises(TensorError) as err:
        decode(request, blob)
    assert err.value.status == 400
    assert "'x'" in err.value.message and words in err.value.message, err.value.message


def test_bytes_elements_are_length_prefixed_and_binary_claims_are_exact() -> None:
    blob = struct.pack("<I", 3) + b"red" + struct.pack("<I", 0)
    assert from_binary(blob, "BYTES", "c") == ["red", ""]
    for bad, words in ((blob[:-1], "4-byte length"), (struct.pack("<I", 9) + b"red", "claims")):
        with pytest.raises(TensorError, match=words):
            from_binary(bad, "BYTES", "c")
    with pytest.raises(TensorError, match="not UTF-8"):
        from_binary(struct.pack("<I", 1) + b"\xff", "BYTES", "c")
    assert np.frombuffer(to_binary([1, 2], "INT64"), "<i8").tolist() == [1, 2]
    head = json.dumps({"inputs": []}).encode()
    assert split(head + b"tail", str(len(head))) == (head, b"tail")
    for header in ("", "x", str(len(head) + 5), "0", "-1"):
        with pytest.raises(TensorError, match="Inference-Header-Content-Length"):
            split(head + b"tail", header)
    tensor = {"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}
    with pytest.raises(TensorError, match="no input claims"):
        decode({"inputs": [tensor]}, b"extra")


@pytest.mark.parametrize(
    ("labels", "datatype", "python_type"),
    [
        ([0, 1, 2] * 10, "INT64", int),
        (["no", "yes", "maybe"] * 10, "BYTES", str),
        ([True, False, True] * 10, "BOOL", bool),
        ([0.0, 1.0, 1.0] * 10, "FP64", float),
        (None, "FP64", float),  # a regressor
    ],
)
def test_predicts_datatype_follows_the_model_in_metadata_and_answers(
    labels: list[Any] | None, datatype: str, python_type: type
) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from rung.serving.predictor import compute, ready
    from rung.serving.v2 import _outputs, outputs_of

    x = pd.DataFrame({"a": np.linspace(-3, 3, 30)})
    model = (
        LinearRegression().fit(x, x["a"] * 2)
        if labels is None
        else LogisticRegression().fit(x, np.array(labels))
    )
    spec = {"kind": "numeric", "dtype": "float64", "nullable": False}
    held = ready("m", 1, model, {"features": ["a"], "columns": {"a": spec}})
    meta = outputs_of(held)
    answered = _outputs(held, compute(held, x))
    assert meta[0] == {"name": "predict", "datatype": datatype, "shape": [-1]}
    assert answered[0]["datatype"] == datatype and answered[0]["shape"] == [30]
    assert all(type(v) is python_type for v in answered[0]["data"])
    assert (
        from_binary(to_binary(answered[0]["data"], datatype), datatype, "p")
        == (answered[0]["data"])
    )
    if labels is None:
        assert [m["name"] for m in meta] == ["predict"] and len(answered) == 1
    else:
        k = len(set(labels))
        assert meta[1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, k]}
        assert answered[1]["shape"] == [30, k] and len(answered[1]["data"]) == 30 * k


@pytest.mark.parametrize(
    ("kind", "datatype"),
    [
        ({"kind": "integer", "dtype": "int64"}, "INT64"),
        ({"kind": "integer", "dtype": "Int64"}, "INT64"),
        ({"kind": "numeric", "dtype": "float32"}, "FP64"),
        ({"kind": "boolean", "dtype": "bool"}, "BOOL"),
        ({"kind": "categorical", "dtype": "object"}, "BYTES"),
        ({"kind": "text", "dtype": "string"}, "BYTES"),
        ({"kind": "datetime", "dtype": "datetime64[ns]"}, "BYTES"),
        (None, "BYTES"),
    ],
)
def test_an_inputs_datatype_is_its_column_kinds(kind: dict[str, Any] | None, datatype: str) -> None:
    from rung.core.columns import ColumnKind
    from rung.serving.tensors import datatype_of

    assert datatype_of(ColumnKind.from_dict(kind) if kind else None) == datatype


def test_content_codings_are_undone_within_the_limit() -> None:
    """gzip (several members too), deflate in zlib's format and raw, identity, and a list of
    them; past the limit 413 whatever the ratio; truncated or foreign data 422 (400 on /v2)."""
    import gzip
    import zlib

    from rung.core.errors import InvalidInput
    from rung.serving.http import PayloadTooLarge, UnsupportedEncoding, decoded

    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    plain_deflate = raw.compress(b"raw") + raw.flush()
    assert decoded(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"
    assert decoded(zlib.compress(b"xy"), "deflate") == b"xy"
    assert decoded(plain_deflate, "deflate") == b"raw"
    assert decoded(gzip.compress(b"q"), "identity, GZIP") == b"q"
    assert decoded(b"as is", None) == b"as is"
    assert len(decoded(gzip.compress(b"a" * 1000), "gzip", 1000)) == 1000
    for body, error in (
        (gzip.compress(b"a" * 1001), PayloadTooLarge),
        (gzip.compress(b"a" * 600) * 2, PayloadTooLarge),
        (gzip.compress(b"a" * 100)[:-5], InvalidInput),
        (b"zz", InvalidInput),
        (gzip.compress(b"a") + b"junk", InvalidInput),
    ):
        with pytest.raises(error):
            decoded(body, "gzip", 1000)
    with pytest.raises(UnsupportedEncoding) as err:
        decoded(b"x", "br")
    assert err.value.status == 415
