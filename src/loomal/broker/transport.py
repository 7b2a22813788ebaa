"""The broker's one port to the network: resolve a name, send one request to
one checked address, stream the raw answer back.

Everything that decides (where a request may go, what it carries, what comes
back) is the broker's pure code; a transport only does what it is told, so
tests give the broker a fake one and send nothing (``tests/broker/fake_upstream.py``).
The real one is :class:`loomal.broker.httpx_transport.HttpxTransport`.

A transport never follows redirects, never decodes a ``Content-Encoding`` (the
broker decodes only what it can scrub) and raises only
:class:`~loomal.errors.BadGatewayError` with a reason (``dns_failed``,
``connect_failed``, ``tls_failed``, ``timeout``, ``upstream_error``), whose
message never quotes the URL or a library's text (either could hold the key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from loomal.broker.urls import IPAddress

__all__ = ["Transport", "UpstreamAnswer", "UpstreamRequest"]


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One hop, ready for the wire; its headers hold the injected secret (masked in repr)."""

    method: str
    url: str
    """With the host replaced by the checked ``address``."""
    address: IPAddress
    server_name: str | None
    """The name TLS checks the certificate for (SNI); None for an IP literal."""
    headers: tuple[tuple[bytes, bytes], ...]
    """Every header, ``Host`` included, as bytes (checked ASCII before)."""
    body: bytes | None
    connect_timeout: float

    def __repr__(self) -> str:
        return f"UpstreamRequest({self.method} {self.address} '***')"


class UpstreamAnswer(Protocol):
    """The upstream's answer as it arrives."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[bytes, bytes]]:
        """Raw, in order, names as sent."""
        ...

    def raw_body(self) -> AsyncIterator[bytes]:
        """The body as sent, still content-encoded, de-chunked."""
        ...


class Transport(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """The addresses of ``host``, in the resolver's order, once each; may be
        empty. BadGatewayError(``dns_failed``) when the name does not resolve."""
        ...

    def send(self, request: UpstreamRequest) -> AbstractAsyncContextManager[UpstreamAnswer]:
        """Send ``request`` to its address; the answer is open for the block."""
        ...
