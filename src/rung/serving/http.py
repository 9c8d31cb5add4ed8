"""What every route of the service shares: the one JSON error body and its handlers, reading
a request's body within the size limit, and answering one prediction request (check,
predict, log durably, then answer).

Errors share one JSON body: ``{"error": {"type", "message", "hint", "fields"}}`` (on the Open
Inference Protocol's ``/v2`` routes wrapped in that protocol's shape, :func:`error_response`).
Bodies over the size limit get 413, compressed ones (``Content-Encoding: gzip``/``deflate``,
:func:`decoded`) counted by their decoded size.

**Request ids are the server's** (:class:`RequestIds`): every request gets a fresh one
(32 hex digits), the key of its prediction-log record and of ``/feedback``, sent back in the
``X-Request-ID`` response header (and ``request_id`` of ``/predict``'s body). A client's own
``X-Request-ID`` (at most :data:`rung.core.limits.REQUEST_ID` characters of UTF-8) is kept
as its *correlation id*: stored with the record (``correlation_id``) and echoed in
``X-Correlation-ID``; it is never the log's key, so two clients sending the same value
cannot make feedback ambiguous. An Open Inference Protocol request's own ``id`` is kept the
same way when no header gave one (:func:`bounded_correlation`, the one rule for both);
``/feedback`` finds a request by it only when it names exactly one
(:mod:`rung.serving.feedback`).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from random import getrandbits
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from rung.core import predlog
from rung.core.errors import InvalidInput, RungError
from rung.core.limits import REQUEST_ID, bounded, check_length, is_digits
from rung.serving.metrics import Metrics, path_label
from rung.serving.payload import HINT as PREDICT_HINT
from rung.serving.payload import RECORDS, Terms, check, not_json
from rung.serving.payload import loads as payload_loads
from rung.serving.predictor import Loaded
from rung.serving.service import Service

MAX_BODY = 8 * 1024 * 1024
DISCONNECT_ROWS = 1000
"""A request of more rows is checked for a client that has gone before and after its
prediction (then logged as 499, not answered): a check costs a receive call, worth it only
where the prediction is long."""
_log = logging.getLogger("rung")


class RequestIds:
    """The ASGI middleware giving every request the server's id
    (``scope["state"]["request_id"]``) and answering it in ``X-Request-ID``; the client's
    ``X-Request-ID`` (raw bytes, checked where it is used: :func:`correlation_id`) is echoed
    in ``X-Correlation-ID`` when it is valid."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        echo = given if given is not None and _valid_id(given) else None

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):  # a 5xx sets it
                    headers.append((b"x-request-id", request_id.encode()))
                if echo is not None:
                    headers.append((b"x-correlation-id", echo))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def new_id() -> str:
    """A fresh request id, 32 hex digits: the time in milliseconds since 1970 (12 digits, as in
    UUIDv7, RFC 9562 §5.7) then 80 random bits from :mod:`random`'s generator (seeded from
    the OS in each process).

    Time first, so that the ids the prediction log indexes arrive in order: with random ids
    every insert touched a random page of the ``request_id`` index, and the log's writer
    wrote a page of the write-ahead log per record. Not a secret, only unique:
    ``os.urandom`` lets go of the GIL for its system call, and under load the event loop then
    waited for the predicting thread to hand it back (up to a switch interval, 5 ms) on every
    request."""
    return f"{time.time_ns() // 1_000_000:012x}{getrandbits(80):020x}"


def _valid_id(raw: bytes) -> bool:
    """Whether a client's ``X-Request-ID`` is one :func:`correlation_id` keeps (the one rule:
    an id refused there is never echoed)."""
    try:
        return _correlation(raw.decode("latin-1")) is not None
    except InvalidInput:
        return False


