"""uvicorn's HTTP protocols with a header timeout: a connection that has not sent a whole
request head (request line and headers) within ``RUNG_SERVE_HEADER_TIMEOUT`` seconds
(``[serve] header_timeout``, default 10) of opening, or of its previous response, is closed.

uvicorn has no such bound: its ``timeout_keep_alive`` timer starts only after a response
and is cancelled by the first byte received (``data_received`` in both its h11 and
httptools protocols), so a client that opens a connection and sends nothing, or a partial
head a byte at a time (Slowloris), holds it open forever (uvicorn issues #1192 and its
discussion; servers such as cowboy, Go's ``ReadHeaderTimeout`` and nginx's
``client_header_timeout`` bound the head for this reason). ASGI middleware cannot help: it
runs only once the head is parsed.

Both protocols create their request/response ``cycle`` when the head is complete, so the
timer is disarmed when ``self.cycle`` changes. The classes are importable by name (uvicorn's
``http=`` option, ``"rung.serving.connections:HeaderTimeoutH11"``) so every worker process
gets them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT = 10.0


def header_timeout() -> float:
    """Seconds from ``RUNG_SERVE_HEADER_TIMEOUT`` (set by ``rung serve``), else 10."""
    try:
        value = float(os.environ.get("RUNG_SERVE_HEADER_TIMEOUT", DEFAULT))
    except ValueError:
        return DEFAULT
    return value if 0 < value <= 3600 else DEFAULT


class _HeaderTimeout:
    """The mixin: arm at connection and after each response, disarm once a head is read."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def _arm(self) -> None:
        self._disarm()
        self._head_cycle = self.cycle
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

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._head_read()

    def on_response_complete(self) -> None:
        self._arm()
        super().on_response_complete()  # type: ignore[misc]
        self._head_read()  # a pipelined request whose head was already buffered

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class HeaderTimeoutH11(_HeaderTimeout, H11Protocol):
    """uvicorn's h11 protocol with the header timeout."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutHttpTools(_HeaderTimeout, HttpToolsProtocol):
        """uvicorn's httptools protocol (its default when httptools is installed) with the
        header timeout."""

    PROTOCOL = "rung.serving.connections:HeaderTimeoutHttpTools"
except ImportError:  # httptools is optional: uvicorn then uses h11
    PROTOCOL = "rung.serving.connections:HeaderTimeoutH11"
"""What ``rung serve`` gives uvicorn's ``http=``: the protocol uvicorn would pick, timed."""
