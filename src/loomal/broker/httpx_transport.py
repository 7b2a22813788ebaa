"""The real transport: the system resolver, and httpx for one request to one
checked address, TLS still verified for the name (httpx's ``sni_hostname``
extension sets SNI and the certificate check while the socket goes to the
pinned IP).

One client per request, never a pool shared across hops or calls: a pooled
connection is keyed by IP and port, so a second name on the same address would
reuse a TLS session made for the first name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import httpx

from loomal.broker.transport import UpstreamRequest
from loomal.broker.urls import IPAddress
from loomal.errors import BadGatewayError

__all__ = ["HttpxTransport", "system_resolve"]

log = logging.getLogger("loomal.broker")


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


async def system_resolve(host: str, port: int) -> Sequence[IPAddress]:
    """The system resolver's addresses for ``host``, in its order, once each."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError:
        raise BadGatewayError(f"Could not resolve {host}.", reason="dns_failed") from None
    seen: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


class _Answer:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Sequence[tuple[bytes, bytes]] = response.headers.raw

    async def raw_body(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _failure(exc) from None


Resolve = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


class HttpxTransport:
    """:class:`~loomal.broker.transport.Transport` over httpx; ``verify``: the TLS
    context (the system's CA bundle by default, built once); ``resolve``: names to
    addresses (the system resolver by default)."""

    def __init__(
        self, verify: ssl.SSLContext | None = None, resolve: Resolve = system_resolve
    ) -> None:
        self._verify = verify
        self._resolve = resolve

    def _tls(self) -> ssl.SSLContext:
        if self._verify is None:  # built on first use: reading the CA bundle takes a while
            self._verify = httpx.create_ssl_context()
        return self._verify

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        return await self._resolve(host, port)

    @asynccontextmanager
    async def send(self, request: UpstreamRequest) -> AsyncIterator[_Answer]:
        # The broker bounds the whole exchange; httpx's own timeouts only need to
        # not cut it sooner (connect has its own, shorter one).
        timeout = httpx.Timeout(None, connect=request.connect_timeout)
        async with httpx.AsyncClient(
            verify=self._tls(), trust_env=False, follow_redirects=False, timeout=timeout
        ) as client:
            built = client.build_request(
                request.method,
                request.url,
                headers=list(request.headers),
                content=request.body,
                extensions={}
                if request.server_name is None
                else {"sni_hostname": request.server_name},
            )
            try:
                response = await client.send(built, stream=True)
            except httpx.HTTPError as exc:
                raise _failure(exc) from None
            try:
                yield _Answer(response)
            finally:
                await response.aclose()


def _failure(exc: Exception) -> BadGatewayError:
    """An httpx error as the error tree says it, by type only (its text may quote the URL)."""
    if isinstance(exc, httpx.TimeoutException):
        return BadGatewayError("The upstream did not answer in time.", reason="timeout")
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