def request_id_of(request: Request) -> str:
    """The server's id of ``request`` (:class:`RequestIds`; a fresh one without it)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = new_id()
    return str(rid)


def correlation_id(request: Request) -> str | None:
    """The client's ``X-Request-ID`` as text, or None; raises :class:`InvalidInput` (422)
    for one that is not UTF-8 or longer than :data:`REQUEST_ID` characters."""
    return _correlation(request.headers.get("x-request-id"))


def _correlation(given: str | None) -> str | None:
    if not given:
        return None
    try:  # HTTP hands header bytes over as Latin-1; clients send ids as UTF-8, as in JSON
        text = given.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidInput(
            f"X-Request-ID header {given!r} is not UTF-8 text",
            "send the id as UTF-8 (or ASCII), or none",
        ) from None
    return bounded_correlation(text, "X-Request-ID header")


def bounded_correlation(text: str | None, what: str) -> str | None:
    """A client's own id for its request (``what`` names where it came from: the
    ``X-Request-ID`` header, a v2 body's ``id``) as the correlation id it is kept as: None for
    none or ``""``; raises :class:`InvalidInput` (422; 400 on ``/v2``) for one over
    :data:`REQUEST_ID` characters or holding a control character (the one rule for every
    source, :func:`rung.core.limits.check_length`)."""
    if not text:
        return None
    return check_length(
        text, REQUEST_ID, what, f"send an id of at most {REQUEST_ID} characters, or none"
    )


class PayloadTooLarge(RungError):
    """The body is over the service's size limit (HTTP 413)."""

    status = 413


MAX_FIELDS = 100  # bad fields listed in one error body at most


def error_body(exc: RungError) -> dict[str, Any]:
    """The one canonical JSON error body of the API. Whatever a client sent, it stays small:
    each text at most 500 characters and each path element 100 (:func:`bounded`: what is
    cut is counted), at most :data:`MAX_FIELDS` fields."""
    fields = [
        {
            "loc": [p if isinstance(p, int) else bounded(str(p), 100) for p in f["loc"]],
            "msg": bounded(f["msg"]),
        }
        for f in (e.to_dict() for e in getattr(exc, "errors", [])[:MAX_FIELDS])
    ]
    return {
        "error": {
            "type": type(exc).__name__,
            "message": bounded(exc.message),
            "hint": None if exc.hint is None else bounded(exc.hint),
            "fields": fields,
        }
    }


def is_v2(path: str) -> bool:
    """Whether ``path`` is one of the Open Inference Protocol's routes (``/v2``...)."""
    return path == "/v2" or path.startswith("/v2/")


