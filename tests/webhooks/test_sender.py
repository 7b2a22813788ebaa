"""One webhook POST goes out like a brokered request: through the egress policy
(a receiver resolving to a metadata, private or loopback address is refused
unless the operator allows it), pinned to the checked address with TLS checked
for the name, no redirect followed, bounded by its timeout. Over a fake
transport with a dict for DNS: nothing is sent anywhere."""

from __future__ import annotations

import pytest

from loomal.broker.addresses import EgressPolicy
from loomal.webhooks.sender import WebhookSender
from tests.broker.fake_upstream import FakeUpstream, Reply

URL = "https://hooks.example.com/loomal/T0K3N"
HEADERS = {"content-type": "application/json", "x-loomal-signature": "sha256=00"}


def sender(upstream: FakeUpstream, *allowed: str, timeout: float = 10.0) -> WebhookSender:
    return WebhookSender(URL, upstream, EgressPolicy.from_allowances(allowed), timeout=timeout)


async def test_a_2xx_is_delivered_to_the_checked_address_with_tls_for_the_name() -> None:
    upstream = FakeUpstream(
        handler=lambda _: Reply(204), dns={"hooks.example.com": ["93.184.216.34"]}
    )
    assert await sender(upstream).post(HEADERS, b'{"id": "evt_1"}') is None
    (sent,) = upstream.sent
    assert (sent.method, str(sent.address), sent.server_name) == (
        "POST",
        "93.184.216.34",
        "hooks.example.com",
    )
    assert sent.path == "/loomal/T0K3N"
    assert sent.headers["host"] == "hooks.example.com"
    assert sent.headers["x-loomal-signature"] == "sha256=00"
    assert sent.body == b'{"id": "evt_1"}'


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.7", "127.0.0.1", "::1", "fd00::1"])
async def test_a_receiver_on_a_forbidden_address_is_refused_unsent(address: str) -> None:
    upstream = FakeUpstream(dns={"hooks.example.com": [address]})
    assert await sender(upstream).post(HEADERS, b"{}") == "forbidden_address"
    assert upstream.sent == []


async def test_the_operator_may_allow_a_private_receiver() -> None:
    upstream = FakeUpstream(handler=lambda _: Reply(200), dns={"hooks.example.com": ["10.0.0.7"]})
    assert await sender(upstream, "hooks.example.com").post(HEADERS, b"{}") is None
    assert len(upstream.sent) == 1


@pytest.mark.parametrize(
    ("status", "why"), [(302, "status_302"), (500, "status_500"), (400, "status_400")]
)
async def test_anything_but_a_2xx_is_a_failure_and_no_redirect_is_followed(
    status: int, why: str
) -> None:
    upstream = FakeUpstream(
        handler=lambda _: Reply(status, [("location", "https://elsewhere.example/")]),
        dns={"hooks.example.com": ["93.184.216.34"]},
    )
    assert await sender(upstream).post(HEADERS, b"{}") == why
    assert len(upstream.sent) == 1


async def test_timeouts_and_unreachable_receivers_are_failures() -> None:
    stalled = FakeUpstream(
        handler=lambda _: Reply(200, stall=True), dns={"hooks.example.com": ["93.184.216.34"]}
    )
    assert await sender(stalled, timeout=0).post(HEADERS, b"{}") == "timeout"
    assert await sender(FakeUpstream()).post(HEADERS, b"{}") == "dns_failed"
    refusing = FakeUpstream(dns={"hooks.example.com": ["93.184.216.34"]}, refuse_connections=True)
    assert await sender(refusing).post(HEADERS, b"{}") == "connect_failed"


async def test_a_plain_http_receiver_is_refused_without_a_lookup() -> None:
    upstream = FakeUpstream(dns={"hooks.example.com": ["93.184.216.34"]})
    plain = WebhookSender(URL.replace("https:", "http:"), upstream, EgressPolicy())
    assert await plain.post(HEADERS, b"{}") == "insecure_url"
    assert (upstream.resolved, upstream.sent) == ([], [])
