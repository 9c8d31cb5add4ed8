"""What a request must be before any route sees it: for this server (``Host``), and not
forgeable by a web page (a JSON content type on every request with a body; CORS only for
configured origins). With the tokens of :mod:`rung.serving.auth` these are the service's
protection; :class:`Protection` holds their settings and carries them to every worker.

* **DNS rebinding**: a page on ``attacker.example`` whose name is re-pointed at 127.0.0.1 can
  make the browser send requests to a loopback service, with ``Host: attacker.example``. The
  ``Host`` header (its name, without the port) must be in the allowlist, which defaults to
  the bound address, ``localhost``, ``127.0.0.1`` and ``::1``; otherwise **400**
  ``UnknownHost``. ``*`` allows any; ``*.example.com`` any subdomain. A request with more
  than one ``Host`` field is **400** ``UnknownHost`` too (RFC 9112 §3.2: a server MUST
  answer 400 to it): otherwise only one of them is checked, and a proxy or application
  behind may read the other.
* **The request target** (RFC 9112 §3.2) is a path (origin-form, ``/…``), or ``*`` for
  ``OPTIONS``, or an absolute URL (absolute-form, ``GET http://name:port/path``): then its
  authority, not ``Host``, names the host the request is for (§3.2.2: the server MUST ignore
  ``Host``), and it is that name the allowlist checks (**400** ``UnknownHost``); an allowed
  one is served as its path, with that authority as ``Host``. A URL of another scheme than
  ``http``/``https``, with user information (``user@``, an error by RFC 9110 §4.2.4: it
  hides the real host), without a valid host, or a target of no form is **400**
  ``BadTarget``. Both of uvicorn's parsers hand the whole target over
  (:mod:`rung.serving.connections` keeps what httptools would drop), so this is the one
  place a target is read.
* **Cross-site request forgery**: a page can send a POST to another site without the CORS
  preflight only with a "simple" content type (``text/plain``, form encodings) or none, and
  no custom header (Fetch standard, "CORS-safelisted request-header"), and only with GET,
  HEAD or POST (other methods are always preflighted: a PUT is answered 405 by the router,
  as any method no route takes). So every POST needs ``Content-Type: application/json``
  (parameters allowed) — **415**
  ``UnsupportedMediaType`` otherwise — except two shapes no page can forge without a
  preflight, which the Open Inference Protocol's clients (``tritonclient[http]``, the KServe
  SDK) send by default: a request carrying ``Inference-Header-Content-Length`` (the binary
  tensor extension: a custom header), a ``/v2/…/infer`` request declared
  ``application/octet-stream`` (tritonclient's ``aio`` client and the KServe SDK; not a
  CORS-safelisted type, so preflighted), and a ``/v2/…/infer`` request with no
  ``Content-Type`` at all and no ``Origin`` (browsers send ``Origin`` on every cross-origin
  POST; tritonclient's JSON infer sends neither header).
* **CORS**: none unless ``[serve] cors_origins`` lists origins (Starlette's
  ``CORSMiddleware``); a preflight from any other origin gets no CORS headers, so the
  browser does not send the request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rung.core.errors import RungError
from rung.core.tokens import TokenFile, TokenSet, parse
from rung.serving.http import refusal
from rung.serving.metrics import Metrics

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Always allowed in ``Host`` unless ``allowed_hosts`` is set explicitly."""
WILDCARD_BINDS = ("0.0.0.0", "::", "")
_BODY_METHODS = frozenset({"POST"})  # the others are preflighted: see above
_INFER = re.compile(r"/v2/models/[^/]+(/versions/[^/]+)?/infer")


class UnknownHost(RungError):
    """The ``Host`` header names a host this server is not for (HTTP 400)."""

    status = 400


class BadTarget(RungError):
    """A request target that is neither a path nor an absolute ``http(s)`` URL of a host
    (HTTP 400)."""

    status = 400


class UnsupportedMediaType(RungError):
    """A body that is not declared JSON (HTTP 415)."""

    status = 415


