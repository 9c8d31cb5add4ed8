"""What every page and API route of ``rung ui`` shares: the JSON answer, the templates, the
formats of numbers and times, and the request's workspace and token.

**JSON.** :class:`ApiJSON` encodes with :func:`rung.core.hashing.ordered_json`: a non-finite
float (a NaN metric) becomes the string ``"nan"``/``"inf"`` — strict JSON that any client
parses — and numpy and pandas scalars plain values.

**Pages** are Jinja2 templates (``rung/web/templates``) rendered on the server with
autoescaping on for every template: nothing a run name, a parameter, a dataset or a URL holds
is written into a page unescaped (docs/ui.md, "Security"). Values that a page's script needs
go through Jinja2's ``tojson`` filter, which escapes ``<``, ``>``, ``&`` and quotes.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse

from rung.core import units
from rung.core.errors import InvalidInput
from rung.core.hashing import ordered_json

NAV = (
    ("/", "Home"),
    ("/runs", "Runs"),
    ("/lineage", "Lineage"),
    ("/datasets", "Datasets"),
    ("/evaluations", "Evaluations"),
    ("/models", "Models"),
    ("/monitoring", "Monitoring"),
    ("/automation", "Automation"),
)
"""The pages in the navigation bar: (path, title)."""


class BadQuery(InvalidInput):
    """A malformed query parameter of a page or API route (a filter, a sort key): HTTP 400."""

    status = 400


@contextmanager
def bad_query() -> Iterator[None]:
    """Within it, :class:`~rung.core.errors.InvalidInput` (what reading a filter or a sort
    key raises) is a :class:`BadQuery`: the request, not a stored value, is wrong."""
    try:
        yield
    except InvalidInput as exc:
        if isinstance(exc, BadQuery):
            raise
        raise BadQuery(exc.message, exc.hint) from exc


class ApiJSON(JSONResponse):
    """A JSON answer of ``/api/``: strict JSON, non-finite floats as strings."""

    def render(self, content: Any) -> bytes:
        import json

        try:  # the standard library's C encoder: 20x faster than walking the values first
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (ValueError, TypeError):  # a NaN or infinity, a numpy value: normalised
            text = ordered_json(content)
        return text.encode("utf-8")


def workspace(request: Request) -> Any:
    """The app's :class:`~rung.workspace.Workspace`."""
    return request.app.state.ws


def can_act(request: Request) -> bool:
    """Whether the request's token may act (approve, promote, roll back): an ``admin`` token.
    Without tokens configured the UI is read-only (docs/ui.md)."""
    scopes = (request.scope.get("state") or {}).get("scopes") or ()
    return "admin" in scopes


@cache
def environment() -> Any:
    """The Jinja2 environment: the package's templates, autoescaping always on, undefined
    names an error (a template's typo fails its test, not silently renders nothing)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("rung.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, number=number, value=value, duration=duration, size=size)
    env.globals.update(nav=NAV)
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` (plus ``request``, ``path``, ``token``,
    ``can_act``) as an HTML answer."""
    state = request.scope.get("state") or {}
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            path=request.url.path,
            token=state.get("token"),
            can_act=can_act(request),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def when(ts: float | None) -> str:
    """A UNIX time as ``YYYY-MM-DD HH:MM:SS`` UTC; ``—`` for none."""
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def number(value: Any, digits: int = 4) -> str:
    """A metric or parameter as shown in a table: floats to ``digits`` significant digits,
    ``nan``/``inf`` as such, anything else as text; ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


_LOOKS_TYPED = re.compile(
    r"\s*([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|true|false|null|nan|inf)\s*", re.I
)


def value(v: Any) -> str:
    """A parameter as shown in a table: numbers as :func:`number`, booleans and null as JSON
    writes them, lists and mappings as JSON, and a text as it is — in quotes when it would
    read as a number, a boolean or null (``"10"`` is not ``10``: a filter compares it as
    text)."""
    if v is None or isinstance(v, bool | list | dict):
        import json

        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, str):
        return f'"{v}"' if _LOOKS_TYPED.fullmatch(v) or v == "" else v
    return number(v)


def duration(seconds: float | None) -> str:
    """Seconds as ``120 ms`` or ``3.4 s``; ``—`` for none."""
    return units.seconds(seconds, "—")


def size(n: int | None) -> str:
    """Bytes as ``512 B``, ``1.5 KB`` …; ``—`` for none."""
    return units.size(n, "—")
