"""The exchange over the fake upstream: redirects (each hop checked, the next hop
decided by the pure rules), the deadline, the answer's limit, a Location that
carries the key. Nothing is sent anywhere."""

from __future__ import annotations

import pytest

from loomal.broker.addresses import EgressPolicy
from loomal.broker.exchange import Limits, Trace, exchange
from loomal.broker.hops import MAX_REDIRECTS, Hop
from loomal.broker.injection import plan_broker
from loomal.broker.urls import parse_url
from loomal.errors import BadGatewayError, BadRequestError
from tests.broker.conftest import PUBLIC
from tests.broker.fake_upstream import FakeUpstream, Reply, Sent, echo

KEY = "sk_live_" + "Zz9" * 10
PLAN = plan_broker(
    "c",
    "API_KEY",
    {"allowedHosts": ["api.example.com", "cdn.example.com", "inside.example.com"]},
    {"key": KEY},
)
DNS = {"api.example.com": [PUBLIC], "cdn.example.com": ["93.184.216.35"], "x.test": [PUBLIC],
       "inside.example.com": ["10.0.0.7"]}  # fmt: skip


def redirecting(status: int, to: str, then: int = 1) -> FakeUpstream:
    """Redirects ``then`` times to ``to``, then echoes."""

    def answer(sent: Sent) -> Reply:
        if len(upstream.sent) <= then:
            return Reply(status, [("Location", to)])
        return echo(sent)

    upstream = FakeUpstream(answer, DNS)
    return upstream


async def run(
    upstream: FakeUpstream,
    url: str = "https://api.example.com/start",
    method: str = "GET",
    body: bytes | None = None,
    limits: Limits | None = None,
) -> tuple[int, bytes]:
    first = Hop(0, method, parse_url(url), (("content-type", "text/plain"),), body)
    async with exchange(
        upstream, EgressPolicy(), PLAN, "c", first, Trace(), limits=limits or Limits()
    ) as answer:
        return answer.status, await answer.read()


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [(307, "POST", "POST"), (308, "PUT", "PUT"), (303, "POST", "GET"), (302, "POST", "GET"),
     (301, "GET", "GET"), (303, "HEAD", "HEAD")],
)  # fmt: skip
async def test_a_redirect_within_allowed_hosts_is_followed(
    status: int, method: str, expected: str
) -> None:
    upstream = redirecting(status, "https://cdn.example.com/next")
    answered, _ = await run(upstream, method=method, body=b"hi" if method != "HEAD" else None)
    assert answered == 200
    _, second = upstream.sent
    assert second.method == expected and second.path == "/next"
    assert second.headers["authorization"] == f"Bearer {KEY}"
    assert second.headers["host"] == "cdn.example.com"
    kept = expected == method and method != "HEAD"
    assert (second.body == b"hi") is kept
    assert ("content-type" in second.headers) is kept
    assert upstream.resolved == ["api.example.com", "cdn.example.com"]


@pytest.mark.parametrize(
    ("to", "why"),
    [("https://elsewhere.example/", "not in"), ("http://cdn.example.com/", "https"),
     ("https://inside.example.com/", "private"), ("ftp://api.example.com/", "not http(s)")],
)  # fmt: skip
async def test_a_redirect_elsewhere_is_refused_and_the_key_never_follows(to: str, why: str) -> None:
    upstream = redirecting(302, to)
    with pytest.raises(BadGatewayError) as caught:
        await run(upstream)
    assert caught.value.reason == "redirect_not_allowed" and why in caught.value.message
    assert len(upstream.sent) == 1


async def test_redirects_stop_after_five() -> None:
    upstream = redirecting(302, "/again", then=99)
    with pytest.raises(BadGatewayError) as caught:
        await run(upstream)
    assert caught.value.reason == "too_many_redirects"
    assert len(upstream.sent) == MAX_REDIRECTS + 1


async def test_a_location_carrying_the_key_leaks_it_nowhere() -> None:
    token = KEY.lower().replace("_", "")
    plan = plan_broker("c", "API_KEY", {"allowedHosts": ["api.example.com"]}, {"key": token})
    upstream = FakeUpstream(
        lambda sent: Reply(302, [("Location", f"https://{token}.example/{token}")]), DNS
    )
    trace = Trace()
    first = Hop(0, "GET", parse_url("https://api.example.com/"), (), None)
    with pytest.raises(BadGatewayError) as caught:
        async with exchange(upstream, EgressPolicy(), plan, "c", first, trace):
            pass
    assert token not in caught.value.message and "[REDACTED]" in caught.value.message
    assert token not in str(trace) and "[REDACTED]" in str(trace)


async def test_the_first_hop_refused_is_the_callers_error() -> None:
    upstream = FakeUpstream(echo, DNS)
    for url, reason in [("https://x.test/", "host_not_allowed"),
                        ("https://inside.example.com/", "forbidden_address")]:  # fmt: skip
        with pytest.raises(BadRequestError) as caught:
            await run(upstream, url)
        assert caught.value.reason == reason
    assert upstream.sent == []
    upstream.dns.pop("cdn.example.com")
    with pytest.raises(BadGatewayError) as unknown:
        await run(upstream, "https://cdn.example.com/")
    assert unknown.value.reason == "dns_failed"


async def test_a_stalled_body_is_cut_by_the_deadline() -> None:
    """The deadline covers the body; a zero one fires at the first wait (no real time
    passes: the fake answers its headers without waiting)."""
    upstream = FakeUpstream(lambda sent: Reply(200, stall=True), DNS)
    with pytest.raises(BadGatewayError) as caught:
        await run(upstream, limits=Limits(total_seconds=0))
    assert caught.value.reason == "timeout"


async def test_an_answer_past_the_limit_is_refused_or_cut() -> None:
    limits = Limits(max_body_bytes=10)
    declared = FakeUpstream(lambda s: Reply(200, [("Content-Length", "11")], b"x" * 11), DNS)
    with pytest.raises(BadGatewayError) as caught:
        await run(declared, limits=limits)
    assert caught.value.reason == "response_too_large"
    streamed = FakeUpstream(lambda s: Reply(200, body=[b"x" * 6, b"y" * 6]), DNS)
    with pytest.raises(BadGatewayError) as cut:
        await run(streamed, limits=limits)
    assert cut.value.reason == "response_too_large"
    exact = FakeUpstream(lambda s: Reply(200, body=[b"x" * 5, b"y" * 5]), DNS)
    assert await run(exact, limits=limits) == (200, b"xxxxxyyyyy")
