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


class Authorize:
    """The ASGI middleware enforcing :func:`route_scope` with ``tokens``; sets
    ``scope["state"]["token"]`` to the name of the token that was accepted."""

    def __init__(self, app: Any, tokens: TokenSet, metrics: Metrics | None = None) -> None:
        self.app = app
        self.tokens = tokens  # a TokenFile's change while serving
        self.required = bool(tokens)  # on or off for the server's life
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.required:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        need = route_scope(scope["method"], path)
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
            response = refusal(twice, path, self.metrics, {"WWW-Authenticate": challenge})
            await response(scope, receive, send)
            return
        header = given[0].decode("latin-1") if given else None
        presented = bearer(header)
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
            response = refusal(exc, path, self.metrics, {"WWW-Authenticate": challenge})
            await response(scope, receive, send)
            return
        if need != ANY and not token.allows(need):
            exc = Forbidden(
                f"token {token.name!r} lacks the scope {need!r} that {path} needs",
                f"use a token with --scope {need} (rung token create NAME --scope {need})",
            )
            challenge = f'Bearer realm="rung", error="insufficient_scope", scope="{need}"'
            response = refusal(exc, path, self.metrics, {"WWW-Authenticate": challenge})
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["token"] = token.name
        await self.app(scope, receive, send)
