"""Durations and monitoring windows as written in ``rung.toml`` and on the command line.

Pure parsing, shared by the configuration schema (which checks them when a workspace opens)
and by the monitor and the automation loop (which use them)."""

from __future__ import annotations

from typing import Any

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: Any) -> float:
    """``90`` (seconds), ``"90s"``, ``"30m"``, ``"6h"``, ``"1d"``, ``"2w"``: seconds, >= 0.

    Raises ValueError naming the accepted forms for anything else (booleans included)."""
    if isinstance(text, bool) or not isinstance(text, int | float | str):
        raise ValueError("expected a duration such as 90, 30m, 6h, 1d")
    spec = str(text).strip().lower()
    if not spec.isascii():  # float() reads Unicode digits ("١٠s"); one spelling per number
        raise ValueError("expected a duration such as 90, 30m, 6h, 1d")
    try:
        unit = UNITS[spec[-1]] if spec and spec[-1] in UNITS else 1
        value = float(spec[:-1] if spec and spec[-1] in UNITS else spec) * unit
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a duration such as 90, 30m, 6h, 1d")
    return value


def spoken(seconds: float) -> str:
    """``seconds`` in the largest unit that divides it: ``"1d"``, ``"10m"``, ``"366d"``."""
    for unit, size in sorted(UNITS.items(), key=lambda u: -u[1]):
        if unit != "w" and seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


MAX_WINDOW_SECONDS = 100 * 365 * 86400
"""The longest period a monitoring window may span: a century."""


class WindowOutOfRange(ValueError):
    """A period written correctly but zero or longer than :data:`MAX_WINDOW_SECONDS`; its
    text says which (too small or too large)."""


def window_spec(text: Any) -> tuple[str, float]:
    """``1000`` (the latest 1000 predicted rows, 1..2**63-1) or ``30m``/``12h``/``1d``/``2w``
    (a period ending now, up to a century): ``("rows", 1000)`` or ``("seconds", 43200.0)``.

    The one grammar of windows, for ``rung.toml`` and ``rung monitor --window`` alike. Raises
    :class:`WindowOutOfRange` for a well-formed period out of range, ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError("expected a number of predictions (1000) or a period (30m, 12h, 1d)")
    spec = str(text).strip().lower().removesuffix(" predictions")
    if not spec.isascii():  # isdigit() and float() read Unicode digits ("١٠٠٠")
        raise ValueError("expected a number of predictions (1000) or a period (30m, 12h, 1d)")
    if spec.isdigit() and 0 < int(spec) <= 2**63 - 1:
        return "rows", float(spec)
    if len(spec) > 1 and spec[-1] in UNITS and spec[:-1].replace(".", "", 1).isdigit():
        seconds = float(spec[:-1]) * UNITS[spec[-1]]
        if 0 < seconds <= MAX_WINDOW_SECONDS:
            return "seconds", seconds
        if seconds == 0:
            raise WindowOutOfRange("expected a period above 0, e.g. 30m, 12h, 1d, 2w")
        raise WindowOutOfRange("expected a period of at most a century (30m, 12h, 1d, 2w)")
    raise ValueError("expected a number of predictions (1000) or a period (30m, 12h, 1d)")
