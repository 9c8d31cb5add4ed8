"""uvicorn's HTTP protocols with the bounds uvicorn lacks on a connection:

* **a header timeout**: a connection that has not sent a whole request head (request line
  and headers) within ``RUNG_SERVE_HEADER_TIMEOUT`` seconds (``[serve] header_timeout``,
  default 10) of opening, or of its previous response, is closed;
* **a body timeout**: a request whose body receives no byte for ``RUNG_SERVE_BODY_TIMEOUT``
  seconds (``[serve] body_timeout``, default 10) while the server is ready to read it — the
  idle bound of nginx's ``client_body_timeout`` — or whose body takes longer than that
  timeout plus one second per :data:`MIN_RATE` (500) bytes received — the total bound of
  Apache's ``mod_reqtimeout`` (``body=20,MinRate=500``), which a body sent a byte a second
  cannot meet — is answered **408** Request Timeout (if no answer was started) and closed.
  Time the server itself does not read (its flow control paused) is not counted;
* **a head size limit**: a request head over :data:`HEAD_LIMIT` bytes (64 KiB) is answered
  **431** Request Header Fields Too Large (RFC 6585 §5) and closed, counted as the bytes
  arrive, before the parser buffers them.

uvicorn has no such bounds: its ``timeout_keep_alive`` timer starts only after a response
and is cancelled by the first byte received (``data_received`` in both its h11 and
httptools protocols), so a client that opens a connection and sends nothing, a partial
head a byte at a time (Slowloris), or a body a byte now and then, holds it open forever
(uvicorn issues #1192 and its discussion; servers such as cowboy, Go's
``ReadHeaderTimeout``/``ReadTimeout`` and nginx's ``client_header_timeout``/
``client_body_timeout`` bound them for this reason). httptools, uvicorn's default parser,
has no head size limit at all (a 40 MiB header was accepted with 200 and raised memory by
92 MiB); h11's ``max_incomplete_event_size`` answers 400, not 431. ASGI middleware cannot
help: it runs only once the head is parsed.

Both protocols create their request/response ``cycle`` when the head is complete, so the
head's timer is disarmed when ``self.cycle`` changes; the body is pending while that cycle's
``more_body`` is true and its response is not complete. The classes are importable by name
(uvicorn's ``http=`` option, ``"rung.serving.connections:HeaderTimeoutH11"``) so every
worker process gets them.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT = 10.0
HEAD_LIMIT = 64 * 1024
"""Bytes a request head (request line, headers and their line ends) may take: 64 KiB, as
Go's ``net/http`` counts a head against ``MaxHeaderBytes`` and four times nginx's default
``large_client_header_buffers 4 8k`` (32 KiB); far above what browsers and HTTP clients
send (cookies are bounded at 4 KiB each by RFC 6265 §6.1's minimums)."""
MIN_RATE = 500
"""Bytes per second a body must average (beyond its first ``body_timeout`` seconds): the
default ``MinRate`` of Apache's ``mod_reqtimeout``."""
H11_LIMIT = 2 * HEAD_LIMIT
"""h11's ``max_incomplete_event_size`` (uvicorn's ``h11_max_incomplete_event_size``): above
:data:`HEAD_LIMIT`, so the 431 of this module answers first and h11's 400 never does."""


def _seconds(name: str) -> float:
    try:
        value = float(os.environ.get(name, DEFAULT))
    except ValueError:
        return DEFAULT
    return value if 0 < value <= 3600 else DEFAULT


def header_timeout() -> float:
    """Seconds from ``RUNG_SERVE_HEADER_TIMEOUT`` (set by ``rung serve``), else 10."""
    return _seconds("RUNG_SERVE_HEADER_TIMEOUT")


def body_timeout() -> float:
    """Seconds from ``RUNG_SERVE_BODY_TIMEOUT`` (set by ``rung serve``), else 10."""
    return _seconds("RUNG_SERVE_BODY_TIMEOUT")


def _answer(status: int, reason: str, kind: str, message: str, hint: str) -> bytes:
    """A whole ``Connection: close`` response in rung's canonical error body."""
    body = json.dumps(
        {"error": {"type": kind, "message": message, "hint": hint, "fields": []}}
    ).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


TOO_LARGE = _answer(
    431,
    "Request Header Fields Too Large",
    "RequestHeaderFieldsTooLarge",
    f"the request's head is over {HEAD_LIMIT} bytes",
    "send fewer or shorter headers (cookies, tokens); the request line and headers together"
    f" must stay under {HEAD_LIMIT // 1024} KiB",
)


def _body_too_slow(seconds: float) -> bytes:
    return _answer(
        408,
        "Request Timeout",
        "RequestTimeout",
        f"the request's body sent nothing for {seconds:g} s, or under {MIN_RATE} bytes/s",
        "send the body without pauses, or raise [serve] body_timeout (rung serve --body-timeout)",
    )


class _HeaderTimeout:
    """The mixin: arm the head's timer at connection and after each response, disarm it once
    a head is read; count the head's bytes meanwhile; then time the body's progress."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    flow: Any

    def _arm(self) -> None:
        self._disarm()
        self._head_cycle = self.cycle
        self._head_size = 0
        self._head_tail = b""
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            header_timeout(), self._head_expired
        )

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_read(self) -> None:
        if getattr(self, "_head_timer", None) is not None and self.cycle is not self._head_cycle:
            self._disarm()

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_too_large(self, data: bytes) -> bool:
        """Count ``data`` into the pending head (up to its blank line): over the limit?"""
        if getattr(self, "_head_timer", None) is None:
            return False
        seen = self._head_tail + data
        end = seen.find(b"\r\n\r\n")
        if end >= 0:
            return self._head_size + end + 4 - len(self._head_tail) > HEAD_LIMIT
        self._head_size += len(data)
        self._head_tail = seen[-3:]
        return self._head_size > HEAD_LIMIT

    # -- the body ------------------------------------------------------------------------

    def _body_pending(self) -> bool:
        cycle = self.cycle
        return (
            getattr(self, "_head_timer", None) is None
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not cycle.disconnected
        )

    def _body_progress(self, received: int) -> None:
        """``received`` bytes arrived: start the body's clocks, or note the progress."""
        if not self._body_pending():
            return
        now = self.loop.time()
        if getattr(self, "_body_timer", None) is None:
            self._body_wait = body_timeout()
            self._body_start = self._body_checked = now
            self._body_bytes = 0
            self._body_timer: asyncio.TimerHandle | None = self.loop.call_later(
                self._body_wait, self._body_check
            )
        self._body_seen = now
        self._body_bytes += received

    def _body_check(self) -> None:
        self._body_timer = None
        if not self._body_pending() or self.transport.is_closing():
            return
        now = self.loop.time()
        # the server is not reading (flow control), or has not yet said "100 Continue" to a
        # client that waits for it (RFC 9110 §10.1.1): the client is not to blame
        if self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False):
            self._body_seen = now
            self._body_start += now - self._body_checked
        self._body_checked = now
        end = min(
            self._body_seen + self._body_wait,  # idle: nginx's client_body_timeout
            self._body_start + self._body_wait + self._body_bytes / MIN_RATE,  # mod_reqtimeout
        )
        if now < end:
            self._body_timer = self.loop.call_later(end - now, self._body_check)
            return
        cycle = self.cycle
        if not cycle.response_started:
            self.transport.write(_body_too_slow(self._body_wait))
        cycle.disconnected = True  # the application's receive() gets http.disconnect
        cycle.message_event.set()
        self.transport.close()

    def _body_stop(self) -> None:
        timer = getattr(self, "_body_timer", None)
        if timer is not None:
            timer.cancel()
            self._body_timer = None

    # -- uvicorn's protocol interface ----------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_too_large(data):
            self._disarm()
            self.transport.write(TOO_LARGE)
            self.transport.close()
            return
        super().data_received(data)  # type: ignore[misc]
        self._head_read()
        self._body_progress(len(data))

    def on_response_complete(self) -> None:
        self._body_stop()
        self._arm()
        super().on_response_complete()  # type: ignore[misc]
        self._head_read()  # a pipelined request whose head was already buffered

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._body_stop()
        super().connection_lost(exc)  # type: ignore[misc]


