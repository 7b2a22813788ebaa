"""How every answer the edge writes leaves the server, and every error whichever
path produced it (a Litestar route, the hot path, the proxy, /mcp): one mapping to
the error tree (:func:`to_loomal_error`), one body shape, the same headers, one
writer (:class:`ErrorWriter`) that also counts the database failures for
``/metrics``."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from loomal.core.approval_models import ApprovalPending
from loomal.core.models import ErrorBody
from loomal.core.timestamps import from_micros, parse_iso8601
from loomal.errors import (
    ApprovalPendingError,
    BadRequestError,
    LoomalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)

__all__ = [
    "SECURITY_HEADERS",
    "ErrorWriter",
    "approval_pending",
    "encode",
    "error_body",
    "error_headers",
    "etag",
    "incomplete_body",
    "send_json",
    "to_loomal_error",
    "with_security_headers",
]

log = logging.getLogger("loomal.server")

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_JSON_HEADERS = [(b"content-type", b"application/json"), *SECURITY_HEADERS]
encode = msgspec.json.Encoder().encode

Send = Callable[[Any], Awaitable[None]]
"""Any ASGI ``send`` (Litestar's and Starlette's type it differently)."""


def to_loomal_error(exc: Exception) -> LoomalError:
    """Translate any exception into the one error tree (the single mapping).

    Unexpected exceptions are logged by type and location only: their text
    could hold a value.
    """
    if isinstance(exc, LoomalError):
        return exc
    if _client_disconnected(exc):
        # Not a server error: the client left mid-body, and nobody reads the answer.
        # At DEBUG only, so a client without a key cannot write error lines at will.
        log.debug("client disconnected before its request body ended")
        return incomplete_body()
    if isinstance(exc, ValidationException):
        return ValidationError(_validation_message(exc))
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLargeError()
    if isinstance(exc, NotFoundException):
        return NotFoundError("No such endpoint.")
    if isinstance(exc, MethodNotAllowedException):
        return MethodNotAllowedError()
    if isinstance(exc, ClientException) and exc.status_code == 400:
        if isinstance(exc.__cause__, SerializationException):  # the body did not decode
            return BadRequestError("The request body is not valid JSON.", reason="malformed_json")
        return BadRequestError(_BAD_REQUEST_TEXT.get(str(exc.detail), "The request is not valid."))
    if isinstance(exc, UnicodeDecodeError):  # msgspec raises it as is on a non-UTF-8 body
        return BadRequestError("The request body is not valid UTF-8 JSON.", reason="malformed_json")
    if isinstance(exc, RecursionError) and "deserializ" in str(exc):  # msgspec, on deep nesting
        return BadRequestError("The request body is nested too deeply.", reason="malformed_json")
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return LoomalError("The request was refused.", code="bad_request", status=exc.status_code)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    log.error("unexpected %s at %s", type(exc).__name__, where)
    return ServerError()


def incomplete_body() -> BadRequestError:
    """The answer to a body cut short: a client that only closed its side still reads
    it (given none, the HTTP server would answer a bare 500)."""
    return BadRequestError(
        "The request body ended before the length its Content-Length announced.",
        reason="incomplete_body",
    )


_LITESTAR_DISCONNECT = "client disconnected prematurely"
"""What Litestar's ``Request.stream()`` raises (an InternalServerException) when the
ASGI server reports ``http.disconnect`` in the middle of a body."""


def _client_disconnected(exc: Exception) -> bool:
    return isinstance(exc, InternalServerException) and exc.detail == _LITESTAR_DISCONNECT


_BAD_REQUEST_TEXT = {"Invalid host header": "The Host header is not a valid host name."}
"""Litestar's other 400s (the Host header, which its router checks), in our words:
its own texts can quote what was sent (``Invalid content-length: '...'``)."""


def _validation_message(exc: ValidationException) -> str:
    """``field: what is wrong``, the field named as the caller wrote it."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict) and item.get("message"):
            if item.get("source") == "body" and (named := _body_message(exc.__cause__)):
                return named
            key = item.get("key")
            message = str(item["message"])
            if key and f"`{key}`" not in message:
                return f"{key}: {message}"
            return message
    return "The request is not valid."


