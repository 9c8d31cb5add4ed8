"""Tensors of the Open Inference Protocol v2: a request's inputs decoded into rung's columns
(JSON data, nested or flat, and the binary tensor data extension), checked against their
``shape`` and ``datatype``; and outputs encoded as JSON or binary.

Sources:

* the protocol's REST specification, "Tensor Data" and "Tensor Data Types"
  (https://github.com/kserve/open-inference-protocol,
  ``specification/protocol/inference_rest.md``): data in row-major order, nested or flat;
* Triton's binary tensor data extension
  (https://github.com/triton-inference-server/server,
  ``docs/protocol/extension_binary_data.md``): the JSON object first, its length in the
  ``Inference-Header-Content-Length`` header, then each binary tensor in the order of the
  JSON's tensors, little-endian, row-major; a BOOL is one byte; a BYTES element is a 4-byte
  little-endian unsigned length followed by that many bytes. ``parameters.binary_data_size``
  gives each tensor's byte size.

Every problem is a :class:`TensorError` (HTTP 400) naming the tensor and how to fix it. No web
framework is imported here.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from rung.core.columns import ColumnKind
from rung.core.errors import RungError

# the protocol's datatypes, each with the little-endian numpy dtype of its binary form
# (BYTES has none: length-prefixed elements)
DTYPES: dict[str, str | None] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": None,
}
_INT_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
# the largest finite value of each float datatype (IEEE 754 binary16, binary32, binary64)
FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": 1.7976931348623157e308}
_UINT_BITS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}
MAX_DIMS = 8  # more dimensions than any feature column could have (its shape is [n] or [n, 1])


class TensorError(RungError):
    """A tensor of an inference request is malformed (HTTP 400, the protocol's status for a
    bad request)."""

    status = 400


def datatype_of(kind: ColumnKind | None) -> str:
    """The protocol's datatype of a feature of ``kind`` (rung's one column-kind model,
    :mod:`rung.core.columns`): INT64 for integers, FP64 for other numbers, BOOL for booleans,
    BYTES for categories, text and times (ISO 8601 strings), and for a feature whose kind the
    version does not record."""
    if kind is None:
        return "BYTES"
    return {"integer": "INT64", "numeric": "FP64", "boolean": "BOOL"}.get(kind.kind, "BYTES")


def datatype_of_values(dtype: Any) -> str:
    """The protocol's datatype of an output whose values have numpy ``dtype`` (a classifier's
    ``classes_``): INT64 for integers, BOOL, FP64 for floats, BYTES otherwise (strings,
    objects)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iu":
        return "INT64"
    if dtype.kind == "f":
        return "FP64"
    return "BYTES"


