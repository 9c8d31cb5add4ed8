"""Parsing what users type: ``NAME@VERSION`` references and ``key=value`` parameters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rung.core.errors import InvalidInput
from rung.core.limits import ALIAS, KEY, MAX_ID, NAME, TRIGGER, check_length, parse_int, shown

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_TARGET = re.compile(r"^[^:\s][^:]*:[A-Za-z_][A-Za-z0-9_]*$")


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


def check_alias(alias: str, what: str = "alias") -> str:
    """Return ``alias`` if it is a valid model alias (a letter, then letters, digits, '_'
    and '-'; at most :data:`rung.core.limits.ALIAS` characters), else raise
    :class:`InvalidInput`. The registry and ``[automate] alias`` use this one rule."""
    if not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"invalid {what} {shown(alias)}",
            "use a name such as champion, challenger or production (a letter first, then"
            " letters, digits, '_' or '-')",
        )
    return check_length(alias, ALIAS, what)


def check_trigger_name(name: str, what: str = "trigger name") -> str:
    """A trigger's name: the characters of :func:`check_name`, at most
    :data:`rung.core.limits.TRIGGER` of them."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {what} {shown(name)}",
            "use letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
    return check_length(name, TRIGGER, what)


def check_label(name: str, what: str = "label column") -> str:
    """A column name given as text (``[eval] label``): not blank, no spaces around it, no
    control characters, at most :data:`rung.core.limits.KEY` characters."""
    if not name.strip() or name != name.strip() or not name.isprintable():
        raise InvalidInput(
            f"invalid {what} {shown(name)}",
            "name a column of the evaluation datasets (not blank, no spaces around it)",
        )
    return check_length(name, KEY, what)


_HOST = re.compile(r"\*|(\*\.)?[A-Za-z0-9.\-]{1,253}|(?=.*:.*:)[0-9A-Fa-f:]{2,39}")


def check_host(name: str, what: str = "allowed host") -> str:
    """A ``Host`` name `rung serve` may accept: a host name or address without a port,
    ``*.domain`` (its subdomains) or ``*`` (any)."""
    if not _HOST.fullmatch(name):
        raise InvalidInput(
            f"{what} {shown(name)} is not a host name without a port, *.domain or *",
            "give a name such as models.example.com, 10.0.0.5 or *.example.com",
        )
    return name


def check_ref(text: str, what: str = "dataset") -> str:
    """``text`` if it reads as ``NAME`` or ``NAME@VERSION`` (:func:`parse_ref`)."""
    name, _, _ = text.partition("@")
    check_name(name, f"{what} name")
    parse_ref(text)
    return text


def check_target(text: str) -> str:
    """A pipeline target: ``path/to/file.py:function`` or ``module:function``."""
    if not _TARGET.fullmatch(text):
        raise InvalidInput(
            f"invalid pipeline target {shown(text)}",
            "write path/to/file.py:function or module:function",
        )
    return text


def check_pipeline(text: str, what: str = "pipeline") -> str:
    """A pipeline as ``rung run`` takes it: a ``[pipelines]`` name (:func:`check_name`) or a
    target (:func:`check_target`)."""
    if ":" in text:
        return check_target(text)
    return check_name(text, f"{what} name")


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
