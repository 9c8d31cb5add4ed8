"""A criterion's bound is written with ASCII digits and is finite (issue 10, new-user report
item 7): ``accuracy >= ١.٥`` was read as 1.5 (``\\d`` matches every Unicode digit) and
``accuracy >= 1e999`` as infinity, though ``accuracy >= inf`` was refused. One parser
(``rung.core.criteria.parse_criterion``) serves ``--criterion``, ``[eval] criteria`` and
``[automate] criteria``."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import rung_cli
from rung.config import validate
from rung.core.criteria import parse_criterion
from rung.core.errors import InvalidInput

# every character Unicode calls a number (decimal digits of all scripts, fullwidth,
# superscripts, fractions, roman numerals …) that is not an ASCII digit
NON_ASCII_NUMBER = st.characters(categories=["Nd", "Nl", "No"]).filter(lambda c: not c.isascii())
FORMS = st.sampled_from(
    ["1_000", "0x10", "0b1", "1e999", "-1e999", "inf", "nan", " nan", "Infinity", "1,5", "٫5"]
)
TEMPLATES = st.sampled_from(
    ["accuracy >= {}", "mean f1 >= {}", "mae drop <= {} vs baseline", "f1 rise <= {}% vs baseline"]
)


@given(TEMPLATES, st.text(st.sampled_from("0123456789."), max_size=3), NON_ASCII_NUMBER, st.data())
def test_a_bound_with_any_non_ascii_digit_is_refused(
    template: str, ascii_part: str, char: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(ascii_part)))
    bound = ascii_part[:at] + char + ascii_part[at:]
    with pytest.raises(InvalidInput, match="malformed criterion"):
        parse_criterion(template.format(bound))


@given(TEMPLATES, FORMS)
def test_other_spellings_of_numbers_are_refused(template: str, bound: str) -> None:
    with pytest.raises(InvalidInput, match="malformed criterion"):
        parse_criterion(template.format(bound))


@given(TEMPLATES, st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e300))
def test_ascii_finite_bounds_read_exactly(template: str, value: float) -> None:
    criterion = parse_criterion(template.format(repr(value)))
    expected = value / 100 if "%" in template else value
    assert criterion.bound == expected


def test_the_refusal_names_ascii_digits() -> None:
    with pytest.raises(InvalidInput, match="ASCII digits"):
        parse_criterion("accuracy >= ١.٥")
    assert unicodedata.digit("١") == 1  # the example is a real digit, read by float()
    assert float("١.٥") == 1.5


@pytest.mark.parametrize("bound", ["١.٥", "1e999", "０.５"])
def test_at_the_cli_and_in_the_configuration(tmp_path: Path, bound: str) -> None:
    for key in ("eval", "automate"):
        with pytest.raises(InvalidInput, match=rf"{key}\.criteria\[0\]"):
            validate({key: {"criteria": [f"accuracy >= {bound}"]}})
    root = tmp_path / "ws"
    root.mkdir()
    (root / "rung.toml").write_text("")
    out = rung_cli(
        "eval",
        "m@1",
        "--on",
        "d@1",
        "--label",
        "y",
        "--criterion",
        f"accuracy >= {bound}",
        cwd=root,
    )
    assert out.returncode != 0
    assert "malformed criterion" in out.stderr and "Traceback" not in out.stderr, out.stderr
