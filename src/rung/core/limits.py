"""Every limit on what enters rung, in one place: text lengths and integer ranges.

PostgreSQL refuses a ``VARCHAR(n)`` value longer than ``n`` characters and an integer past
its column's range; SQLite stores both silently. So rung checks every value where it enters
(the CLI, the Python API, the configuration, the serving API) against the limits named here,
and :class:`rung.store.metadata.Tx` checks them again before any insert, so both backends keep
the same rows and refuse the same values with the same one-line error.

The schema (:mod:`rung.store.schema`) takes its ``String(n)`` lengths from these constants,
and :data:`COLUMNS` lists every text column with its limit and what a user calls it; a test
checks that the two agree, so a new column cannot be added without a limit. Lengths count
characters (Unicode code points), as PostgreSQL does. The user-facing table is in
``docs/limits.md``.
"""

from __future__ import annotations

import re
from typing import Any

from rung.core.errors import InvalidInput

# -- integers ----------------------------------------------------------------------------

MAX_ID = 2**63 - 1
"""The largest id, version or count accepted (PostgreSQL's BIGINT, SQLite's INTEGER)."""

# -- names a user chooses ----------------------------------------------------------------

NAME = 200
"""Dataset, model, pipeline, run and step names; step output names."""
ALIAS = 100
"""Model aliases (``champion``)."""
TRIGGER = 100
"""Automation trigger names (``[[automate.triggers]] name``)."""
KEY = 250
"""Parameter and metric names, evaluation labels."""
WHO = 200
"""Who moved an alias: ``RUNG_USER`` or the login name."""
REQUEST_ID = 64
"""A served request's id (rung's own are 32 hex digits) and a client's ``X-Request-ID``,
kept as its correlation id."""
WINDOW = 50
"""A monitoring window as written (``1000``, ``1d``)."""

# -- values rung writes itself, sized from the ones above ---------------------------------

HASH = 64
"""A blake3/sha256 hex digest or a cache key; a git commit id."""
WORD = 16
"""A status or an action (``succeeded``, ``promote``)."""
RUN_TRIGGER = 200
"""Why a run started: ``manual``, ``reproduce``, ``automate job ID: TRIGGER``."""
MODEL_REF = NAME + 1 + ALIAS
"""``NAME@ALIAS`` or ``NAME@VERSION``."""
STATE_KEY = 320
"""Composite keys: ``MODEL/TRIGGER``, ``HASH:DATASET@VERSION``, ``automate:MODEL``."""
HOLDER = 200
"""A lease holder: ``HOST:PID:NONCE``."""
HOST = 255
"""A host name (the longest a DNS name can be)."""
PROCESS = 64
"""A process's identity beside its pid: its start time, pid namespace and boot id."""

COLUMNS: dict[tuple[str, str], tuple[int, str]] = {
    ("artifacts", "hash"): (HASH, "artifact hash"),
    ("artifacts", "kind"): (32, "artifact kind"),
    ("artifacts", "media_type"): (128, "media type"),
    ("datasets", "name"): (NAME, "dataset name"),
    ("datasets", "artifact_hash"): (HASH, "artifact hash"),
    ("datasets", "format"): (32, "dataset format"),
    ("runs", "name"): (NAME, "run name"),
    ("runs", "kind"): (WORD, "run kind"),
    ("runs", "status"): (WORD, "run status"),
    ("runs", "trigger"): (RUN_TRIGGER, "run trigger"),
    ("runs", "code_commit"): (HASH, "code commit"),
    ("runs", "code_hash"): (HASH, "code hash"),
    ("runs", "host"): (HOST, "run host"),
    ("runs", "pid_start"): (PROCESS, "run process start"),
    ("step_runs", "name"): (NAME, "step name"),
    ("step_runs", "status"): (WORD, "step status"),
    ("step_runs", "cache_key"): (HASH, "cache key"),
    ("step_runs", "code_hash"): (HASH, "code hash"),
    ("step_io", "direction"): (3, "step input/output direction"),
    ("step_io", "name"): (NAME, "step input/output name"),
    ("step_io", "artifact_hash"): (HASH, "artifact hash"),
    ("metrics", "key"): (KEY, "metric name"),
    ("params", "key"): (KEY, "parameter name"),
    ("evaluations", "model_hash"): (HASH, "model hash"),
    ("evaluations", "baseline_hash"): (HASH, "baseline hash"),
    ("evaluations", "label"): (KEY, "evaluation label"),
    ("evaluations", "verdict"): (WORD, "verdict"),
    ("evaluations", "criteria_digest"): (HASH, "criteria digest"),
    ("model_versions", "name"): (NAME, "model name"),
    ("model_versions", "artifact_hash"): (HASH, "artifact hash"),
    ("model_versions", "kind"): (32, "model format"),
    ("aliases", "name"): (NAME, "model name"),
    ("aliases", "alias"): (ALIAS, "alias"),
    ("alias_events", "name"): (NAME, "model name"),
    ("alias_events", "alias"): (ALIAS, "alias"),
    ("alias_events", "action"): (WORD, "alias action"),
    ("alias_events", "who"): (WHO, "user name (RUNG_USER)"),
    ("predictions", "request_id"): (REQUEST_ID, "request id"),
    ("predictions", "correlation_id"): (REQUEST_ID, "correlation id"),
    ("predictions", "model"): (NAME, "model name"),
    ("predictions", "role"): (WORD, "prediction role"),
    ("feedback", "request_id"): (REQUEST_ID, "request id"),
    ("monitor_windows", "model"): (NAME, "model name"),
    ("monitor_windows", "ref"): (MODEL_REF, "monitored model reference"),
    ("monitor_windows", "window"): (WINDOW, "monitoring window"),
    ("monitor_references", "key"): (STATE_KEY, "monitoring reference key"),
    ("alerts", "model"): (NAME, "model name"),
    ("alerts", "kind"): (40, "alert kind"),
    ("automation_jobs", "model"): (NAME, "model name"),
    ("automation_jobs", "alias"): (ALIAS, "alias"),
    ("automation_jobs", "trigger"): (TRIGGER, "trigger name"),
    ("automation_jobs", "state"): (20, "job state"),
    ("automation_jobs", "decision"): (20, "job decision"),
    ("automation_state", "key"): (STATE_KEY, "automation state key"),
    ("leases", "name"): (STATE_KEY, "lease name"),
    ("leases", "holder"): (HOLDER, "lease holder"),
}
"""Every ``VARCHAR`` column of the metadata store: ``(table, column) -> (limit, what)``."""