def split(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON object and the binary tensor data of a body: ``header_length`` is the
    ``Inference-Header-Content-Length`` header (``None``: the body is all JSON)."""
    if header_length is None:
        return raw, b""
    text = header_length.strip()
    if not text.isdigit() or not text.isascii() or int(text) > len(raw) or int(text) == 0:
        raise TensorError(
            f"Inference-Header-Content-Length {header_length[:40]!r} is not a length within"
            f" the body's {len(raw)} bytes",
            "send the byte length of the JSON object that starts the body",
        )
    n = int(text)
    return raw[:n], raw[n:]


def decode(request: dict[str, Any], binary: bytes) -> dict[str, list[Any]]:
    """Each input of ``request`` (a parsed ``$inference_request``) as a flat list of plain
    Python values, in row-major order; ``binary`` is the body after the JSON object.

    Checks that every input has a string ``name`` (once), a known ``datatype``, a ``shape``
    of non-negative integers whose product is the number of values, and values of that
    datatype (an INT64 holding 20.7 is refused); and that the binary data is exactly the sum
    of the inputs' ``binary_data_size``. Raises :class:`TensorError` naming the input."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError(
            "'inputs' must be a non-empty list of tensors",
            'send {"inputs": [{"name": ..., "shape": [n], "datatype": ..., "data": [...]}]}',
        )
    columns: dict[str, list[Any]] = {}
    offset = 0
    for k, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise TensorError(
                f"inputs[{k}] is not a tensor with a string 'name'",
                "send each input as {name, shape, datatype, data}",
            )
        name = tensor["name"]
        if name in columns:
            raise TensorError(
                f"input {name!r} is given twice", "send each input once, with all its rows"
            )
        datatype, shape = _datatype(tensor, name), _shape(tensor, name)
        size = math.prod(shape)
        params = known_parameters(
            tensor.get("parameters"), ("binary_data_size",), f"input {name!r}"
        )
        if "binary_data_size" in params:
            if "data" in tensor:
                raise TensorError(
                    f"input {name!r} has both 'data' and parameters.binary_data_size",
                    "send its values either in 'data' or as binary data, not both",
                )
            nbytes = params["binary_data_size"]
            if not _is_int(nbytes) or nbytes < 0 or offset + nbytes > len(binary):
                raise TensorError(
                    f"input {name!r}: binary_data_size {nbytes!r} is beyond the"
                    f" {len(binary) - offset} bytes of binary data left",
                    "send the Inference-Header-Content-Length header and each tensor's bytes"
                    " after the JSON, in the order of 'inputs'",
                )
            nbytes = int(nbytes)
            values = from_binary(binary[offset : offset + nbytes], datatype, name)
            offset += nbytes
        elif "data" in tensor:
            values = _from_json(tensor["data"], datatype, name)
        else:
            raise TensorError(
                f"input {name!r} has no 'data'",
                "send its values in 'data', or as binary data with parameters.binary_data_size",
            )
        if len(values) != size:
            raise TensorError(
                f"input {name!r} has shape {shape} ({size} values) but holds {len(values)}",
                "send a shape whose product is the number of values",
            )
        columns[name] = values
    if offset != len(binary):
        raise TensorError(
            f"the body has {len(binary) - offset} bytes of binary data that no input claims",
            "give each binary input its parameters.binary_data_size",
        )
    return columns


def _datatype(tensor: dict[str, Any], name: str) -> str:
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in DTYPES:  # {} is not hashable
        from rung.core.suggest import did_you_mean

        known = "known: " + ", ".join(DTYPES)
        hint = did_you_mean(str(datatype), list(DTYPES), known) if datatype else known
        raise TensorError(
            f"input {name!r} has datatype {datatype!r}, not one of the protocol's", hint
        )
    return str(datatype)


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(_is_int(d) and 0 <= d < 2**63 for d in shape)
    ):
        raise TensorError(
            f"input {name!r} has shape {str(shape)[:80]}: not a list of non-negative integers",
            "send its shape, e.g. [n] or [n, 1] for n rows",
        )
    shape = [int(d) for d in shape]
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise TensorError(
            f"input {name!r} has shape {shape}: each input holds one value per row",
            "send shape [n] or [n, 1] for n rows",
        )
    return list(shape)


