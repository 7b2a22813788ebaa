"""The HTTP exchange of a brokered request, shared by ``/fetch`` and the proxy.

Each hop is checked before any connection: scheme (https, or http to a host
the operator allowed), ``allowedHosts``, then the address (resolved once and
pinned: the request goes to that IP, with the Host header and the TLS SNI and
certificate check still for the name, through httpx's ``sni_hostname``
extension). Redirects are followed here, each hop checked the same way, at
most five; one to a host the credential may not reach is refused (502
``redirect_not_allowed``), so the credential never follows it.

Limits: connect 5 s, 30 s for the whole exchange, 1 MiB each way (the answer
is read decoded, so a compressed bomb is cut at 1 MiB too). Failures become
502 ``bad_gateway`` with a reason; no message ever quotes a URL's query or an
exception's text (either could hold the injected key).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus

import httpx

from loomal.core.broker import HOP_BY_HOP, BrokerPlan
from loomal.core.egress import EgressPolicy, IPAddress, Target, host_allowed, parse_url
from loomal.core.models import FetchResponse
from loomal.errors import BadGatewayError, BadRequestError, LoomalError, ValidationError

__all__ = ["MAX_BODY_BYTES", "Answer", "Trace", "exchange"]

log = logging.getLogger("loomal.broker")

MAX_BODY_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 30.0
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DROPPED_FROM_ANSWER = HOP_BY_HOP | {"content-encoding"}
_ssl_context: ssl.SSLContext | None = None


class _HideQueries(logging.Filter):
    """httpx logs each request's URL at INFO; an injected ``?api_key=`` must not
    reach a log line, whatever level an operator turns on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.copy_with(query=None) if isinstance(arg, httpx.URL) and arg.query else arg
                for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_HideQueries())


