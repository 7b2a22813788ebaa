"""One brokered exchange over the transport port: each hop checked, resolved,
pinned and sent with the credential, redirects followed as
:mod:`loomal.broker.hops` decides, the answer decoded and scrubbed as it streams.

Limits (:class:`Limits`): connect 5 s, 30 s for the whole exchange (every hop
and the body), 1 MiB of answer counted after decoding (so a compressed bomb is
cut at 1 MiB too). Every error leaving here has the secrets scrubbed from its
message (a redirect's Location is the upstream's text and could hold the key).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from loomal.broker.addresses import EgressPolicy
from loomal.broker.answers import answer_headers, proxy_answer_headers
from loomal.broker.encodings import ACCEPT_ENCODING, BodyDecoder, body_decoder, too_large
from loomal.broker.hops import Hop, check_hop, next_hop, refused_redirect
from loomal.broker.injection import BrokerPlan
from loomal.broker.outbound import with_injected_query
from loomal.broker.pinned_post import pinned_address
from loomal.broker.scrubbing import StreamScrubber
from loomal.broker.transport import Transport, UpstreamAnswer, UpstreamRequest
from loomal.broker.urls import IPAddress, Target
from loomal.core.models import FetchResponse
from loomal.errors import BadGatewayError, BadRequestError, LoomalError

__all__ = ["Answer", "Limits", "Trace", "exchange"]


@dataclass(frozen=True, slots=True)
class Limits:
    connect_seconds: float = 5.0
    total_seconds: float = 30.0
    max_body_bytes: int = 1024 * 1024


@dataclass(slots=True)
class Trace:
    """What the audit log keeps of one brokered request: method, host, path,
    status and duration. Never the query, a header or a body."""

    method: str = ""
    host: str = ""
    path: str = ""
    status: int | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def __str__(self) -> str:
        if not self.host:
            return ""
        status = "-" if self.status is None else str(self.status)
        elapsed = round((self.clock() - self.started) * 1000)
        return f"{self.method} {self.host} {self.path[:200]} {status} {elapsed}ms"


class Answer:
    """The final answer: status and scrubbed headers now, body as it streams."""

    def __init__(
        self,
        upstream: UpstreamAnswer,
        headers: list[tuple[str, str]],
        target: Target,
        plan: BrokerPlan,
        decoder: BodyDecoder,
        deadline: float,
        limits: Limits,
    ) -> None:
        self.status = upstream.status
        self.headers = headers
        self.target = target
        self._upstream, self._plan, self._decoder = upstream, plan, decoder
        self._deadline, self._limits = deadline, limits

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded and scrubbed; 502 ``response_too_large`` past the limit."""
        scrubber = self._plan.scrubber.stream()
        left = self._limits.max_body_bytes
        raw = self._upstream.raw_body()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(self._deadline):
                        chunk = await anext(raw, None)
                except TimeoutError:
                    raise _timeout(self._limits) from None
                decoded = (
                    self._decoder.finish(left) if chunk is None else self._decoder.feed(chunk, left)
                )
                left -= len(decoded)
                if left < 0:
                    raise too_large(self._limits.max_body_bytes)
                out = _scrubbed(scrubber, decoded, final=chunk is None)
                if out:
                    yield out
                if chunk is None:
                    return
        except LoomalError as error:
            raise _scrubbed_error(self._plan, error) from None

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


def _scrubbed(scrubber: StreamScrubber, data: bytes, *, final: bool) -> bytes:
    out = scrubber.feed(data) if data else b""
    return out + scrubber.finish() if final else out


def _timeout(limits: Limits) -> BadGatewayError:
    return BadGatewayError(
        f"The upstream did not answer within {limits.total_seconds:g} s.", reason="timeout"
    )


def _scrubbed_error(plan: BrokerPlan, error: LoomalError) -> LoomalError:
    error.message = plan.scrubber.text(error.message)
    error.args = (error.message,)
    return error


@asynccontextmanager
async def exchange(
    transport: Transport,
    policy: EgressPolicy,
    plan: BrokerPlan,
    name: str,
    first: Hop,
    trace: Trace,
    *,
    limits: Limits = Limits(),
    proxied: bool = False,
) -> AsyncIterator[Answer]:
    """Send ``first`` (following allowed redirects) and yield the final answer;
    ``proxied``: the answer's headers as the proxy serves them."""
    deadline = asyncio.get_running_loop().time() + limits.total_seconds
    hop = first
    try:
        while True:
            # a redirect's Location is the upstream's text: it could hold the key
            trace.host = plan.scrubber.text(hop.target.host)
            trace.path = plan.scrubber.text(hop.target.path)
            async with AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout_at(deadline):
                        address = await _checked_address(transport, policy, plan, name, hop)
                        request = _request(hop, address, plan, limits)
                        upstream = await stack.enter_async_context(transport.send(request))
                except TimeoutError:
                    raise _timeout(limits) from None
                except BadGatewayError as error:
                    raise _with_origin(error, hop.target) from None
                trace.status = upstream.status
                following = next_hop(hop, upstream.status, _header(upstream, b"location"))
                if following is None:
                    yield _answer(upstream, hop.target, plan, deadline, limits, proxied)
                    return
            hop = following
    except LoomalError as error:
        raise _scrubbed_error(plan, error) from None


async def _checked_address(
    transport: Transport, policy: EgressPolicy, plan: BrokerPlan, name: str, hop: Hop
) -> IPAddress:
    target = hop.target
    try:
        check_hop(policy, plan, name, target)
        unresolved = BadGatewayError(f"Could not resolve {target.host}.", reason="dns_failed")
        return await pinned_address(transport, policy, target, unresolved)
    except BadRequestError as error:
        if hop.number == 0:
            raise
        raise refused_redirect(target, error) from None


def _request(hop: Hop, address: IPAddress, plan: BrokerPlan, limits: Limits) -> UpstreamRequest:
    target = hop.target
    headers = [
        *hop.headers,
        *plan.injection.headers,
        ("host", target.authority),
        ("accept-encoding", ACCEPT_ENCODING),
    ]
    return UpstreamRequest(
        method=hop.method,
        url=target.url(
            address=address, query=with_injected_query(target.query, plan.injection.query)
        ),
        address=address,
        server_name=target.host if target.literal is None else None,
        headers=tuple((k.encode("ascii"), v.encode("ascii")) for k, v in headers),
        body=hop.body,
        connect_timeout=limits.connect_seconds,
    )


def _with_origin(error: BadGatewayError, target: Target) -> BadGatewayError:
    """A failure to connect says where it tried (scheme, host and port)."""
    if error.reason == "connect_failed":
        error.message = f"Could not connect to the upstream at {target.origin}."
    elif error.reason == "tls_failed":
        error.message = f"The TLS certificate or handshake of {target.origin} failed verification."
    error.args = (error.message,)
    return error


def _header(upstream: UpstreamAnswer, name: bytes) -> str | None:
    for key, value in upstream.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _answer(
    upstream: UpstreamAnswer,
    target: Target,
    plan: BrokerPlan,
    deadline: float,
    limits: Limits,
    proxied: bool,
) -> Answer:
    declared = _header(upstream, b"content-length") or ""
    encoding = ", ".join(
        value.decode("latin-1") for key, value in upstream.headers
        if key.lower() == b"content-encoding"
    )  # fmt: skip
    decoder = body_decoder(encoding)
    if declared.strip().isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large(limits.max_body_bytes)
    shape = proxy_answer_headers if proxied else answer_headers
    return Answer(upstream, shape(upstream.headers, plan.scrubber), target, plan, decoder,
                  deadline, limits)  # fmt: skip
