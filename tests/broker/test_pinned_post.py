"""The vault's own POST (webhooks, OAuth token requests): plain http refused before
any lookup, a literal address never looked up, the address pinned with TLS for
the name, the answer read only up to its bound. Over a fake transport."""

from __future__ import annotations

import pytest

from loomal.broker.addresses import EgressPolicy
from loomal.broker.pinned_post import PostAnswer, pinned_post
from loomal.broker.urls import parse_url
from loomal.errors import BadGatewayError, BadRequestError
from tests.broker.fake_upstream import FakeUpstream, Reply

PUBLIC = "93.184.216.34"


async def post(upstream: FakeUpstream, url: str, *allowed: str, limit: int = 10) -> PostAnswer:
    return await pinned_post(
        upstream,
        EgressPolicy.from_allowances(allowed),
        parse_url(url),
        {"x-caller": "yes"},
        b"body",
        connect_timeout=5.0,
        max_answer_bytes=limit,
        plain_http=BadRequestError("plain", reason="refused_http"),
        unresolved=BadGatewayError("none", reason="no_addresses"),
    )


async def test_plain_http_is_refused_before_any_lookup() -> None:
    upstream = FakeUpstream(dns={"hooks.example.com": [PUBLIC]})
    with pytest.raises(BadRequestError) as refused:
        await post(upstream, "http://hooks.example.com/x")
    assert refused.value.reason == "refused_http"
    assert (upstream.resolved, upstream.sent) == ([], [])


async def test_plain_http_goes_to_an_allowed_host() -> None:
    upstream = FakeUpstream(handler=lambda _: Reply(200), dns={"hooks.example.com": ["10.0.0.7"]})
    assert (await post(upstream, "http://hooks.example.com/x", "hooks.example.com")).status == 200


async def test_a_name_is_pinned_to_its_checked_address_with_tls_for_the_name() -> None:
    upstream = FakeUpstream(handler=lambda _: Reply(201), dns={"hooks.example.com": [PUBLIC]})
    assert await post(upstream, "https://hooks.example.com:8443/x") == PostAnswer(201, b"")
    (sent,) = upstream.sent
    assert (str(sent.address), sent.server_name, sent.body) == (
        PUBLIC,
        "hooks.example.com",
        b"body",
    )
    assert sent.headers == {
        "x-caller": "yes",
        "host": "hooks.example.com:8443",
        "accept-encoding": "identity",
    }


async def test_a_literal_address_is_not_looked_up_and_has_no_server_name() -> None:
    upstream = FakeUpstream(handler=lambda _: Reply(200))
    await post(upstream, f"https://{PUBLIC}/x")
    assert upstream.resolved == [] and upstream.sent[0].server_name is None


async def test_a_name_without_addresses_raises_the_callers_error() -> None:
    upstream = FakeUpstream(dns={"hooks.example.com": []})
    with pytest.raises(BadGatewayError) as unresolved:
        await post(upstream, "https://hooks.example.com/x")
    assert unresolved.value.reason == "no_addresses" and upstream.sent == []


async def test_the_answer_is_read_only_up_to_its_bound() -> None:
    dns = {"hooks.example.com": [PUBLIC]}
    fits = FakeUpstream(handler=lambda _: Reply(200, body=[b"12345", b"67890"]), dns=dns)
    assert (await post(fits, "https://hooks.example.com/x")).body == b"1234567890"
    longer = FakeUpstream(handler=lambda _: Reply(500, body=[b"12345", b"678901"]), dns=dns)
    assert await post(longer, "https://hooks.example.com/x") == PostAnswer(500, None)