def _tls() -> ssl.SSLContext:
    """One verifying context for every exchange (building one reads the CA bundle)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


@dataclass(slots=True)
class Trace:
    """What the audit log keeps of one brokered request: method, host, path,
    status and duration. Never the query, a header or a body."""

    method: str = ""
    host: str = ""
    path: str = ""
    status: int | None = None
    started: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        if not self.host:
            return ""
        status = "-" if self.status is None else str(self.status)
        elapsed = round((time.monotonic() - self.started) * 1000)
        return f"{self.method} {self.host} {self.path[:200]} {status} {elapsed}ms"


@dataclass(slots=True)
class Answer:
    """The upstream's answer: status and scrubbed headers now, body as it streams."""

    status: int
    headers: list[tuple[str, str]]
    target: Target
    _response: httpx.Response
    _plan: BrokerPlan
    _deadline: float

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded and scrubbed; 502 ``response_too_large`` past 1 MiB."""
        scrubber = self._plan.scrubber.stream()
        received = 0
        raw = self._response.aiter_bytes()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(raw, None)
            except TimeoutError:
                raise _timeout() from None
            except httpx.HTTPError as exc:
                raise _failure(exc) from None
            if chunk is None:
                break
            received += len(chunk)
            if received > MAX_BODY_BYTES:
                raise _too_large()
            out = scrubber.feed(chunk)
            if out:
                yield out
        tail = scrubber.finish()
        if tail:
            yield tail

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def fetch_response(self) -> FetchResponse:
        """The whole answer as ``/fetch`` returns it: text when the body is UTF-8,
        else base64; repeated headers joined by ", "."""
        content = await self.read()
        try:
            body, encoding = content.decode("utf-8"), "text"
        except UnicodeDecodeError:
            body, encoding = base64.b64encode(content).decode("ascii"), "base64"
        headers: dict[str, str] = {}
        for key, value in self.headers:
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return FetchResponse(
            status=self.status,
            headers=headers,
            body=body,
            body_encoding=encoding,  # type: ignore[arg-type]
            url=self._plan.scrubber.text(self.target.display()),
        )


def _timeout() -> BadGatewayError:
    return BadGatewayError(
        f"The upstream did not answer within {TOTAL_TIMEOUT:.0f} s.", reason="timeout"
    )


def _too_large() -> BadGatewayError:
    return BadGatewayError(
        "The upstream's answer is larger than 1 MiB, the limit of a brokered request.",
        reason="response_too_large",
    )


def _failure(exc: Exception) -> BadGatewayError:
    """An httpx error as the error tree says it, by type only (its text may quote the URL)."""
    if isinstance(exc, httpx.TimeoutException):
        return _timeout()
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ssl.SSLError):
                return BadGatewayError(
                    "The upstream's TLS certificate or handshake failed verification.",
                    reason="tls_failed",
                )
            cause = cause.__cause__ or cause.__context__
        return BadGatewayError("Could not connect to the upstream.", reason="connect_failed")
    log.warning("brokered request failed: %s", type(exc).__name__)
    return BadGatewayError("The upstream's answer was not valid HTTP.", reason="upstream_error")


def _with_query(query: str, injected: Sequence[tuple[str, str]]) -> str:
    """The caller's query with the injected parameters set (a caller's same-named one dropped)."""
    if not injected:
        return query
    names = {name for name, _ in injected}
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.split("=", 1)[0]) not in names
    ]
    kept += [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in injected]
    return "&".join(kept)


async def _checked_address(
    policy: EgressPolicy, plan: BrokerPlan, name: str, target: Target, hop: int
) -> IPAddress:
    try:
        if target.scheme != "https" and not policy.allows_http(target):
            raise BadRequestError(
                f"Brokered requests use https; http to {target.host} needs the operator's "
                f"--fetch-allow-private {target.host}.",
                reason="https_required",
            )
        if not host_allowed(target.host, plan.allowed_hosts):
            raise BadRequestError(
                f"{target.host} is not in {name!r}'s metadata.allowedHosts.",
                reason="host_not_allowed",
            )
        return await policy.pin(target)
    except BadRequestError as error:
        if hop == 0:
            raise
        raise BadGatewayError(
            f"The upstream redirected to {target.display()}, which is refused: {error.message}",
            reason="redirect_not_allowed",
        ) from None


@asynccontextmanager
async def exchange(
    policy: EgressPolicy,
    plan: BrokerPlan,
    name: str,
    method: str,
    target: Target,
    headers: list[tuple[str, str]],
    body: bytes | None,
    trace: Trace,
) -> AsyncIterator[Answer]:
    """Send the request (following allowed redirects) and yield the final answer."""
    try:
        async with _exchange(policy, plan, name, method, target, headers, body, trace) as answer:
            yield answer
    except LoomalError as error:
        # a message may name a redirect's host or path, which is the upstream's text
        error.message = plan.scrubber.text(error.message)
        error.args = (error.message,)
        raise


@asynccontextmanager
async def _exchange(
    policy: EgressPolicy,
    plan: BrokerPlan,
    name: str,
    method: str,
    target: Target,
    headers: list[tuple[str, str]],
    body: bytes | None,
    trace: Trace,
) -> AsyncIterator[Answer]:
    deadline = asyncio.get_running_loop().time() + TOTAL_TIMEOUT
    timeout = httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
    async with httpx.AsyncClient(
        verify=_tls(), trust_env=False, follow_redirects=False, timeout=timeout
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            # a redirect's Location is the upstream's text: it could hold the key
            trace.host, trace.path = (
                plan.scrubber.text(target.host),
                plan.scrubber.text(target.path),
            )
            address = await _checked_address(policy, plan, name, target, hop)
            request = client.build_request(
                method,
                target.url(address=address, query=_with_query(target.query, plan.injection.query)),
                headers=[
                    *headers,
                    *plan.injection.headers,
                    ("host", target.authority),
                    ("accept-encoding", "identity"),
                ],
                content=body,
                extensions={"sni_hostname": target.host} if target.literal is None else {},
            )
            try:
                async with asyncio.timeout_at(deadline):
                    response = await client.send(request, stream=True)
            except TimeoutError:
                raise _timeout() from None
            except httpx.HTTPError as exc:
                raise _failure(exc) from None
            try:
                trace.status = response.status_code
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    if hop == MAX_REDIRECTS:
                        raise BadGatewayError(
                            f"The upstream redirected more than {MAX_REDIRECTS} times.",
                            reason="too_many_redirects",
                        )
                    try:
                        target = parse_url(location, base=target)
                    except ValidationError:
                        raise BadGatewayError(
                            "The upstream redirected to a URL that is not http(s).",
                            reason="redirect_not_allowed",
                        ) from None
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method = "GET" if method != "HEAD" else method
                        body = None
                        headers = [(k, v) for k, v in headers if k != "content-type"]
                    continue
                yield _answer(response, target, plan, deadline)
                return
            finally:
                await response.aclose()
    raise AssertionError("unreachable")  # pragma: no cover


def _answer(response: httpx.Response, target: Target, plan: BrokerPlan, deadline: float) -> Answer:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    headers = [
        (key.decode("latin-1").lower(), plan.scrubber.text(value.decode("latin-1")))
        for key, value in response.headers.raw
        if key.decode("latin-1").lower() not in _DROPPED_FROM_ANSWER
    ]
    return Answer(response.status_code, headers, target, response, plan, deadline)
