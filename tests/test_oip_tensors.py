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
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
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
    "FP64": ["1.5", True, None],
    "FP32": ["x", False],
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
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
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