def _is_int(value: Any) -> bool:
    """An integer as JSON Schema's ``integer`` reads JSON: ``255`` and ``255.0`` alike (the
    callers take ``int(value)``), never a boolean."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _known_parameters(params: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in params:
        if key not in known:
            raise TensorError(
                f"{where}: parameter {key!r} is not supported by this server",
                f"supported here: {', '.join(known)}",
            )


def _flatten(data: Any, name: str) -> list[Any]:
    """Row-major values of nested lists (the protocol allows either form)."""
    if not isinstance(data, list):
        raise TensorError(
            f"input {name!r}: 'data' must be a list, got {type(data).__name__}",
            "send the values as a list (nested lists in row-major order are fine)",
        )
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:  # no recursion: a deeply nested list is not a stack overflow
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > MAX_DIMS:
                    raise TensorError(
                        f"input {name!r}: 'data' is nested deeper than its shape allows",
                        "send shape [n] or [n, 1] data",
                    )
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _from_json(data: Any, datatype: str, name: str) -> list[Any]:
    values = _flatten(data, name)
    for i, value in enumerate(values):
        if not _fits(value, datatype):
            raise TensorError(
                f"input {name!r} ({datatype}) holds {str(value)[:40]!r} at index {i}:"
                f" {_expected(datatype)}",
                f"send {datatype} values, or the datatype of the values you send",
            )
    if datatype in _INT_BITS:  # 255.0 is the integer 255
        return [int(v) for v in values]
    return values


def _fits(value: Any, datatype: str) -> bool:
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype == "BYTES":
        return isinstance(value, str)
    if datatype in _INT_BITS:
        bits = _INT_BITS[datatype]
        return _is_int(value) and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    if datatype in _UINT_BITS:
        return _is_int(value) and 0 <= value < 2 ** _UINT_BITS[datatype]
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return abs(value) <= FLOAT_MAX[datatype]  # FP16/32/64: within the type's finite range


def _expected(datatype: str) -> str:
    if datatype == "BOOL":
        return "expected true or false"
    if datatype == "BYTES":
        return "expected a string"
    if datatype.startswith(("INT", "UINT")):
        return f"expected an integer within {datatype}'s range"
    return f"expected a number within {datatype}'s range (±{FLOAT_MAX[datatype]:.6g})"


def from_binary(raw: bytes, datatype: str, name: str) -> list[Any]:
    """One tensor's values from its binary form (little-endian, row-major; BYTES as 4-byte
    little-endian lengths each followed by that many UTF-8 bytes)."""
    import numpy as np

    dtype = DTYPES[datatype]
    if dtype is None:
        return _bytes_elements(raw, name)
    width = np.dtype(dtype).itemsize
    if len(raw) % width:
        raise TensorError(
            f"input {name!r} ({datatype}) has {len(raw)} bytes of binary data, not a multiple"
            f" of {width}",
            f"send {width}-byte little-endian values",
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _bytes_elements(raw: bytes, name: str) -> list[Any]:
    out: list[Any] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise TensorError(
                f"input {name!r} (BYTES): binary data ends inside an element's 4-byte length",
                "send each element as a 4-byte little-endian length, then its bytes",
            )
        (n,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + n > len(raw):
            raise TensorError(
                f"input {name!r} (BYTES): element {len(out)} claims {n} bytes, {len(raw) - at}"
                " are left",
                "send each element as a 4-byte little-endian length, then its bytes",
            )
        try:
            out.append(raw[at : at + n].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise TensorError(
                f"input {name!r} (BYTES): element {len(out)} is not UTF-8 text ({exc.reason})",
                "send text as UTF-8",
            ) from exc
        at += n
    return out


def to_binary(values: list[Any], datatype: str) -> bytes:
    """The binary form of one output tensor's flat ``values`` (the inverse of
    :func:`from_binary`)."""
    import numpy as np

    dtype = DTYPES[datatype]
    if dtype is not None:
        return np.asarray(values, dtype=dtype).tobytes()
    parts = []
    for v in values:
        b = v if isinstance(v, bytes) else str(v).encode("utf-8")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def as_datatype(values: list[Any], datatype: str) -> list[Any]:
    """``values`` as JSON values of ``datatype``: ints for integer types, floats for FP,
    bools for BOOL, strings for BYTES."""
    if datatype == "BYTES":
        return [v if isinstance(v, str) else str(v) for v in values]
    if datatype == "BOOL":
        return [bool(v) for v in values]
    if datatype in _INT_BITS or datatype in _UINT_BITS:
        return [int(v) for v in values]
    return [float(v) for v in values]


def encode(
    outputs: list[dict[str, Any]], binary: dict[str, bool]
) -> tuple[list[dict[str, Any]], bytes]:
    """The response's output tensors, each ``{name, datatype, shape, data}``: those named in
    ``binary`` with True lose their ``data`` for ``parameters.binary_data_size`` and their
    bytes, in order, follow the JSON (the binary tensor data extension)."""
    blobs: list[bytes] = []
    shaped: list[dict[str, Any]] = []
    for out in outputs:
        if binary.get(out["name"]):
            blob = to_binary(out["data"], out["datatype"])
            blobs.append(blob)
            out = {k: v for k, v in out.items() if k != "data"}
            out["parameters"] = {"binary_data_size": len(blob)}
        shaped.append(out)
    return shaped, b"".join(blobs)


def known_parameters(params: Any, known: tuple[str, ...], where: str) -> dict[str, Any]:
    """``params`` (a tensor's or request's ``parameters``) when it is an object whose keys are
    all ``known``; else :class:`TensorError`."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise TensorError(f"{where}: 'parameters' must be an object", None)
    _known_parameters(params, known, where)
    return params