def _body_message(cause: BaseException | None) -> str | None:
    """A body error with its field path from msgspec's own text (``... - at
    `$.data.data.key```, the first ``data`` being Litestar's name for the whole
    body): Litestar's key drops every ``data.``, so it blamed ``data`` for a missing
    ``type`` and ``key`` for ``data.key``."""
    if not isinstance(cause, msgspec.ValidationError):
        return None
    message, found, where = str(cause).partition(" - at `$.data")
    if not found or not where.endswith("`"):
        return None
    field = where[:-1].removeprefix(".")
    return f"{field}: {message}" if field and f"`{field}`" not in message else message


def etag(version: int) -> dict[str, str]:
    """The header a response carrying a credential sends: its version, which a later
    store may require with ``If-Match`` (see ``core/preconditions.py``)."""
    return {"etag": f'"{version}"'}


def approval_pending(error: ApprovalPendingError, scope: Any) -> ApprovalPending:
    """The 202 of a brokered request held for a person (not an error body: the
    SPEC's ``{approvalId, status, approvalUrl, expiresAt}``). A relative
    ``approvalUrl`` (no ``--public-url``) is made absolute on the request's origin."""
    url = error.approval_url
    if url.startswith("/"):
        host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1")
        if host:
            url = f"{scope.get('scheme', 'http')}://{host}{url}"
    return ApprovalPending(
        approval_id=error.approval_id,
        status="pending",
        approval_url=url,
        expires_at=from_micros(parse_iso8601(error.expires_at, field="expiresAt")),
    )


def error_body(error: LoomalError) -> ErrorBody:
    return ErrorBody(
        error=error.code, message=error.message, status=error.http_status, reason=error.reason
    )


def error_headers(error: LoomalError) -> dict[str, str]:
    headers = {}
    if error.http_status == 401:
        headers["www-authenticate"] = "Bearer"
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        headers["retry-after"] = str(error.retry_after)
    if isinstance(error, RequestTimeoutError):
        # the rest of a late body may still come: the connection is not reused
        headers["connection"] = "close"
    return headers


async def send_json(
    send: Send,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    request_id: bytes | None = None,
    content_type: bytes = b"application/json",
) -> None:
    """A complete response on a raw ASGI ``send``, JSON unless told (security headers
    included; ``X-Request-Id`` when given)."""
    if content_type == b"application/json":
        raw = [*_JSON_HEADERS, (b"content-length", b"%d" % len(body))]
    else:
        raw = [(b"content-type", content_type), *SECURITY_HEADERS]
        raw.append((b"content-length", b"%d" % len(body)))
    if headers:
        raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    if request_id is not None:
        raw.append((b"x-request-id", request_id))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def with_security_headers(send: Send) -> Send:
    """``send`` that adds SECURITY_HEADERS to the answer's start: for what answers
    through an app of its own (Litestar's routes and console, the MCP package, the
    upstream's headers on the proxy). What the edge writes with :func:`send_json`
    carries them already; each answer gets them once."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS]}
        await send(message)

    return sending


def is_store_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's (the driver raised it)."""
    return type(exc).__module__.startswith(("psycopg", "sqlite3"))


class ErrorWriter:
    """The one error writer: every path answers an exception through it, in the
    SPEC's shape. It counts the requests that failed on a database exception
    (``loomal_store_errors_total``): state the edge owns, not a process global."""

    __slots__ = ("store_errors",)

    def __init__(self) -> None:
        self.store_errors = 0

    def error_of(self, exc: Exception) -> LoomalError:
        """The error tree's answer to ``exc`` (counted when the store raised it)."""
        if is_store_error(exc):
            self.store_errors += 1
        return to_loomal_error(exc)

    async def send(
        self,
        send: Send,
        exc: Exception,
        *,
        request_id: bytes | None = None,
        scope: Any = None,
    ) -> None:
        """The answer to ``exc`` on a raw ASGI ``send``, security headers included
        (``scope``: the request's, for the held request's absolute approvalUrl)."""
        error = self.error_of(exc)
        if isinstance(error, ApprovalPendingError):  # held for a person: the SPEC's 202
            held = encode(approval_pending(error, scope or {}))
            await send_json(send, 202, held, request_id=request_id)
            return
        await send_json(
            send,
            error.http_status,
            encode(error_body(error)),
            error_headers(error),
            request_id=request_id,
        )

    def response(self, request: Any, exc: Exception) -> Response[Any]:
        """Litestar's exception handler: the same answer as a Litestar response."""
        error = self.error_of(exc)
        if isinstance(error, ApprovalPendingError):  # held for a person: the SPEC's 202
            return Response(approval_pending(error, request.scope), status_code=202)
        return Response(
            error_body(error), status_code=error.http_status, headers=error_headers(error)
        )