_SHOWN = 40  # characters of a refused value shown in a message


def shown(value: str, limit: int = _SHOWN) -> str:
    """``value`` quoted for a one-line message, cut to ``limit`` (40) characters with an
    ellipsis."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def quoted(value: Any, limit: int = _SHOWN) -> str:
    """A value a client sent, quoted for a one-line message and bounded whatever its size:
    a string cut to ``limit`` characters with an ellipsis (:func:`shown`), an integer of more
    than 128 bits named by its number of digits (printing it may even be refused: Python's
    limit of 4,300 digits), any other value's ``repr`` cut the same way."""
    if isinstance(value, str):
        return shown(value, limit)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def bounded(text: str, limit: int = 500) -> str:
    """``text`` (a message, a field's path) at most ``limit`` characters: what is cut is
    counted, so a huge value quoted anywhere never makes a huge answer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def not_utf8(name: str) -> InvalidInput:
    """The one-line error for a file or folder name that is not valid UTF-8 (on POSIX,
    Python carries its undecodable bytes as lone surrogates, which no database, JSON document
    or log line can hold). The name is shown with the bad bytes as ``\\xNN``."""
    raw = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return InvalidInput(
        f"the file or folder name '{raw if len(raw) <= 80 else '…' + raw[-79:]}' is not valid UTF-8",
        "rename it to a UTF-8 name (e.g. `convmv -f latin1 -t utf-8 --notest NAME`)",
    )


def check_utf8_name(name: str) -> str:
    """Return ``name`` (a path as ``os`` gives it) if it is valid UTF-8, else raise
    :func:`not_utf8`'s InvalidInput."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise not_utf8(name) from None
    return name


def check_text(value: str, what: str) -> str:
    """Return ``value`` if it holds no control character (:func:`rung.core.text.is_control`:
    C0/C1 controls such as ESC, newline and tab, DEL, line separators, bidi controls), else
    raise :class:`InvalidInput` naming the field and the characters, escaped. The one rule
    for free text a user gives rung (docs/limits.md)."""
    from rung.core.text import control_chars, printable

    bad = control_chars(value)
    if bad:
        shown_value = printable(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")
        raise InvalidInput(
            f"{what} '{shown_value}' holds control character(s)"
            f" {', '.join(printable(c) for c in bad)}",
            "write it on one line without control characters (escape sequences, tabs, newlines)",
        )
    return value


def check_length(value: str, limit: int, what: str, hint: str | None = None) -> str:
    """Return ``value`` if it has at most ``limit`` characters and no control character
    (:func:`check_text`), else raise :class:`InvalidInput` naming it (cut for display), its
    length and the limit."""
    check_text(value, what)
    return _too_long(value, limit, what, hint)


def _too_long(value: str, limit: int, what: str, hint: str | None = None) -> str:
    if len(value) > limit:
        from rung.core.text import printable

        raise InvalidInput(
            f"{what} {printable(shown(value))} has {len(value)} characters, over the limit"
            f" of {limit}",
            hint or f"shorten it to at most {limit} characters",
        )
    return value


def check_column(table: str, column: str, value: object) -> None:
    """Check one value about to be written to ``table.column`` against its limit (text only;
    columns that are not ``VARCHAR`` and values that are not strings pass)."""
    if isinstance(value, str):
        entry = COLUMNS.get((table, column))
        if entry is not None and len(value) > entry[0]:
            _too_long(value, entry[0], entry[1])


_DIGITS = re.compile(r"[0-9]+")


def is_digits(text: str) -> bool:
    """True when ``text`` is written with ASCII digits only (``"12"``; not ``"²"``, ``"١٢"``,
    ``"-1"`` or ``""``) — what rung reads as an id or a version."""
    return _DIGITS.fullmatch(text) is not None


def parse_int(
    text: str, what: str, low: int = 1, high: int = MAX_ID, hint: str | None = None
) -> int:
    """``text`` as an integer in ``low..high``, or :class:`InvalidInput` naming the value and
    the range. Only ASCII digits (with an optional leading ``-`` when ``low`` is negative) are
    read: Unicode digits, signs, spaces and underscores that ``int()`` would accept are refused,
    so that one spelling means one number everywhere."""
    body = text[1:] if text.startswith("-") and low < 0 else text
    if not is_digits(body) or len(body) > 40:
        raise InvalidInput(
            f"{what} {shown(text)} is not a whole number", hint or f"use a number in {low}..{high}"
        )
    return check_int(int(text), what, low, high, hint)


def check_int(
    value: int, what: str, low: int = 1, high: int = MAX_ID, hint: str | None = None
) -> int:
    """Return ``value`` if ``low <= value <= high``, else raise :class:`InvalidInput` naming it
    and the range."""
    if not low <= value <= high:
        raise InvalidInput(
            f"{what} {shown(str(value))} is out of range {low}..{high}",
            hint or f"use a number in {low}..{high}",
        )
    return value