@dataclass(frozen=True)
class Protection:
    """The protection settings of one service: its ``tokens`` (none: no authentication; a
    :class:`~rung.core.tokens.TokenFile` when they come from a file, followed while the
    service runs), the ``allowed_hosts`` of the ``Host`` header and the CORS ``cors_origins``
    (none: no CORS). Carried to uvicorn's workers in the environment (:meth:`to_env`): a
    token file by its path, so each worker follows the file itself."""

    tokens: TokenSet = field(default_factory=TokenSet)
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    cors_origins: tuple[str, ...] = ()

    def to_env(self) -> dict[str, str]:
        """The environment that :meth:`from_env` reads back in a worker process."""
        from rung.core.tokens import render

        if isinstance(self.tokens, TokenFile):
            file, text = str(self.tokens.path), ""
        else:
            file, text = "", render(self.tokens.tokens)
        return {
            "RUNG_SERVE_TOKENS_FILE": file,
            "RUNG_SERVE_TOKENS": text,
            "RUNG_SERVE_ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            "RUNG_SERVE_CORS_ORIGINS": ",".join(self.cors_origins),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Protection:
        """The settings :meth:`to_env` wrote (defaults for what is not set); raises
        :class:`~rung.core.tokens.BadTokenFile` for tokens that cannot be used."""
        import logging
        from pathlib import Path

        hosts = env.get("RUNG_SERVE_ALLOWED_HOSTS")
        file = env.get("RUNG_SERVE_TOKENS_FILE")
        tokens = (
            TokenFile(Path(file), log=logging.getLogger("rung.serve"))
            if file
            else TokenSet(parse(env.get("RUNG_SERVE_TOKENS", ""), "RUNG_SERVE_TOKENS"))
        )
        return cls(
            tokens,
            tuple(h for h in hosts.split(",") if h) if hosts else LOCAL_HOSTS,
            tuple(o for o in env.get("RUNG_SERVE_CORS_ORIGINS", "").split(",") if o),
        )


def default_hosts(bound: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The ``Host`` allowlist for a server bound to ``bound``: it, :data:`LOCAL_HOSTS`, and
    for a wildcard address (``0.0.0.0``, ``::``) this machine's host name, FQDN and the
    addresses its name resolves to; then ``extra``."""
    import contextlib
    import socket

    hosts = [bound, *LOCAL_HOSTS] if bound not in WILDCARD_BINDS else list(LOCAL_HOSTS)
    if bound in WILDCARD_BINDS:
        name = socket.gethostname()
        hosts += [name, socket.getfqdn()]
        with contextlib.suppress(OSError):  # an orchestrator's probe: Host: <pod IP>:<port>
            hosts += [str(info[4][0]) for info in socket.getaddrinfo(name, None)]
    hosts += list(extra)
    return tuple(dict.fromkeys(h.lower().strip("[]") for h in hosts if h))


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port (which may be empty: RFC 3986 §3.2.3)
    or IPv6 brackets, lower case, without a trailing dot."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    name, colon, port = value.rpartition(":")
    if colon and (port.isdigit() or not port) and ":" not in name:
        value = name
    return value.rstrip(".")


def host_allowed(header: str | None, allowed: Iterable[str]) -> bool:
    """True if ``header`` names an allowed host (``*``: any; ``*.d``: any subdomain of d)."""
    if header is None:
        return False
    name = host_name(header)
    for pattern in allowed:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
_AUTHORITY = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:@]+)(:[0-9]*)?")
_TARGET_HINT = "send the path alone, e.g. GET /v2/health/ready (RFC 9112 §3.2)"


def _ipv6(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def absolute_target(target: str) -> tuple[str, str, str]:
    """The host (as :func:`host_name` reads it), authority (``host[:port]``) and path (``/``
    if empty) of an absolute-form request target ``target`` (RFC 9112 §3.2.2; the query
    already split off); raises
    :class:`BadTarget` naming the target for one of another form, of another scheme than
    ``http``/``https``, with user information (RFC 9110 §4.2.4) or without a valid host
    (RFC 9110 §4.2.1: an empty host is invalid)."""
    shown = repr(target[:100])
    found = _ABSOLUTE.fullmatch(target)
    if found is None:
        raise BadTarget(
            f"the request target {shown} is neither a path (/…) nor an absolute http URL",
            _TARGET_HINT,
        )
    scheme, authority, path = found.groups()
    if scheme.lower() not in ("http", "https"):
        raise BadTarget(
            f"the request target {shown} is a {scheme[:20]}: URL; this server answers http",
            _TARGET_HINT,
        )
    if "@" in authority:
        raise BadTarget(
            f"the request target {shown} carries user information before '@' (RFC 9110"
            " §4.2.4: it hides which host is meant)",
            "send the target without 'user@', or the path alone (GET /v2/health/ready)",
        )
    found_host = _AUTHORITY.fullmatch(authority)
    host = host_name(found_host.group(1)) if found_host else ""
    if found_host and found_host.group(1).startswith("[") and not _ipv6(host):
        host = ""  # brackets hold an IPv6 address only (RFC 3986 §3.2.2)
    if not host or path[:1] not in ("", "/"):  # a fragment ("#") is no part of a target
        raise BadTarget(f"the request target {shown} names no valid host", _TARGET_HINT)
    return host, authority, path or "/"


def is_json(content_type: str | None) -> bool:
    """True for ``application/json``, with or without parameters (``; charset=utf-8``)."""
    return bool(content_type) and (
        content_type.split(";", 1)[0].strip().lower() == "application/json"  # type: ignore[union-attr]
    )


_ALLOW_HINT = (
    "call it by an allowed name, or allow this one: rung serve --allow-host NAME"
    " ([serve] allowed_hosts)"
)


class Guard:
    """The ASGI middleware checking the request target and ``Host`` (see the module's
    docstring); refusals in the canonical error body. An allowed absolute-form target is
    rewritten in ``scope`` as its path (``path``, ``raw_path``) with its authority as the
    ``Host`` header, so what follows (tokens, routes, the access log) sees an ordinary
    request. The content type of a body is checked by the body reader
    (:func:`require_json_body`), once a route has matched."""

    def __init__(self, app: Any, allowed_hosts: tuple[str, ...], metrics: Metrics | None) -> None:
        self.app = app
        self.allowed = allowed_hosts
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [value for key, value in scope["headers"] if key == b"host"]
        shown = hosts[0].decode("latin-1") if hosts else None
        raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        path = scope["path"]
        exc: RungError | None = None
        if len(hosts) > 1:
            exc = UnknownHost(
                f"the request has {len(hosts)} Host headers; one is allowed (RFC 9112 §3.2)",
                "send exactly one Host header",
            )
        elif raw[:1] != b"/" and not (raw == b"*" and scope["method"] == "OPTIONS"):
            exc = self._absolute(scope, raw.decode("latin-1"), shown is None)
            path = scope["path"]
        elif not host_allowed(shown, self.allowed):
            exc = UnknownHost(
                f"Host {shown[:100]!r} is not a name of this server"
                if shown is not None
                else "the request has no Host header",
                _ALLOW_HINT,
            )
        if exc is not None:
            await refusal(exc, path, self.metrics)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _absolute(self, scope: Any, target: str, no_host: bool) -> RungError | None:
        """Check an absolute-form ``target`` (RFC 9112 §3.2.2) and rewrite ``scope`` as its
        path and authority; the refusal, or None."""
        from urllib.parse import unquote

        try:
            host, authority, path = absolute_target(target)
        except BadTarget as exc:
            return exc
        scope["path"] = unquote(path)  # as uvicorn decodes a path
        if no_host and scope.get("http_version") != "1.0":
            return UnknownHost("the request has no Host header (RFC 9112 §3.2)", _ALLOW_HINT)
        if not host_allowed(host, self.allowed):
            return UnknownHost(
                f"the request target names {host[:100]!r}, not a name of this server"
                " (RFC 9112 §3.2.2: the target's host counts, not the Host header)",
                _ALLOW_HINT,
            )
        scope["raw_path"] = path.encode("latin-1")
        others = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"] = [(b"host", authority.encode("latin-1")), *others]
        return None


def require_json_body(method: str, path: str, headers: Mapping[str, str]) -> None:
    """Refuse (:class:`UnsupportedMediaType`, 415) a POST body that a web page could have
    forged (see the module's docstring): called by the one body reader,
    :func:`rung.serving.http.read_raw`, so a route is matched first (``POST /metrics`` is a
    405, not a 415) and every route that reads a body is covered."""
    if method not in _BODY_METHODS or _json_or_exempt(headers, path):
        return
    given = headers.get("content-type")
    raise UnsupportedMediaType(
        f"{method} {path} takes Content-Type: application/json, not {given[:100]!r}"
        if given is not None
        else f"{method} {path} takes Content-Type: application/json; none was given",
        "send the body as JSON with that header (httpx/requests: json=...;"
        " curl: -H 'Content-Type: application/json')",
    )


def _json_or_exempt(headers: Mapping[str, str], path: str) -> bool:
    given = headers.get("content-type")
    if given is not None and is_json(given):
        return True
    if "inference-header-content-length" in headers:  # a custom header: preflighted
        return True
    if not _INFER.fullmatch(path):
        return False
    if given is None:
        return "origin" not in headers
    # the protocol's binary type (tritonclient's aio client sends it for JSON bodies too);
    # not a CORS-safelisted type, so a page cannot send it without a preflight
    return given.split(";", 1)[0].strip().lower() == "application/octet-stream"


class CorsRefused(RungError):
    """A browser's CORS preflight from an origin (or for a method or header) not allowed
    (HTTP 400)."""

    status = 400


def cors_middleware(metrics: Metrics | None) -> Any:
    """Starlette's ``CORSMiddleware`` whose refused preflight answers in the canonical
    error body (Starlette's own is ``400 text/plain "Disallowed CORS origin"``), counted in
    ``rung_errors_total``; add it with ``app.add_middleware(cors_middleware(m), ...)``."""
    from starlette.datastructures import Headers
    from starlette.middleware.cors import CORSMiddleware

    class Cors(CORSMiddleware):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            headers = Headers(scope=scope) if scope["type"] == "http" else None
            preflight = (
                headers is not None
                and scope["method"] == "OPTIONS"
                and "origin" in headers
                and "access-control-request-method" in headers
            )
            if not preflight or headers is None:
                await super().__call__(scope, receive, send)
                return
            response = self.preflight_response(request_headers=headers)
            if response.status_code == 400:
                why = bytes(response.body).decode("latin-1").removeprefix("Disallowed CORS ")
                exc = CorsRefused(
                    f"a browser page of origin {headers['origin'][:100]!r} may not call this"
                    f" service (CORS: {why} not allowed)",
                    "list the page's origin in [serve] cors_origins, if it should",
                )
                response = refusal(exc, scope["path"], metrics)
            await response(scope, receive, send)

    return Cors
