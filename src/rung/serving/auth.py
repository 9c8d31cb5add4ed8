"""Tokens over HTTP: ``Authorization: Bearer <token>`` checked against the route's scope.

The tokens themselves (scopes, hashing, constant-time verification, the token file) are
:mod:`rung.core.tokens`, shared by every rung server. This module is the HTTP side, an ASGI
middleware (it answers before the route, so a refused request never reaches the body parser,
the model or the log):

* no token, a malformed header or an unknown token: **401**, ``WWW-Authenticate: Bearer``
  (with ``error="invalid_token"`` when a token was given), RFC 6750 §3;
* a known token without the route's scope: **403**, ``WWW-Authenticate: Bearer
  error="insufficient_scope", scope="<needed>"``;

both in the canonical error body. With no tokens configured it lets every request through
(and ``rung serve`` then binds loopback only). Which scope each route needs is
:func:`route_scope`. The tokens are a :class:`rung.core.tokens.TokenFile` when they come from
a file: a token revoked or created there is refused or accepted within
:data:`rung.core.tokens.REFRESH_SECONDS`, without a restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rung.core.errors import RungError
from rung.core.tokens import TokenSet
from rung.serving.http import refusal
from rung.serving.metrics import Metrics

ANY = "any"
"""The scope of routes any valid token may read (the API's description)."""
_OPEN = re.compile(r"/v2/health/(live|ready)|/v2/models/[^/]+(/versions/[^/]+)?/ready")
_DOCS = re.compile(r"/openapi\.json|/docs(/.*)?|/redoc(/.*)?")


class Unauthorized(RungError):
    """No token, or not one the server knows (HTTP 401)."""

    status = 401


class Forbidden(RungError):
    """A known token without the scope the route needs (HTTP 403)."""

    status = 403


def route_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for the open health routes.

    * open: ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}[/versions/{v}]/ready``
      (orchestrators probe them without credentials);
    * :data:`ANY` valid token: ``/openapi.json``, ``/docs``, ``/redoc`` (and their assets):
      the document tells the model's features and categories (docs/security.md says how to
      read it in a browser with tokens on);
    * ``feedback``: ``/feedback``;
    * ``admin``: ``/metrics`` (it tells traffic, errors and versions; Prometheus sends a
      bearer token with ``authorization: {credentials: ...}`` in its scrape config);
    * ``predict``: everything else — ``/predict``, the v2 metadata and infer routes — so a
      route added later is closed until it is given a scope.
    """
    if _OPEN.fullmatch(path):
        return None
    if _DOCS.fullmatch(path):
        return ANY
    if path == "/feedback":
        return "feedback"
    if path == "/metrics":
        return "admin"
    return "predict"


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive),
    or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value and " " not in value else None


Refuse = Callable[[RungError, Any, dict[str, str]], Any]
"""Answers a refusal: (the error, the ASGI scope, the challenge headers) → an ASGI app."""


class Authorize:
    """The ASGI middleware enforcing ``scope_of`` (default :func:`route_scope`, ``rung
    serve``'s routes; ``rung ui`` passes its own) with ``tokens``; sets
    ``scope["state"]["token"]`` to the name of the token that was accepted.

    ``cookie``: also accept the token from this cookie when no ``Authorization`` header is
    sent (a browser: ``rung ui`` sets it, HttpOnly and SameSite=Strict, at its login page).
    ``refuse``: answers a refusal (default: the canonical JSON body at its status)."""

    def __init__(
        self,
        app: Any,
        tokens: TokenSet,
        metrics: Metrics | None = None,
        scope_of: Callable[[str, str], str | None] = route_scope,
        cookie: str | None = None,
        refuse: Refuse | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens  # a TokenFile's change while serving
        self.required = bool(tokens)  # on or off for the server's life
        self.metrics = metrics
        self.scope_of = scope_of
        self.cookie = cookie
        self.refuse: Refuse = refuse or (
            lambda exc, scope, headers: refusal(exc, scope["path"], self.metrics, headers)
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.required:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        need = self.scope_of(scope["method"], path)
        if need is None:
            await self.app(scope, receive, send)
            return
        given = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(given) > 1:  # which one counts differs between proxies: none does (RFC 9110 §5.3)
            twice = Unauthorized(
                f"the request has {len(given)} Authorization headers",
                "send one: Authorization: Bearer <token>",
            )
            challenge = 'Bearer realm="rung"'
            await self.refuse(twice, scope, {"WWW-Authenticate": challenge})(scope, receive, send)
            return
        header = given[0].decode("latin-1") if given else None
        presented = bearer(header)
        if presented is None and not given and self.cookie:
            presented = cookie_of(scope, self.cookie)
        token = self.tokens.verify(presented) if presented else None
        exc: RungError
        if token is None:
            if presented is None:
                exc = Unauthorized(
                    f"{path} needs a token",
                    "send the header Authorization: Bearer <token> (rung token create)",
                )
                challenge = 'Bearer realm="rung"'
            else:
                exc = Unauthorized(
                    "the token is not one this server accepts",
                    "check the token, or make one with rung token create",
                )
                challenge = 'Bearer realm="rung", error="invalid_token"'
            await self.refuse(exc, scope, {"WWW-Authenticate": challenge})(scope, receive, send)
            return
        if need != ANY and not token.allows(need):
            exc = Forbidden(
                f"token {token.name!r} lacks the scope {need!r} that {path} needs",
                f"use a token with --scope {need} (rung token create NAME --scope {need})",
            )
            challenge = f'Bearer realm="rung", error="insufficient_scope", scope="{need}"'
            await self.refuse(exc, scope, {"WWW-Authenticate": challenge})(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["token"], state["scopes"] = token.name, token.scopes
        await self.app(scope, receive, send)


def cookie_of(scope: Any, name: str) -> str | None:
    """The value of cookie ``name`` in the request's ``Cookie`` headers (RFC 6265 §5.4), or
    None; read with the standard library's parser."""
    from http.cookies import CookieError, SimpleCookie

    for key, value in scope["headers"]:
        if key != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except CookieError:
            continue
        if name in jar:
            return jar[name].value or None
    return None
