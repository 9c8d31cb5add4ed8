"""Prediction payloads against a signature: both forms, and every bad field named."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
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
    assert "records.0.a" in err.message
    assert "(and 3 more: records.0.color, records.1.a, records.2.a)" in err.message


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
        st.tuples(  # numbers in the range rung accepts (rung.core.numbers)
            st.floats(min_value=-1e100, max_value=1e100), st.sampled_from(["red", "blue"])
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


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["red", "blue", "green", "", "1"]),
    st.lists(st.integers(), max_size=2),
)
_specs = st.sampled_from(
    [
        {"kind": "numeric", "nullable": True},
        {"kind": "numeric", "nullable": False},
        {"kind": "categorical", "categories": ["blue", "red"], "dtype": "object"},
        {"kind": "categorical", "nullable": False, "dtype": "object"},
        {"kind": "boolean"},
        {"kind": "datetime"},
        {"kind": "datetime", "dtype": "datetime64[ns, UTC]", "timezone": "UTC"},
        {"kind": "integer", "dtype": "int64", "nullable": False},
        {"kind": "integer", "dtype": "Int64", "nullable": True},
        {"kind": "boolean", "dtype": "boolean", "nullable": True},
        {"kind": "text", "dtype": "object"},
        {"kind": "categorical", "dtype": "category", "categories": ["blue", "red"]},
        {},
    ]
)


def _check_value(value: Any, spec: dict[str, Any]) -> str | None:
    """The value-by-value check of the column-kind model (for a spec without a kind: single
    values only, as the service checks a feature whose kind its version does not record)."""
    from rung.core.columns import ColumnKind, problem
    from rung.serving.payload import _not_scalar

    return problem(value, ColumnKind.from_dict(spec)) if spec else _not_scalar(value)


@settings(max_examples=300, deadline=None)
@given(spec=_specs, column=st.lists(_values, min_size=1, max_size=8))
def test_the_bulk_check_never_accepts_what_the_value_check_refuses(
    spec: dict[str, Any], column: list[Any]
) -> None:
    """The fast path (whole columns, numpy) agrees with the value-by-value check."""
    from rung.serving.payload import _column_ok

    if _column_ok(column, spec):
        assert all(_check_value(v, spec) is None for v in column)
    signature = {"features": ["f"], "columns": {"f": spec}}
    try:
        frame = validate({"columns": {"f": column}}, signature)
    except PayloadError as exc:
        assert exc.errors and all(e.loc[:2] == ["columns", "f"] for e in exc.errors)
        assert any(_check_value(v, spec) is not None for v in column)
    else:
        assert len(frame) == len(column)
        assert all(_check_value(v, spec) is None for v in column)


FORMS = {
    "records": {"records": [{"a": 1.0, "color": "red"}]},
    "columns": {"columns": {"a": [6.0], "color": ["blue"]}},
    "record": {"a": 2.0, "color": "red"},
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(FORMS)), min_size=2, max_size=3, unique=True))
def test_a_body_mixing_forms_is_refused_naming_them(forms: list[str]) -> None:
    """One body, one form: {"records": ..., "columns": ...} once scored the records and
    dropped the columns silently (the MLflow scoring server refuses it: mlflow/mlflow#6575)."""
    body: dict[str, Any] = {}
    for form in forms:
        body.update(FORMS[form])
    with pytest.raises(PayloadError, match="mixes forms") as caught:
        validate(body, SIGNATURE)
    named = {tuple(f.loc) for f in caught.value.errors}
    assert {("records",), ("columns",)} & named or {("a",), ("color",)} & named


def test_a_feature_named_like_a_form_is_a_bare_record() -> None:
    signature = {
        "features": ["records", "a"],
        "columns": {
            "records": {"kind": "numeric", "dtype": "float64", "nullable": False},
            "a": SIGNATURE["columns"]["a"],
        },
    }
    assert validate({"records": 3.0, "a": 1.0}, signature).to_dict("list") == {
        "records": [3.0],
        "a": [1.0],
    }
    with pytest.raises(PayloadError, match="mixes forms"):
        validate({"columns": {"records": [1.0], "a": [2.0]}, "a": 1.0}, signature)


def test_further_problems_are_named_not_counted() -> None:
    """After its first problem a message names each further one (five, then …), in
    /predict, /feedback and `rung predict`'s file check alike."""
    import pandas as pd

    from rung.core.columns import check_frame
    from rung.core.errors import InvalidInput
    from rung.core.text import and_more

    assert and_more([]) == ""
    assert and_more(["records.1.a"]) == " (and 1 more: records.1.a)"
    many = [f"x{i}" for i in range(7)]
    assert and_more(many) == " (and 7 more: x0, x1, x2, x3, x4, …)"
    assert and_more(many[:2], total=9) == " (and 9 more: x0, x1, …)"
    frame = pd.DataFrame({"a": ["p", "q", "r"], "color": ["red", "red", "green"]})
    with pytest.raises(InvalidInput) as info:
        check_frame(frame, SIGNATURE["columns"], "scoring.csv")
    assert info.value.message.endswith(
        "(and 3 more: column 'a' row 1, column 'a' row 2, column 'color' row 2)"
    ), info.value.message
