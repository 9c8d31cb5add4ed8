"""Cron expressions of schedule triggers: five fields, UTC, read by cronsim.

:func:`check_cron` is the one reader, used by the configuration schema when a workspace opens
and by the automation loop: it names the field and the value that is wrong (``minute 61 is
out of range 0-59``), or says that a well-formed expression never fires (``0 0 31 2 *``),
where cronsim says only ``Bad minute`` / ``Bad day-of-month``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
EXAMPLE = "five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'"
_NUMBER = re.compile(r"[0-9]+")


def cron_problem(expr: object) -> str | None:
    """What is wrong with ``expr``, in a few words, or None when cronsim reads it and it fires
    at least once (a year from now is searched: every valid expression fires within one)."""
    from cronsim import CronSim, CronSimError

    if not isinstance(expr, str):
        return "expected a string"
    if not expr.isascii() or not expr.isprintable():
        return "expected ASCII letters, digits and * , - / only"
    fields = expr.split()
    if len(fields) != 5:
        return (
            f"expected five fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for text, (name, low, high) in zip(fields, FIELDS, strict=True):
        for item in text.split(","):
            base, _, step = item.partition("/")
            for number in _NUMBER.findall(base.split("#")[0]):
                if not low <= int(number) <= high:
                    return f"{name} {int(number)} is out of range {low}-{high}"
            if step and (not step.isdigit() or not 1 <= int(step) <= high):
                return f"{name} step {step!r} is out of range 1-{high}"
    try:
        sim = CronSim(expr, datetime.now(UTC))
    except CronSimError as exc:
        what = str(exc).removeprefix("Bad ").replace("-", " ")
        if what == "day of month" and re.fullmatch(r"[0-9,\-/]+", fields[2]):
            # every number is in range, so no month of the month field has that day
            return f"it never fires (no month {fields[3]!r} has day {fields[2]!r})"
        field = dict(zip([f[0] for f in FIELDS], fields, strict=True)).get(what)
        return f"cannot read the {what} field {field!r}" if field else f"cannot read it ({exc})"
    try:
        next(sim)
    except (StopIteration, CronSimError):
        return "it never fires"
    return None


def check_cron(expr: object) -> str:
    """``expr`` if :func:`cron_problem` finds nothing, else ValueError with the problem."""
    problem = cron_problem(expr)
    if problem is not None:
        raise ValueError(problem)
    return str(expr)
