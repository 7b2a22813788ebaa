"""Request rules, budgets and approvals on brokered requests, on both stores, with
a fake upstream and an injected wall clock: every refusal happens before anything
is sent, and is audited without a secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.core.identity import Principal
from loomal.errors import (
    ApprovalPendingError,
    LoomalError,
    PermissionDeniedError,
    RateLimitError,
)
from loomal.runtime import open_vault
from tests.broker.conftest import PUBLIC, Harness, api_key
from tests.broker.fake_upstream import FakeUpstream

KEY = "sk_live_" + "Rq7-zz" * 6
BASE = "https://api.example.com"
CRM_RULES: list[dict[str, Any]] = [
    {"methods": ["GET"], "paths": ["/v1/**"]},
    {"methods": ["POST"], "paths": ["/v1/emails"], "budget": {"max": 3, "perSeconds": 86400}},
    {"methods": ["DELETE"], "paths": ["/v1/contacts/*"], "approval": {"windowSeconds": 0}},
    {"methods": ["PATCH"], "paths": ["/v1/contacts/*"], "approval": {"windowSeconds": 600}},
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def harness(settings: ServerSettings, clock: Clock) -> AsyncIterator[Harness]:
    upstream = FakeUpstream(dns={"api.example.com": [PUBLIC]})
    vault = await open_vault(settings, transport=upstream, clock=clock)
    try:
        yield Harness(vault, upstream)
    finally:
        await vault.close()


async def crm(harness: Harness) -> Principal:
    who = await harness.caller(("vault:use", "vault:write"))
    await harness.store(who, "crm", api_key(KEY, rules=CRM_RULES))
    return who


async def refused(harness: Harness, call: Any) -> LoomalError:
    sent = len(harness.upstream.sent)
    with pytest.raises(LoomalError) as caught:
        await call
    assert len(harness.upstream.sent) == sent, "a refused request was sent"
    assert KEY not in caught.value.message
    return caught.value


async def test_without_rules_every_path_and_method_goes_through(harness: Harness) -> None:
    who = await harness.caller()
    await harness.store(who, "plain", api_key(KEY))
    await harness.fetch(who, "plain", f"{BASE}/anything", method="DELETE")
    assert len(harness.upstream.sent) == 1


async def test_a_request_no_rule_allows_is_refused_and_audited(harness: Harness) -> None:
    who = await crm(harness)
    await harness.fetch(who, "crm", f"{BASE}/v1/contacts?q=ann")
    error = await refused(harness, harness.fetch(who, "crm", f"{BASE}/v2/admin"))
    assert isinstance(error, PermissionDeniedError)
    assert (error.code, error.reason) == ("request_not_allowed", "path_not_allowed")
    error = await refused(harness, harness.fetch(who, "crm", f"{BASE}/v1/x", method="PUT"))
    assert error.reason == "method_not_allowed" and "PUT" in error.message
    events = await harness.events(who)
    assert [e.outcome for e in events[:2]] == ["method_not_allowed", "path_not_allowed"]
    assert events[1].detail is not None and events[1].detail.startswith("GET api.example.com")
    assert all(KEY not in (e.detail or "") for e in events)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contacts/1%2F..%2F..%2Fadmin",
        "/v1/contacts/1%2Fmerge",
        "/v1/%2e%2e/v2/admin",
        "/v1/emails/..%2F..%2Fv2",
    ],
)
async def test_an_encoded_path_cannot_slip_past_a_rule(harness: Harness, path: str) -> None:
    who = await crm(harness)
    error = await refused(harness, harness.fetch(who, "crm", f"{BASE}{path}", method="DELETE"))
    assert error.http_status in (400, 403)


async def test_the_path_sent_is_the_canonical_path_matched(harness: Harness) -> None:
    who = await crm(harness)
    await harness.fetch(who, "crm", f"{BASE}/v1//%63ontacts/./42?x=%2F")
    assert harness.upstream.sent[-1].path == "/v1/contacts/42?x=%2F"


async def test_a_budget_serves_its_max_then_429_until_the_window_turns(
    harness: Harness, clock: Clock
) -> None:
    who = await crm(harness)
    for _ in range(3):
        await harness.fetch(who, "crm", f"{BASE}/v1/emails", method="POST", body={"to": "a"})
    error = await refused(
        harness, harness.fetch(who, "crm", f"{BASE}/v1/emails", method="POST", body={})
    )
    assert isinstance(error, RateLimitError) and error.code == "budget_exhausted"
    window_end = (clock.now // 86400 + 1) * 86400
    assert error.retry_after == int(window_end - clock.now)
    await harness.fetch(who, "crm", f"{BASE}/v1/contacts")  # other rules are not counted
    clock.now = window_end
    await harness.fetch(who, "crm", f"{BASE}/v1/emails", method="POST", body={})
    assert len([s for s in harness.upstream.sent if s.method == "POST"]) == 4
    assert (await harness.events(who))[2].outcome == "budget_exhausted"


async def test_proxy_is_held_to_the_same_rules(harness: Harness) -> None:
    who = await harness.caller()
    await harness.store(who, "crm", api_key(KEY, rules=CRM_RULES, baseUrl=f"{BASE}/v1"))

    async def proxied(method: str, path: str) -> None:
        async with harness.vault.broker.proxy(
            who, "crm", method=method, path=path, query="", headers=[], body=None
        ):
            pass

    await proxied("GET", "/contacts")
    assert harness.upstream.sent[-1].path == "/v1/contacts"
    error = await refused(harness, proxied("PUT", "/contacts/1"))
    assert error.code == "request_not_allowed"
    error = await refused(harness, proxied("GET", "/%2e%2e/admin"))
    assert error.http_status == 400


async def test_a_rule_with_approval_answers_pending_and_sends_nothing(harness: Harness) -> None:
    who = await crm(harness)
    error = await refused(
        harness, harness.fetch(who, "crm", f"{BASE}/v1/contacts/42", method="DELETE")
    )
    assert isinstance(error, ApprovalPendingError) and error.http_status == 202
    assert error.approval_id.startswith("apr_")
    assert error.approval_url.endswith(f"/v0/approvals/{error.approval_id}")
    shown = await harness.vault.approvals.get_approval(who, error.approval_id)
    assert (shown.status, shown.method, shown.path) == ("pending", "DELETE", "/v1/contacts/42")
    assert (await harness.events(who))[0].outcome == "approval_pending"
