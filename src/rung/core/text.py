"""Free text that reaches a terminal: control characters, shown escaped.

The rule for every free-text value a user gives rung (a reason, ``RUNG_USER``, a run,
parameter or metric name, a label, a trigger name …): **control characters are refused
where the text enters** (:func:`rung.core.limits.check_text`, which
:func:`rung.core.limits.check_length` applies to every bounded text), so no stored value can
move the cursor, colour the terminal, reorder text (bidi controls) or break a table's row.
What rung shows that it did not check — a peer's answer, a value stored before this rule —
is escaped by :func:`printable` on the way out (``\\x1b``, ``\\n``)."""

from __future__ import annotations

import unicodedata

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
"""Bidirectional controls (Trojan Source, CVE-2021-42574): they reorder what follows."""


def is_control(char: str) -> bool:
    """True for a C0/C1 control or DEL (category Cc, tab and newline included), a line or
    paragraph separator (Zl, Zp) and a bidirectional control."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def control_chars(text: str) -> list[str]:
    """The distinct control characters of ``text`` (:func:`is_control`), in order."""
    return list(dict.fromkeys(c for c in text if is_control(c)))


def printable(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\\x1b``,
    ``\\n``, ``\\u202e``), so that it prints on one line and cannot drive the terminal."""
    if not any(is_control(c) for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if is_control(c) else c for c in text)


SHOWN_MORE = 5
"""How many of the further problems an error message names after its first one."""


def and_more(others: list[str], noun: str = "", total: int | None = None) -> str:
    """What an error message says after its first problem about the ``others``: ``""`` for
    none, else ``" (and 2 more: records.1.n, records.2.color)"`` — each named (at most
    :data:`SHOWN_MORE` of them, then ``…``), never a bare count the reader cannot act on.
    ``noun``, when given, says what they are (``"and 2 more bad values: …"``); ``total``: how
    many there are when ``others`` names only the first few (default: ``len(others)``)."""
    count = len(others) if total is None else total
    if count <= 0:
        return ""
    shown = ", ".join(others[:SHOWN_MORE]) + (", …" if count > min(len(others), SHOWN_MORE) else "")
    return f" (and {count} more{' ' + noun if noun else ''}: {shown})"
