"""A fake upstream behind the broker's transport port: a dict for DNS and a
function for answers. Nothing is sent anywhere; every request the broker
would have sent is recorded, so a test can show a refused one never left."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from loomal.broker.transport import UpstreamRequest
from loomal.broker.urls import IPAddress
from loomal.errors import BadGatewayError


@dataclass
class Sent:
    """One request as the upstream would have received it."""

    method: str
    url: str
    address: IPAddress
    server_name: str | None
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))


@dataclass
class Reply:
    status: int = 200
    headers: Sequence[tuple[str | bytes, str | bytes]] = ()
    body: bytes | Sequence[bytes] = b""
    """One body, or the chunks it arrives in."""
    stall: bool = False
    """Never send the body (a test's deadline cuts it)."""


Handler = Callable[[Sent], Reply]


def echo(sent: Sent) -> Reply:
    """What an echoing upstream answers: the request, as JSON."""
    body = {
        "method": sent.method,
        "path": sent.path,
        "headers": sent.headers,
        "body": sent.body.decode("utf-8", "replace"),
    }
    return Reply(200, [("content-type", "application/json")], json.dumps(body).encode())


@dataclass
class _Answer:
    status: int
    headers: Sequence[tuple[bytes, bytes]]
    chunks: Sequence[bytes]
    stall: bool

    async def raw_body(self) -> AsyncIterator[bytes]:
        if self.stall:
            await asyncio.Event().wait()
        for chunk in self.chunks:
            yield chunk


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


@dataclass
class FakeUpstream:
    handler: Handler = echo
    dns: dict[str, list[str]] = field(default_factory=dict)
    resolved: list[str] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    refuse_connections: bool = False

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.resolved.append(host)
        if host not in self.dns:
            raise BadGatewayError(f"Could not resolve {host}.", reason="dns_failed")
        return [ipaddress.ip_address(a) for a in self.dns[host]]

    @asynccontextmanager
    async def send(self, request: UpstreamRequest) -> AsyncIterator[_Answer]:
        if self.refuse_connections:
            raise BadGatewayError("Could not connect to the upstream.", reason="connect_failed")
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        sent = Sent(
            request.method,
            request.url,
            request.address,
            request.server_name,
            headers,
            request.body or b"",
        )
        self.sent.append(sent)
        reply = self.handler(sent)
        chunks = [reply.body] if isinstance(reply.body, bytes) else list(reply.body)
        raw = [(_bytes(k), _bytes(v)) for k, v in reply.headers]
        yield _Answer(reply.status, raw, chunks, reply.stall)
