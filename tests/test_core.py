"""Pure core: hashing, canonical JSON, references and parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rung.core.errors import InvalidInput
from rung.core.hashing import canonical_json, hash_bytes, hash_file, hash_json
from rung.core.refs import parse_param, parse_params, parse_ref

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values))
def test_canonical_json_ignores_key_order(d: dict) -> None:
    reordered = dict(reversed(list(d.items())))
    assert canonical_json(d) == canonical_json(reordered)
    assert hash_json(d) == hash_json(reordered)


@given(json_values, json_values)
def test_hash_json_distinguishes_different_values(a: object, b: object) -> None:
    if canonical_json(a) != canonical_json(b):
        assert hash_json(a) != hash_json(b)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=5000))
def test_hash_file_equals_hash_of_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("h") / "f.bin"
    path.write_bytes(data)
    assert hash_file(path) == hash_bytes(data)


def test_hash_file_of_large_file_uses_all_cores_and_agrees(tmp_path: Path) -> None:
    data = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # above the mmap threshold
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert hash_file(path) == hash_bytes(data)


def test_parse_ref() -> None:
    assert parse_ref("sp500").version is None
    assert parse_ref("sp500@3").version == 3
    assert str(parse_ref("a.b-c_d@12")) == "a.b-c_d@12"
    for bad in ("sp500@x", "sp500@0", "@3", "bad name", "x@-1"):
        with pytest.raises(InvalidInput):
            parse_ref(bad)


def test_parse_param_reads_json_or_text() -> None:
    assert parse_param("window=20") == ("window", 20)
    assert parse_param("rate=0.5") == ("rate", 0.5)
    assert parse_param("flag=true") == ("flag", True)
    assert parse_param("start=2007-01-01") == ("start", "2007-01-01")
    assert parse_param("names=[1,2]") == ("names", [1, 2])
    assert parse_params(["a=1", "b=x"]) == {"a": 1, "b": "x"}


@pytest.mark.parametrize("bad", ["window", "=3", "1x=3", "a b=3"])
def test_malformed_param_names_the_value_and_the_fix(bad: str) -> None:
    with pytest.raises(InvalidInput, match="malformed parameter") as info:
        parse_param(bad)
    assert repr(bad) in str(info.value)
    assert "key=value" in str(info.value)
