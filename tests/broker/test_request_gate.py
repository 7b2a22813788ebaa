"""Request rules, budgets and approvals on brokered requests, on both stores, with
a fake upstream and an injected wall clock: every refusal happens before anything
is sent, and is audited without a secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from loomal.config import ServerSettings
from loomal.core import approval_desk
from loomal.core.principals import Principal
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
    assert error.approval_url.endswith(f"/approvals/{error.approval_id}")
    shown = await harness.vault.approvals.get_approval(who, error.approval_id)
    assert (shown.status, shown.method, shown.path) == ("pending", "DELETE", "/v1/contacts/42")
    assert (await harness.events(who))[0].outcome == "approval_pending"


async def ask(harness: Harness, who: Principal, path: str, **fields: Any) -> str:
    """The approval id a held request answers with."""
    with pytest.raises(ApprovalPendingError) as pending:
        await harness.fetch(who, "crm", f"{BASE}{path}", **fields)
    return pending.value.approval_id


async def person(harness: Harness, agent: Principal, scopes: tuple[str, ...]) -> Principal:
    """Another key of the agent's identity (a person's)."""
    identity = await harness.vault.store.get_identity_by_id(identity_id=agent.identity_id)
    assert identity is not None
    created = await harness.vault.identities.add_key(identity.name, scopes=list(scopes))
    return await harness.vault.identities.authenticate(f"Bearer {created.api_key}")


async def test_an_approved_request_goes_through_once(harness: Harness) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:approve",))
    approval_id = await ask(harness, agent, "/v1/contacts/42", method="DELETE")
    decided = await harness.vault.approvals.approve(approver, approval_id)
    assert decided.status == "approved" and decided.decided_by == approver.key_prefix
    await harness.fetch(
        agent, "crm", f"{BASE}/v1/contacts/42", method="DELETE", approval_id=approval_id
    )
    assert harness.upstream.sent[-1].method == "DELETE"
    error = await refused(
        harness,
        harness.fetch(
            agent, "crm", f"{BASE}/v1/contacts/42", method="DELETE", approval_id=approval_id
        ),
    )
    assert (error.http_status, error.reason) == (410, "approval_used")
    assert (await harness.vault.approvals.get_approval(agent, approval_id)).status == "used"
    actions = [(e.action, e.outcome) for e in await harness.events(agent)]
    assert ("approval_approve", "ok") in actions


async def test_an_approval_for_one_request_is_refused_for_another(harness: Harness) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:write",))
    approval_id = await ask(harness, agent, "/v1/contacts/42", method="DELETE", body="a")
    await harness.vault.approvals.approve(approver, approval_id)
    for path, body in (("/v1/contacts/42", "b"), ("/v1/contacts/43", "a")):
        error = await refused(
            harness,
            harness.fetch(
                agent, "crm", f"{BASE}{path}", method="DELETE", body=body, approval_id=approval_id
            ),
        )
        assert (error.http_status, error.code) == (409, "approval_mismatch")
    await harness.fetch(
        agent, "crm", f"{BASE}/v1/contacts/42", method="DELETE", body="a", approval_id=approval_id
    )


async def test_denied_expired_and_unknown_approvals_are_refused(
    harness: Harness, clock: Clock
) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:approve",))
    denied = await ask(harness, agent, "/v1/contacts/1", method="DELETE")
    await harness.vault.approvals.deny(approver, denied)
    error = await refused(
        harness,
        harness.fetch(agent, "crm", f"{BASE}/v1/contacts/1", method="DELETE", approval_id=denied),
    )
    assert (error.http_status, error.code) == (403, "approval_denied")
    late = await ask(harness, agent, "/v1/contacts/2", method="DELETE")
    clock.now += 3601
    error = await refused(
        harness,
        harness.fetch(agent, "crm", f"{BASE}/v1/contacts/2", method="DELETE", approval_id=late),
    )
    assert (error.http_status, error.reason) == (410, "approval_expired")
    assert (await harness.vault.approvals.get_approval(agent, late)).status == "expired"
    with pytest.raises(LoomalError) as too_late:
        await harness.vault.approvals.approve(approver, late)
    assert too_late.value.http_status == 410
    error = await refused(
        harness,
        harness.fetch(agent, "crm", f"{BASE}/v1/contacts/2", method="DELETE", approval_id="apr_x"),
    )
    assert error.http_status == 404


async def test_a_pending_approval_repeated_is_still_pending(harness: Harness) -> None:
    agent = await crm(harness)
    approval_id = await ask(harness, agent, "/v1/contacts/5", method="DELETE")
    again = await ask(harness, agent, "/v1/contacts/5", method="DELETE", approval_id=approval_id)
    assert again == approval_id


async def test_only_another_key_with_approve_or_write_may_decide(harness: Harness) -> None:
    agent = await crm(harness)
    approval_id = await ask(harness, agent, "/v1/contacts/9", method="DELETE")
    user_only = await person(harness, agent, ("vault:use",))
    for who, reason in ((agent, "own_request"), (user_only, "insufficient_scope")):
        with pytest.raises(PermissionDeniedError) as caught:
            await harness.vault.approvals.approve(who, approval_id)
        assert caught.value.reason == reason
    stranger = await harness.caller(("vault:write",))
    with pytest.raises(LoomalError) as foreign:
        await harness.vault.approvals.approve(stranger, approval_id)
    assert foreign.value.http_status == 404
    assert (await harness.vault.approvals.get_approval(agent, approval_id)).status == "pending"


async def test_a_window_lets_the_same_rule_through_until_it_closes(
    harness: Harness, clock: Clock
) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:approve",))
    approval_id = await ask(harness, agent, "/v1/contacts/1", method="PATCH", body="x")
    decided = await harness.vault.approvals.approve(approver, approval_id)
    assert decided.window_until is not None
    await harness.fetch(agent, "crm", f"{BASE}/v1/contacts/2", method="PATCH", body="y")
    await harness.fetch(agent, "crm", f"{BASE}/v1/contacts/3", method="PATCH", body="z")
    with pytest.raises(ApprovalPendingError):  # another rule's approval is not widened
        await harness.fetch(agent, "crm", f"{BASE}/v1/contacts/3", method="DELETE")
    clock.now += 601
    await ask(harness, agent, "/v1/contacts/4", method="PATCH", body="w")
    assert [s.method for s in harness.upstream.sent] == ["PATCH", "PATCH"]


async def test_the_approver_may_choose_the_window(harness: Harness, clock: Clock) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:approve",))
    approval_id = await ask(harness, agent, "/v1/contacts/1", method="DELETE")
    await harness.vault.approvals.approve(approver, approval_id, window_seconds=60)
    await harness.fetch(agent, "crm", f"{BASE}/v1/contacts/7", method="DELETE")
    clock.now += 61
    await ask(harness, agent, "/v1/contacts/8", method="DELETE")


async def test_listing_shows_pending_first(harness: Harness) -> None:
    agent = await crm(harness)
    approver = await person(harness, agent, ("vault:approve",))
    first = await ask(harness, agent, "/v1/contacts/1", method="DELETE")
    await harness.vault.approvals.deny(approver, first)
    second = await ask(harness, agent, "/v1/contacts/2", method="DELETE", body="abc")
    listed = await harness.vault.approvals.list_approvals(approver)
    assert [a.approval_id for a in listed.approvals] == [second, first]
    assert listed.approvals[0].body_size == 3
    pending = await harness.vault.approvals.list_approvals(agent, status="pending")
    assert [a.approval_id for a in pending.approvals] == [second]


async def test_an_identity_holds_at_most_so_many_pending_approvals(
    harness: Harness, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approval_desk, "MAX_PENDING_APPROVALS", 3)
    agent = await crm(harness)
    for n in range(3):
        await ask(harness, agent, f"/v1/contacts/{n}", method="DELETE")
    error = await refused(
        harness, harness.fetch(agent, "crm", f"{BASE}/v1/contacts/9", method="DELETE")
    )
    assert isinstance(error, RateLimitError) and error.reason == "too_many_pending_approvals"
    clock.now += 3601  # the pending ones expire
    await ask(harness, agent, "/v1/contacts/9", method="DELETE")
