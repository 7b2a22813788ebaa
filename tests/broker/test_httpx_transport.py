"""The real transport, end to end against a loopback upstream (the only
destination tests send to): the checked address is the one connected to, with
the name kept in the Host header; a raw answer comes back undecoded for the
broker to decode and scrub."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import AsyncIterator, Sequence

import pytest

from loomal.broker.httpx_transport import HttpxTransport
from loomal.broker.urls import IPAddress
from loomal.config import ServerSettings
from loomal.runtime import open_vault
from tests.broker.conftest import Harness, api_key
from tests.broker.fake_upstream import FakeUpstream
from tests.upstream import Upstream, running_upstream

KEY = "sk_live_" + "Rr7/" * 8


@pytest.fixture
async def loopback(settings: ServerSettings) -> AsyncIterator[tuple[Harness, Upstream, list[str]]]:
    """A vault whose real transport resolves ``upstream.test`` (only) to 127.0.0.1."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address("127.0.0.1")] if host == "upstream.test" else []

    allowed = dataclasses.replace(settings, fetch_allow_private=("upstream.test",))
    with running_upstream() as upstream:
        vault = await open_vault(allowed, transport=HttpxTransport(resolve=resolve))
        try:
            yield Harness(vault, FakeUpstream()), upstream, asked
        finally:
            await vault.close()


async def test_the_checked_address_is_the_one_connected_to(
    loopback: tuple[Harness, Upstream, list[str]],
) -> None:
    harness, upstream, asked = loopback
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY, "upstream.test"))
    url = f"http://upstream.test:{upstream.port}/echo"
    answer = await harness.fetch(who, "s", url)
    assert answer.status == 200 and KEY not in answer.body
    assert asked == ["upstream.test"]
    (seen,) = upstream.seen
    assert seen.headers["host"] == f"upstream.test:{upstream.port}"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["accept-encoding"] == "identity"
    assert answer.url == url


async def test_a_gzip_answer_is_decoded_by_the_broker_not_the_transport(
    loopback: tuple[Harness, Upstream, list[str]],
) -> None:
    harness, upstream, _ = loopback
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY, "upstream.test"))
    url = f"http://upstream.test:{upstream.port}/encoded?encoding=x-gzip"
    answer = await harness.fetch(who, "s", url)
    assert answer.body == "auth: Bearer [REDACTED]"
    assert "content-encoding" not in answer.headers
