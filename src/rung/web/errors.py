"""Errors of ``rung ui``, one way each: under ``/api/`` the canonical JSON body of every rung
server (:func:`rung.serving.http.error_body`: ``{"error": {"type", "message", "hint",
"fields"}}``) at the error's 4xx status; on a page, the error page — the message, the fix and
a way back — at the same status. A bug answers 500 with the request's id and no traceback
(the server's log has it)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rung.core.errors import InvalidInput, RungError
from rung.serving.http import error_body
from rung.web.render import ApiJSON, environment

_log = logging.getLogger("rung.ui")


def is_api(path: str) -> bool:
    """Whether ``path`` is answered in JSON (the API and its document), not as a page."""
    return path == "/api" or path.startswith("/api/") or path == "/openapi.json"


def answer(
    path: str, exc: RungError, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    """``exc`` at ``status`` (default its own) as JSON under the API, else as the error page."""
    status = status or exc.status
    if is_api(path):
        return ApiJSON(error_body(exc), status_code=status, headers=headers or None)
    from fastapi.responses import HTMLResponse

    html = (
        environment()
        .get_template("error.html")
        .render(
            request=None,
            path=path,
            token=None,
            can_act=False,
            status=status,
            title=_TITLES.get(status, "Error"),
            message=exc.message,
            hint=exc.hint,
        )
    )
    return HTMLResponse(html, status_code=status, headers=headers or None)


_TITLES = {
    400: "Bad request",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Bad input",
    500: "Internal error",
    503: "Unavailable",
}


def refuse(exc: RungError, scope: Any, headers: dict[str, str]) -> Response:
    """A refusal of the token check (:class:`rung.serving.auth.Authorize`): under the API the
    canonical 401/403; a page asked without a token goes to the sign-in page, and comes back
    after it."""
    from urllib.parse import quote

    path = scope["path"]
    if exc.status == 401 and not is_api(path) and scope["method"] == "GET":
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return answer(path, exc, headers=headers)


def install(app: FastAPI) -> None:
    """Every error the app raises answered by :func:`answer`."""

    @app.exception_handler(RungError)
    async def _rung_error(request: Request, exc: RungError) -> Response:
        if exc.status >= 500:
            return _failed(request, exc)
        return answer(request.url.path, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """A query parameter of the wrong type (``?limit=abc``): the canonical 422, naming
        the parameter and what it takes."""
        first = exc.errors()[0] if exc.errors() else {}
        bad = InvalidInput(*_validation_line(first))
        return answer(request.url.path, bad)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        hint = "the navigation bar lists every page" if exc.status_code == 404 else None
        error = RungError(f"{request.method} {request.url.path}: {exc.detail}", hint)
        return answer(request.url.path, error, exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        from rung.store.failures import explain

        known = explain(exc)
        return _failed(request, known or exc)


def _validation_line(error: dict[str, Any]) -> tuple[str, str]:
    """One of pydantic's validation errors (a path or query parameter, a JSON body's field)
    as rung says such mistakes: the value, what is wrong with it, the fix."""
    loc = [str(p) for p in error.get("loc", ())]
    where = loc[-1] if loc else "the request"
    if loc[:1] == ["body"] and len(loc) > 1:
        where = ".".join(loc[1:])
    given = error.get("input")
    shown = repr(given)[:60] if isinstance(given, str | int | float) else None
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{where} {shown} is not a whole number", f"give {where} as a whole number"
    if kind.startswith(("greater_than", "less_than")):
        bound = next(iter(context.values()), "?")
        relation = kind.replace("_equal", " or equal").replace("_", " ")
        return f"{where} {shown} is out of range", f"give {where} {relation} {bound}"
    if kind in ("string_pattern_mismatch", "string_too_short") and where == "reason":
        return "the reason is empty", "say why, in a few words"
    if kind == "missing":
        return f"{where} is missing", f"give {where}"
    message = str(error.get("msg", "invalid")).rstrip(".")
    return f"{where}{f' {shown}' if shown else ''}: {message}", "see /docs for what it takes"


def _failed(request: Request, exc: BaseException) -> Response:
    """A 5xx: the log has the error under an id; the answer names only the id."""
    rid = secrets.token_hex(8)
    status = exc.status if isinstance(exc, RungError) else 500
    _log.error("request %s: %s %s failed", rid, request.method, request.url.path, exc_info=exc)
    hint = exc.hint if isinstance(exc, RungError) and status == 503 else None
    shown = RungError(
        f"the server could not answer (request {rid})",
        hint or f"the server's log has the error under request {rid}",
    )
    return answer(request.url.path, shown, status)