class HeaderTimeoutH11(_HeaderTimeout, H11Protocol):
    """uvicorn's h11 protocol with the header and body timeouts and the head limit."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutHttpTools(_HeaderTimeout, HttpToolsProtocol):
        """uvicorn's httptools protocol (its default when httptools is installed) with the
        header and body timeouts and the head limit; and a request target that is not a
        path (``GET http://name/path``, ``GET ftp://name/path``) handed over whole, as
        uvicorn's h11 protocol does (``path`` and ``raw_path`` are the target before its
        ``?``), where httptools would keep only its path — dropping the host it names — or
        refuse it in plain text: the ``Host`` guard (:class:`rung.serving.guards.Guard`)
        reads it the same under both parsers (RFC 9112 §3.2.2)."""

        url: bytes
        parser: Any
        scope: Any

        def on_headers_complete(self) -> None:
            target = self.url
            whole = target[:1] != b"/" and not self.parser.should_upgrade()
            if whole:  # httptools parses only the query; the guard reads the rest
                head, mark, query = target.partition(b"?")
                self.url = b"/" + mark + query
            super().on_headers_complete()
            if whole:
                from urllib.parse import unquote

                self.url = target
                self.scope["raw_path"] = head
                self.scope["path"] = unquote(head.decode("latin-1"))

    PROTOCOL = "rung.serving.connections:HeaderTimeoutHttpTools"
except ImportError:  # httptools is optional: uvicorn then uses h11
    PROTOCOL = "rung.serving.connections:HeaderTimeoutH11"
"""What ``rung serve`` gives uvicorn's ``http=``: the protocol uvicorn would pick, bounded."""


class OwnSocket:
    """A listening socket that each worker process binds for itself, on the same address,
    with ``SO_REUSEPORT``: the kernel then spreads new connections over the workers by a
    hash of each client's address and port.

    uvicorn's workers otherwise share one listening socket, and whichever worker wakes first
    accepts a whole burst of connections: 64 keep-alive clients all landed on one of two
    workers (measured with ``ss -tnp``), so one core served them all. Handed to uvicorn's
    supervisor in place of its shared socket, this object is pickled into each worker, and
    unpickling it there binds that worker's socket (:func:`listening`); the supervisor
    itself holds none, so a worker that dies takes its socket out of the group with it."""

    def __init__(self, host: str, port: int, backlog: int = 2048) -> None:
        self.host, self.port, self.backlog = host, port, backlog

    def __reduce__(self) -> tuple[Any, tuple[str, int, int]]:
        return listening, (self.host, self.port, self.backlog)


def listening(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEADDR`` and ``SO_REUSEPORT``,
    listening (IPv6 for an address with a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock
