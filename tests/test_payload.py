"""Prediction payloads against a signature: both forms, and every bad field named."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rung.serving.payload import PayloadError, validate

SIGNATURE: dict[str, Any] = {
    "features": ["a", "color"],
    "columns": {
        "a": {"kind": "numeric", "dtype": "float64", "nullable": False},
        "color": {
            "kind": "categorical",
            "dtype": "str",
            "nullable": False,
            "categories": ["blue", "red"],
        },
    },
}


def test_records_columns_and_a_bare_record_give_the_same_frame() -> None:
    records = validate(
        {"records": [{"a": 1.5, "color": "red"}, {"a": 2, "color": "blue", "extra": 1}]}, SIGNATURE
    )
    columns = validate({"columns": {"a": [1.5, 2], "color": ["red", "blue"]}}, SIGNATURE)
    assert (
        records.to_dict("list")
        == columns.to_dict("list")
        == {"a": [1.5, 2], "color": ["red", "blue"]}
    )
    assert list(validate({"a": 0.1, "color": "red"}, SIGNATURE).columns) == ["a", "color"]


def test_every_bad_field_is_named() -> None:
    body = {
        "records": [{"a": "high", "color": "green"}, {"color": "red"}, {"a": None, "color": "blue"}]
    }
    with pytest.raises(PayloadError) as info:
        validate(body, SIGNATURE)
    err = info.value
    assert err.status == 422
    assert [(e.loc, e.msg.split(":")[0].split(",")[0]) for e in err.errors] == [
        (["records", 0, "a"], "expected a number"),
        (["records", 0, "color"], "unknown category 'green'"),
        (["records", 1, "a"], "field required"),
        (["records", 2, "a"], "null is not allowed (the training data had none)"),
    ]
    assert "records.0.a" in err.message and "(and 3 more)" in err.message


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"records": "x"},
        {"columns": {"a": [1], "color": ["red", "blue"]}},
        {"columns": {"a": 1}},
        {"records": []},
    ],
)
def test_malformed_bodies_are_422_not_500(body: Any) -> None:
    with pytest.raises(PayloadError):
        validate(body, SIGNATURE)


@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["red", "blue"])
        ),
        min_size=1,
        max_size=20,
    )
)
def test_valid_batches_round_trip_in_both_forms(rows: list[tuple[float, str]]) -> None:
    as_records = validate({"records": [{"a": a, "color": c} for a, c in rows]}, SIGNATURE)
    as_columns = validate(
        {"columns": {"a": [a for a, _ in rows], "color": [c for _, c in rows]}}, SIGNATURE
    )
    assert as_records.equals(as_columns) and len(as_records) == len(rows)


@given(
    st.one_of(
        st.text(), st.booleans(), st.lists(st.integers()), st.dictionaries(st.text(), st.integers())
    )
)
def test_no_value_of_a_wrong_type_gets_through(value: Any) -> None:
    with pytest.raises(PayloadError):
        validate({"a": value, "color": "red"}, SIGNATURE)
