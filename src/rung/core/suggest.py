""" "Did you mean": the nearest known names to a mistyped one, written once.

Every error about an unknown named thing (dataset, model, alias, run, pipeline, evaluation,
command, option) builds its hint here, so that a typo anywhere gets the same kind of answer:
``unknown dataset 'cancr' — did you mean 'cancer'? (see `rung data list`)``.

Closeness is :func:`difflib.get_close_matches` (Ratcliff/Obershelp similarity, ratio ≥ 0.6 by
default): one deleted, inserted, replaced or transposed character of a name of three or more
characters is always within it. Names are compared case-insensitively, and a candidate that
is the same text but for Unicode normalization, letter case or surrounding spaces (``Zürich``
typed decomposed, ``oslo``, ``"Oslo "``) is the one suggested.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from rung.core.errors import NotFound

CUTOFF = 0.6


MARGIN = 0.1


def closest(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = CUTOFF) -> list[str]:
    """Up to ``n`` of ``candidates`` nearest to ``word``, best first (never ``word`` itself):
    those with a similarity of at least ``cutoff`` and within ``MARGIN`` (0.1) of the best,
    so that a clear winner is suggested alone ('cancer', not 'cancer' or 'challenger').

    A candidate equal to ``word`` but for Unicode normalization (NFC), letter case and
    surrounding spaces is the only one returned.
    """
    pool = sorted({c for c in candidates if c and c != word})
    if not word or not pool:
        return []
    folded = _folded(word)
    same = [c for c in pool if _folded(c) == folded]
    if same:
        return same[:n]
    lowered: dict[str, list[str]] = {}
    for c in pool:
        lowered.setdefault(c.lower(), []).append(c)
    typed = word.lower()
    found = difflib.get_close_matches(typed, list(lowered), n=n, cutoff=cutoff)
    if not found:
        return []
    best = difflib.SequenceMatcher(None, found[0], typed).ratio()
    near = [f for f in found if difflib.SequenceMatcher(None, f, typed).ratio() >= best - MARGIN]
    return [c for low in near for c in lowered[low]][:n]


def _folded(text: str) -> str:
    """``text`` as a reader sees it: NFC, no surrounding spaces, case-folded."""
    import unicodedata

    return unicodedata.normalize("NFC", text).strip().casefold()


def did_you_mean(
    word: str, candidates: Iterable[str], hint: str | None = None, fmt: str = "{}"
) -> str | None:
    """``did you mean 'x'?`` (or ``'x' or 'y'``) followed by ``hint`` in brackets, or ``hint``
    alone when nothing is close. ``fmt`` shapes each suggestion (e.g. ``"cancer@{}"``)."""
    near = closest(word, candidates)
    if not near:
        return hint
    shown = " or ".join(repr(fmt.format(c)) for c in near)
    return f"did you mean {shown}?" + (f" ({hint})" if hint else "")


def unknown(
    what: str,
    word: str,
    candidates: Iterable[str],
    hint: str | None = None,
    *,
    message: str | None = None,
    fmt: str = "{}",
) -> NotFound:
    """The :class:`NotFound` for an unknown ``what`` named ``word``: ``unknown WHAT 'WORD'``
    (or ``message``), with the nearest ``candidates`` and then ``hint`` as its fix."""
    return NotFound(
        message or f"unknown {what} {word!r}", did_you_mean(word, candidates, hint, fmt)
    )
