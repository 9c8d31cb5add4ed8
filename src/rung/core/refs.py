"""Parsing what users type: ``NAME@VERSION`` references and ``key=value`` parameters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.limits import MAX_ID, NAME, check_length, parse_int, shown

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Ref:
    """A name with an optional version: ``sp500`` or ``sp500@3``."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid dataset/model name (the characters below, at most
    :data:`rung.core.limits.NAME` of them), else raise :class:`InvalidInput` with the rule."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {what} {shown(name)}",
            "use letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
    return check_length(name, NAME, what)


def parse_ref(text: str) -> Ref:
    """Parse ``NAME`` or ``NAME@VERSION`` (VERSION in 1..2^63-1, ASCII digits); anything else
    raises :class:`InvalidInput` naming the value and the rule."""
    name, sep, version = text.partition("@")
    check_name(name)
    if not sep:
        return Ref(name)
    hint = f"write {name}@N with N a whole number in 1..{MAX_ID}"
    return Ref(name, parse_int(version, "version", hint=hint))


def parse_param(text: str) -> tuple[str, Any]:
    """Parse one ``-p key=value``; the value is read as JSON when it parses, else as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise InvalidInput(
            f"malformed parameter {text!r}", "write -p key=value, for example -p window=20"
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def parse_params(items: list[str]) -> dict[str, Any]:
    """Parse several ``key=value`` items into a dict."""
    return dict(parse_param(item) for item in items)