def error_response(
    request: Request,
    body: dict[str, Any],
    status: int,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return shaped(request.url.path, body, status, headers)


def shaped(
    path: str, body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error ``body`` (:func:`error_body`) in the shape the route's clients read.

    On the Open Inference Protocol's routes, the protocol's shape: ``{"error": "<message> —
    <hint>"}`` (a string: tritonclient's ``InferenceServerException.message()`` and KServe's
    SDK read it so), rung's canonical object under ``"detail"``, and 400 for a bad request
    where rung's own routes answer 422 (the specification's "Inference Response JSON Error
    Object", https://github.com/kserve/open-inference-protocol). Elsewhere the canonical
    body as it is."""
    if is_v2(path):
        inner = body["error"]
        text = f"{inner['message']} — {inner['hint']}" if inner.get("hint") else inner["message"]
        body = {"error": text, "detail": inner}
    return JSONResponse(body, status_code=answered_status(path, status), headers=headers)


def answered_status(path: str, status: int) -> int:
    """The status a request to ``path`` is answered with for an error of ``status``: on the
    Open Inference Protocol's routes a bad request is 400 where rung's own routes say 422.
    The prediction log records this same status (:func:`answer`)."""
    return 400 if status == 422 and is_v2(path) else status


def refusal(
    exc: RungError, path: str, metrics: Metrics | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``exc`` answered in the canonical body at its status, for the guards that answer
    before a route is reached (tokens, Host, content type); counted in ``rung_errors_total``."""
    if metrics is not None:
        metrics.errors.labels(path_label(path), type(exc).__name__).inc()
    return shaped(path, error_body(exc), exc.status, headers)


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    """``content`` encoded by orjson (numpy values included): FastAPI would otherwise walk
    every value of a large batch."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        media_type="application/json",
        headers=headers,
    )


VERSION_HEADER = "X-Model-Version"


REQUEST_ID_HEADER = "X-Request-ID"
CLIENT_CLOSED = 499  # nginx's status for a client that closed its connection first
_FAILURES = {  # what a 5xx answer says instead of its error's text
    "ModelFailed": "the model raised on this request",
    "IntegrityError": "a stored object is missing or corrupt",
    "StoreUnavailable": "the metadata store is unavailable",
    "DiskFull": "the disk is full",
}


def served_headers(held: Loaded | None) -> dict[str, str]:
    """The header naming the version that answered a prediction request, ``X-Model-Version:
    NAME@VERSION`` (the request's id is in ``X-Request-ID`` on every answer:
    :class:`RequestIds`). The Measure middleware (:class:`rung.serving.metrics.Measure`)
    reads both for the access log."""
    return {VERSION_HEADER: f"{held.name}@{held.version}"} if held is not None else {}


def served_response(content: Any, held: Loaded) -> Response:
    """The answer of a prediction route (v1 ``/predict``, v2 ``infer``): ``content`` as JSON
    with :func:`served_headers`."""
    return json_response(content, served_headers(held))


def _served_of(request: Request) -> dict[str, str]:
    """:func:`served_headers` of a failed prediction request (the version that would have
    answered, set by :func:`answer`), or none for a request that never reached it."""
    state = request.scope.get("state") or {}
    return served_headers(state.get("held"))


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error the app raises answers in the one JSON shape and counts in
    ``rung_errors_total``."""

    @app.exception_handler(RungError)
    async def _rung_error(request: Request, exc: RungError) -> JSONResponse:
        metrics.errors.labels(path_label(request.url.path), type(exc).__name__).inc()
        retry = getattr(exc, "retry_after", None)  # 503s: a full disk, the store unreachable
        headers = {**_served_of(request), **getattr(exc, "headers", {})}
        if retry:
            headers["Retry-After"] = str(retry)
        if exc.status < 500:
            return error_response(request, error_body(exc), exc.status, headers or None)
        # a 5xx's text may hold data, paths or secrets (a model's exception, a store's URL):
        # the server's log has it under the request's id, the answer only names that id
        rid = request_id_of(request)
        _log.error("request %s: %s %s failed: %s", rid, request.method, request.url.path, exc)
        hint = exc.hint if exc.status == 503 else None
        body = error_body(
            RungError(
                f"{_FAILURES.get(type(exc).__name__, 'the service could not answer')}"
                f" (request {rid})",
                hint or f"the server's log has the error under request {rid}",
            )
        )
        body["error"]["type"] = type(exc).__name__
        headers[REQUEST_ID_HEADER] = rid  # also outside the middleware (see _bug)
        return error_response(request, body, exc.status, headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        """The client went away before its body was read: nobody reads the answer, nothing
        failed here (status 499, nginx's "client closed request"; no traceback)."""
        metrics.errors.labels(path_label(request.url.path), "ClientDisconnect").inc()
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown routes (404) and methods (405) in the one error shape too."""
        hint = "see /docs for the routes" if exc.status_code in (404, 405) else None
        body = error_body(RungError(f"{request.method} {request.url.path}: {exc.detail}", hint))
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        body["error"]["type"] = kind
        if exc.status_code >= 400:  # every error answer counts, whoever raised it
            metrics.errors.labels(path_label(request.url.path), kind).inc()
        return error_response(request, body, exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        """A bug (a 500) still answers with the canonical body; the traceback goes to the log.
        A failure of the machine (a full disk) answers as its RungError (503, Retry-After)."""
        from rung.store.failures import explain

        known = explain(exc)
        if known is not None:
            return await _rung_error(request, known)
        metrics.errors.labels(path_label(request.url.path), type(exc).__name__).inc()
        rid = request_id_of(request)
        # the exception's text may hold data, paths or secrets: the log has it, not the body
        _log.error("request %s: %s %s failed", rid, request.method, request.url.path, exc_info=exc)
        body = error_body(
            RungError(
                f"internal error (request {rid})",
                f"a bug in the service: the server's log has its traceback under request {rid}",
            )
        )
        body["error"]["type"] = "InternalError"
        headers = {**_served_of(request), REQUEST_ID_HEADER: rid}  # outside RequestIds here
        return error_response(request, body, 500, headers)


async def read_raw(request: Request, max_body: int = MAX_BODY) -> bytes:
    """The request's body bytes; a body over ``max_body`` bytes is a 413.

    A declared ``Content-Length`` over the limit is refused before reading; a chunked body
    (no length) is counted while it streams in and refused as soon as it passes the limit,
    so the server never holds more than ``max_body`` bytes of one body (uvicorn stops
    reading the socket while the app is not asking for more)."""
    from rung.serving.guards import require_json_body  # guards imports this module

    require_json_body(request.method, request.url.path, request.headers)
    length = request.headers.get("content-length")
    if length is not None and is_digits(length) and int(length) > max_body:
        raise PayloadTooLarge(
            f"the body has {length} bytes, over the limit of {max_body}", "send smaller batches"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise PayloadTooLarge(
                f"the body has more than {max_body} bytes, over the limit of {max_body}",
                "send smaller batches",
            )
        chunks.append(chunk)
    return decoded(b"".join(chunks), request.headers.get("content-encoding"), max_body)


class UnsupportedEncoding(RungError):
    """The body's ``Content-Encoding`` is not one the service decodes (HTTP 415, RFC 9110
    §15.5.16), answered with the codings it does decode in ``Accept-Encoding`` (RFC 7694
    §3)."""

    status = 415
    headers: ClassVar[dict[str, str]] = {"Accept-Encoding": "gzip, deflate"}


# zlib's window bits for each content coding (RFC 9110 §8.4.1): gzip's header, zlib's
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decoded(raw: bytes, encoding: str | None, max_body: int = MAX_BODY) -> bytes:
    """``raw`` with its ``Content-Encoding`` (gzip, deflate, identity, or a list of them)
    undone; the decoded size counts against ``max_body`` (over it, 413: a zip bomb stops at
    the limit, never inflated whole). Raises :class:`UnsupportedEncoding` (415) for another
    coding and :class:`~rung.core.errors.InvalidInput` for data that is not of its coding."""
    if not encoding:
        return raw
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if coding == "identity":
            continue
        if coding not in _WBITS:
            raise UnsupportedEncoding(
                f"Content-Encoding {coding[:40]!r} is not supported",
                "send the body as is, or compressed with gzip or deflate",
            )
        raw = _inflate(raw, coding, max_body)
    return raw


def _inflate(raw: bytes, coding: str, max_body: int) -> bytes:
    # "deflate" is zlib's format (RFC 9110 §8.4.1.2); some clients send raw deflate: try both
    for wbits in (_WBITS[coding], -zlib.MAX_WBITS) if coding == "deflate" else (_WBITS[coding],):
        try:
            return _members(raw, coding, wbits, max_body)
        except zlib.error as exc:
            error = exc
    raise InvalidInput(
        f"the body is not {coding} data ({error})",
        f"compress it with {coding}, or send it uncompressed without Content-Encoding",
    )


def _members(raw: bytes, coding: str, wbits: int, max_body: int) -> bytes:
    """Every member of ``raw`` (a gzip body may hold several, RFC 1952 §2.2) inflated, at most
    ``max_body`` bytes in all."""
    out = b""
    while True:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(raw, max_body + 1 - len(out))  # never 0: that is unbounded
        if len(out) > max_body or inflater.unconsumed_tail:
            raise PayloadTooLarge(
                f"the body decompresses to over the limit of {max_body} bytes",
                "send smaller batches",
            )
        if not inflater.eof:
            raise InvalidInput(f"the {coding} body is truncated", "send the whole body")
        raw = inflater.unused_data
        if not raw:
            return out


async def read_body(request: Request, hint: str, max_body: int = MAX_BODY) -> Any:
    """The request's JSON body (:func:`read_raw`); one that is not JSON is a 422 with the
    route's ``hint`` (what that route takes)."""
    raw = await read_raw(request, max_body)
    try:
        return payload_loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError, invalid UTF-8 included
        raise not_json(exc, hint) from exc


def pick(service: Service, request: Request, version: str | None) -> Service:
    """The arm of ``service`` that answers ``request`` (:meth:`Service.arm`: by its client key,
    the ``X-Canary-Key`` header else the request id; by ``version`` when it names one), kept
    with the version in ``request.state`` (``arm``, ``pin``) for :func:`answer`. Raises
    :class:`~rung.core.errors.NotFound` (404) for a version no arm serves."""
    key = request.headers.get("x-canary-key") or request_id_of(request)
    arm = request.state.arm = service.arm(key, version)
    request.state.pin = version
    return arm


async def answer(
    service: Service,
    request: Request,
    to_body: Callable[[Any], Any],
    hint: str = PREDICT_HINT,
    max_body: int = MAX_BODY,
    read: Callable[[Request], Awaitable[Any]] | None = None,
    version: str | None = None,
    body_id: Callable[[], str | None] | None = None,
    terms: Terms = RECORDS,
) -> tuple[Loaded, dict[str, Any], str]:
    """Check, predict and log one request: the version that answered, its outputs and the
    request id. A failed request is logged too, with its status and no inputs (the error rate
    of monitoring comes from the same log). The request counts as load (``service.active``)
    from its arrival until its record is durable, and is answered only once it is. ``read``
    reads the body (default: :func:`read_body`, JSON) before ``to_body`` turns it into
    ``/predict``'s form; ``body_id``, called once the body is read, gives the client's own id
    for the request found in it (a v2 body's ``id``, checked by :func:`bounded_correlation`),
    kept as the correlation id when no ``X-Request-ID`` header gave one; ``terms``: the words
    of the route's protocol in the signature check's errors (:class:`~rung.serving.payload.Terms`).

    With a canary, the request is answered by the arm its client key picks
    (:meth:`Service.arm`: the ``X-Canary-Key`` header, else the request id), or, when it
    names a ``version`` (or ``read`` finds one in the body: :func:`pick`), by the arm serving
    that version (else a 404); with a shadow, the shadow is handed the request once its
    answer is durable (:meth:`Service.after`). Each is counted for its arm
    (:meth:`Service.counted`)."""
    started = time.perf_counter()
    request_id = request_id_of(request)
    correlation: str | None = None
    arm = pick(service, request, version)

    def record(held: Loaded, inputs: Any, outputs: Any, status: int) -> dict[str, Any]:
        return predlog.record(
            request_id=request_id,
            correlation_id=correlation,
            model=held.name,
            version=held.version,
            inputs=inputs,
            outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1000,
            status=status,
            sample_rows=service.sample_rows,  # a large request stores a sample
            role=arm.role,
        )

    service.active += 1
    try:
        try:
            correlation = correlation_id(request)  # refused: logged without it
            got = await (read(request) if read else read_body(request, hint, max_body))
            arm, version = request.state.arm, request.state.pin  # read may pin a version
            if correlation is None and body_id is not None:
                correlation = body_id()
            body = to_body(got)
            columns, rows = check(body, arm.current.signature, terms)
            # a large request whose client has gone is neither predicted nor logged as answered
            watch = rows > DISCONNECT_ROWS
            if watch and await request.is_disconnected():
                raise ClientDisconnect()
            held, out = await arm.batcher.predict(columns, rows, alone=service.active == 1)
            if version is not None and str(held.version) != version:  # swapped meanwhile
                raise service.not_served(version)
            if watch and await request.is_disconnected():
                raise ClientDisconnect()
        except Exception as exc:
            # not awaited: an error answer does not wait for the disk
            status = (
                exc.status
                if isinstance(exc, RungError)
                else CLIENT_CLOSED
                if isinstance(exc, ClientDisconnect)
                else 500
            )
            status = answered_status(request.url.path, status)  # what the client got
            failed = arm.current
            request.state.held = failed  # named by the error answer's header
            service.log.add(record(failed, {}, {"error": type(exc).__name__}, status))
            arm.counted(failed.version, status, 0.0)
            raise
        await service.log.logged(record(held, columns, out, 200))  # durable before we answer
        arm.counted(held.version, 200, time.perf_counter() - started)
        if arm is service:
            service.after(body, columns, request_id, held.signature)  # the shadow's turn
    finally:
        service.active -= 1
    service.metrics.rows.inc(rows)
    return held, out, request_id
