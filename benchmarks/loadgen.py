#!/usr/bin/env python
"""A small HTTP/1.1 load generator for benchmark (e): asyncio, raw sockets, keep-alive.

    python loadgen.py run --url http://127.0.0.1:8000/predict --body body.json \\
        --concurrency 8 --duration 10 --warmup 2
    python loadgen.py static-server --port 8099      # answers every request with a fixed 200

``run`` opens N connections (``asyncio.open_connection``); each sends the same pre-encoded
request back to back (the next one as soon as the previous response has been read in full:
status line, headers, then ``Content-Length`` bytes or a chunked body). Requests completed
during the warm-up are not counted; the measurement window is the ``--duration`` seconds that
follow. It stops by itself and prints one JSON object: requests, rps (2xx responses per
second), p50/p90/p99/max latency in ms (over every response completed in the window), errors
(non-2xx responses and connection failures), the CPU the generator itself used (a share of
one core close to 100 % would mean it is the bottleneck) and a sample response body.

``static-server`` is the trivial endpoint used to find the generator's own ceiling: it reads
each request (headers and body) and answers a fixed 2-byte JSON body, with no framework.

Standard library only: it runs in its own process (rung's venv python), so it shares no GIL
with the servers under test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from urllib.parse import urlsplit

SAMPLE_CHARS = 600


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, every response completed in the window
        self.ok = 0
        self.ok_total = 0  # every 2xx received, warm-up and stragglers included
        self.sent_total = 0  # every request written, warm-up and stragglers included
        self.other_total = 0  # non-2xx responses and failures outside the window
        self.non_2xx = 0
        self.conn_errors = 0
        self.statuses: dict[int, int] = {}
        self.sample: bytes | None = None
        self.error_sample: str | None = None


def build_request(
    method: str, url: str, body: bytes | None, content_type: str, headers: list[str] | None = None
) -> bytes:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port or 80}",
        "User-Agent: rung-bench-loadgen",
        "Accept: application/json",
        "Connection: keep-alive",
        *(headers or []),
    ]
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep the connection) for one full HTTP/1.1 response."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed before the status line")
    try:
        status = int(status_line.split(b" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ConnectionError(f"bad status line {status_line[:80]!r}") from exc
    length = None
    chunked = False
    keep = not status_line.startswith(b"HTTP/1.0")
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise ConnectionError("connection closed in the headers")
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            v = value.strip().lower()
            keep = v != b"close" if not status_line.startswith(b"HTTP/1.0") else v == b"keep-alive"
    if chunked:
        parts = []
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length) if length else b""
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:  # no length: the body runs to the end of the connection
        body = await reader.read()
        keep = False
    return status, body, keep


async def connection(
    host: str,
    port: int,
    request: bytes,
    stats: Stats,
    t_measure: float,
    t_end: float,
    timeout: float,
) -> None:
    """One client connection sending ``request`` back to back until ``t_end``."""
    perf = time.perf_counter
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while perf() < t_end:
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            reader, writer = conn
            t0 = perf()
            writer.write(request)
            stats.sent_total += 1
            status, body, keep = await asyncio.wait_for(read_response(reader), timeout)
            t1 = perf()
            if 200 <= status < 300:
                stats.ok_total += 1
            elif not t_measure <= t1 <= t_end:
                stats.other_total += 1
                if stats.error_sample is None:
                    stats.error_sample = f"{status}: " + body[:SAMPLE_CHARS].decode(
                        "utf-8", "replace"
                    )
            if t_measure <= t1 <= t_end:
                stats.latencies.append(t1 - t0)
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    stats.ok += 1
                    if stats.sample is None:
                        stats.sample = body
                else:
                    stats.non_2xx += 1
                    if stats.error_sample is None:
                        stats.error_sample = body[:SAMPLE_CHARS].decode("utf-8", "replace")
            if not keep:
                writer.close()
                conn = None
        except (
            OSError,
            ConnectionError,
            asyncio.IncompleteReadError,
            TimeoutError,
            ValueError,  # a malformed response (status line, length, chunk size)
        ) as exc:
            if t_measure <= perf() <= t_end:
                stats.conn_errors += 1
            else:
                stats.other_total += 1
            if stats.error_sample is None:
                stats.error_sample = f"{type(exc).__name__}: {exc}"
            if conn is not None:
                conn[1].close()
            conn = None
            await asyncio.sleep(0.01)
    if conn is not None:
        conn[1].close()


def percentile(sorted_xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_xs:
        return None
    k = max(0, min(len(sorted_xs) - 1, math.ceil(q / 100 * len(sorted_xs)) - 1))
    return sorted_xs[k]


async def run(a: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(a.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = None
    if a.body:
        with open(a.body, "rb") as f:
            body = f.read()
    method = "POST" if body is not None else "GET"
    request = build_request(method, a.url, body, a.content_type, a.header)
    stats = Stats()
    t_start = time.perf_counter()
    t_measure = t_start + a.warmup
    t_end = t_measure + a.duration
    cpu0 = None

    async def mark_cpu() -> None:
        nonlocal cpu0
        await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
        cpu0 = time.process_time()

    marker = asyncio.create_task(mark_cpu())
    tasks = [
        asyncio.create_task(connection(host, port, request, stats, t_measure, t_end, a.timeout))
        for _ in range(a.concurrency)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), a.warmup + a.duration + a.timeout + 5)
    await marker
    cpu = time.process_time() - (cpu0 if cpu0 is not None else 0.0)
    lat = sorted(stats.latencies)

    def ms(x: float | None) -> float | None:
        return None if x is None else x * 1000

    sample = None
    if stats.sample is not None:
        sample = stats.sample[:SAMPLE_CHARS].decode("utf-8", "replace")
    return {
        "url": a.url,
        "method": "POST" if body is not None else "GET",
        "request_bytes": len(request),
        "concurrency": a.concurrency,
        "duration_s": a.duration,
        "warmup_s": a.warmup,
        "requests": len(lat),
        "ok": stats.ok,
        "ok_total": stats.ok_total,
        "sent_total": stats.sent_total,
        "errors_outside_window": stats.other_total,
        "rps": stats.ok / a.duration,
        "p50_ms": ms(percentile(lat, 50)),
        "p90_ms": ms(percentile(lat, 90)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(lat[-1] if lat else None),
        "mean_ms": ms(sum(lat) / len(lat) if lat else None),
        "errors": stats.non_2xx + stats.conn_errors,
        "non_2xx": stats.non_2xx,
        "connection_errors": stats.conn_errors,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "loadgen_cpu_share": cpu / a.duration,  # of one core, during the window
        "sample_body": sample,
        "error_sample": stats.error_sample,
    }


# -- the trivial endpoint ----------------------------------------------------------------------

STATIC = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def static_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            length = 0
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            writer.write(STATIC)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def static_server(host: str, port: int) -> None:
    server = await asyncio.start_server(static_handler, host, port, backlog=1024)
    print(f"static server on http://{host}:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="send load, print one JSON object")
    r.add_argument("--url", required=True)
    r.add_argument("--body", help="file with the request body (POST); none: GET")
    r.add_argument("--content-type", default="application/json")
    r.add_argument(
        "--header",
        action="append",
        default=[],
        help='an extra request header, "Name: value" (repeatable), e.g. Authorization',
    )
    r.add_argument("--concurrency", type=int, default=8)
    r.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    r.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    r.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    s = sub.add_parser("static-server", help="a fixed 200 answer, to find the ceiling")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "static-server":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(static_server(a.host, a.port))
        return 0
    result = asyncio.run(run(a))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
