"""Every integer option and argument of the CLI reads ASCII digits only (docs/limits.md).

Python's ``int()`` reads any Unicode decimal digit (``"١"`` is 1), so click's INT would let
``rung model promote NAME ١`` promote version 1. The tree's integer parameters are retyped
once, when it is built (``rung.cli.app.ascii_ints``); these tests hold the kind, not the
example: every Unicode digit string, several commands, and every parameter of the tree.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main
from hypothesis import given
from hypothesis import strategies as st

from conftest import rung_cli
from rung.cli.app import AsciiFloatRange, AsciiIntRange
from rung.cli.main import app
from rung.core import limits

# every character int() reads as a digit that is not 0-9
_UNICODE_DIGITS = [chr(c) for c in range(0x80, 0x110000) if unicodedata.category(chr(c)) == "Nd"]


def _walk(command: click.Command) -> Iterator[click.Parameter]:
    yield from command.params
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)


def test_every_integer_parameter_of_the_tree_reads_ascii_only() -> None:
    params = [
        p
        for p in _walk(typer.main.get_command(app))
        if isinstance(p.type, click.types.IntParamType)
    ]
    assert len(params) >= 5
    for p in params:
        assert isinstance(p.type, AsciiIntRange), p.name


def test_every_float_parameter_of_the_tree_reads_ascii_finite_numbers() -> None:
    params = [
        p
        for p in _walk(typer.main.get_command(app))
        if isinstance(p.type, click.types.FloatParamType)
    ]
    assert params
    for p in params:
        assert isinstance(p.type, AsciiFloatRange), p.name
    kind = AsciiFloatRange(None, None)
    assert kind.convert("1.5", None, None) == 1.5
    for text in ("١.٥", "nan", "inf", "-inf", "𝟙"):
        with pytest.raises(click.BadParameter):
            kind.convert(text, None, None)


@given(
    st.lists(st.sampled_from(_UNICODE_DIGITS), min_size=1, max_size=4),
    st.text(alphabet="0123456789", max_size=3),
)
def test_a_number_with_any_unicode_digit_is_refused(unicode: list[str], ascii: str) -> None:
    text = ascii + "".join(unicode)
    assert int(text) >= 0  # what int() would have accepted
    kind = AsciiIntRange(0, limits.MAX_ID)
    with pytest.raises(click.BadParameter, match="digits 0-9"):
        kind.convert(text, None, None)


@given(st.integers(min_value=0, max_value=limits.MAX_ID))
def test_ascii_numbers_still_read(n: int) -> None:
    assert AsciiIntRange(0, limits.MAX_ID).convert(str(n), None, None) == n


@pytest.mark.parametrize("text", [" 1", "1 ", "+1", "1_0", "0x10", "1e3", "", "²"])
def test_other_spellings_int_reads_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        AsciiIntRange(0, 100).convert(text, None, None)


@pytest.mark.parametrize(
    "args",
    [
        ["model", "promote", "m", "١", "--force", "--reason", "x"],
        ["runs", "-n", "١"],
        ["evals", "-n", "١"],
        ["runs", "-n", "٣٢"],
        ["model", "promote", "m", "𝟙", "--force", "--reason", "x"],
        ["automate", "run", "--interval", "١"],
    ],
)
def test_the_cli_refuses_unicode_digits_in_one_line(args: list[str], tmp_path: Path) -> None:
    assert rung_cli("init", cwd=tmp_path).returncode == 0
    out = rung_cli(*args, cwd=tmp_path)
    assert "Traceback" not in out.stderr
    if args[0] == "automate":  # --interval is read as the key automate.interval is
        assert out.returncode == 1 and out.stderr.startswith("error: --interval '١'"), out
        assert "expected a duration" in out.stderr and len(out.stderr.splitlines()) == 1
        return  # with ASCII digits it would run its loop
    assert out.returncode == 2, out
    assert "written with the digits 0-9" in out.stderr
    # the same commands with ASCII digits are parsed (and then fail or succeed on their merits)
    ascii = [("1" if any(c.isdigit() and not c.isascii() for c in a) else a) for a in args]
    again = rung_cli(*ascii, cwd=tmp_path)
    assert "digits 0-9" not in again.stderr and "Traceback" not in again.stderr
