"""The ``rung ui`` app: one :class:`~rung.workspace.Workspace`, its JSON API under ``/api/``
and the pages made from it, behind the protection every rung server shares.

Composed here from:

* one module per area (:data:`AREAS`), each with a ``router`` holding its API routes and its
  pages (the pages call the same functions the API answers with);
* the token check of ``rung serve`` (:class:`rung.serving.auth.Authorize`) with this app's
  scopes (:func:`ui_scope`) and the token also read from a cookie set at ``/login``;
* the ``Host`` allowlist (:class:`rung.serving.guards.Guard`), :class:`SameOrigin` and
  :class:`Hardened` (``HEAD``, a Content-Security-Policy and the other headers that keep a
  page from being framed or sniffed);
* one error shape (:mod:`rung.web.errors`), the vendored assets under ``/static`` and the
  API's ``/docs`` served from the package (no CDN: it works offline).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rung.serving.auth import ANY, Authorize, Forbidden
from rung.serving.guards import Guard, Protection
from rung.web import errors
from rung.web.render import page

AREAS = (
    "home",
    "runs",
    "lineage",
    "datasets",
    "evaluations",
    "models",
    "monitoring",
    "automation",
    "actions",
)
"""The modules of :mod:`rung.web`, one per page of the navigation bar, in its order (then
``actions``: the admin tokens' promote, roll back and approve, which have no page)."""
COOKIE = "rung_token"
"""The cookie holding a browser's token (HttpOnly, SameSite=Strict)."""
STATIC = Path(__file__).parent / "static"
_OPEN = ("/static/", "/login", "/logout", "/healthz", "/favicon.ico")
_SAFE = ("GET", "HEAD", "OPTIONS")


def ui_scope(method: str, path: str) -> str | None:
    """The scope a request to ``rung ui`` needs: none for the assets, the sign-in page and
    ``/healthz``; ``admin`` for every method that changes something (the actions: approve,
    promote, roll back); ``read`` for every other page and API route (a route added later is
    closed until then)."""
    if path in ("/login", "/logout", "/healthz", "/favicon.ico") or path.startswith("/static/"):
        return None
    if method not in _SAFE:
        return "admin"
    if path in ("/openapi.json", "/docs") or path.startswith("/docs/"):
        return "read" if path != "/docs/oauth2-redirect" else ANY
    return "read"


POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
"""The Content-Security-Policy of every answer: scripts only from the package's own files
(no inline script, no ``eval``), nothing from another site, never framed (clickjacking on
the admin actions). Inline styles are allowed: ECharts' tooltips carry them."""
DOCS_POLICY = POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
"""``/docs`` and ``/redoc``: FastAPI's pages start Swagger UI and ReDoc with an inline script
(their assets are the package's own, as everywhere)."""
_HARDENING = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class Hardened:
    """The ASGI middleware that answers ``HEAD`` as ``GET`` without its body (RFC 9110
    §9.3.2: every page and API route, ``curl -I`` included) and adds :data:`_HARDENING`'s
    headers to every answer that does not set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        docs = scope["path"] in ("/docs", "/redoc")
        policy = (DOCS_POLICY if docs else POLICY).encode()

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                hardening = [(b"content-security-policy", policy), *_HARDENING]
                extra = [(k, v) for k, v in hardening if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, sending)


class SameOrigin:
    """The ASGI middleware refusing (403) a request that changes something when its
    ``Origin`` header names another site than its ``Host``: with the cookie's SameSite=Strict,
    the defence against cross-site request forgery that OWASP's cheat sheet recommends
    (verifying the origin with standard headers)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE:
            headers = dict(scope["headers"])
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            # "null": a sandboxed frame, a file:// page or a redirect across sites: never ours
            if origin and (origin == "null" or urlsplit(origin).netloc != host):
                exc = Forbidden(
                    f"a request from {origin[:100]!r} may not change anything here",
                    "act from rung ui's own pages",
                )
                await errors.answer(scope["path"], exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(ws: Any, protection: Protection | None = None) -> FastAPI:
    """The ASGI app of ``rung ui`` over workspace ``ws``, protected as ``protection`` says
    (default: no tokens — read-only, loopback host names only)."""
    from contextlib import asynccontextmanager

    from rung.serving.docs import install_docs

    protection = protection or Protection()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        protection.tokens.start()  # a token file is followed while serving
        yield
        protection.tokens.stop()

    app = FastAPI(
        title="rung ui",
        description="The workspace's runs, data, evaluations, registry, monitoring and"
        " automation, read only; actions for admin tokens.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.ws = ws
    app.state.protection = protection
    errors.install(app)
    # the last added runs first: Hardened (HEAD, headers) → Guard (Host) → SameOrigin →
    # Authorize → routes
    app.add_middleware(
        Authorize,
        tokens=protection.tokens,
        scope_of=ui_scope,
        cookie=COOKIE,
        refuse=errors.refuse,
    )
    app.add_middleware(SameOrigin)
    app.add_middleware(Guard, allowed_hosts=protection.allowed_hosts, metrics=None)
    app.add_middleware(Hardened)
    for area in AREAS:
        app.include_router(importlib.import_module(f"rung.web.{area}").router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_docs(app)
    _install_login(app, protection)
    return app


def _install_login(app: FastAPI, protection: Protection) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """Browsers ask for it on every page (an API route opened in a tab too)."""
        from fastapi.responses import FileResponse

        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        if not protection.tokens:
            return RedirectResponse(_local(next), status_code=303)
        return page(request, "login.html", title="Sign in", next=_local(next), failed=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        target = _local((form.get("next") or ["/"])[0])
        token = protection.tokens.verify(given) if given else None
        if token is None:
            return page(
                request, "login.html", status=401, title="Sign in", next=target, failed=True
            )
        answer = RedirectResponse(target, status_code=303)
        answer.set_cookie(
            COOKIE,
            given,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return answer

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        return answer


def _local(target: str) -> str:
    """``target`` if it is a path on this server, else ``/`` (no open redirect: ``//evil``,
    ``https://evil`` and ``/\\evil`` go home)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target
