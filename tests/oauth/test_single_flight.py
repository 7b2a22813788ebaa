"""One refresh at a time per credential, across the tasks of a process and across
processes on one store: 50 agents on two vault instances (two workers on one
SQLite file; two servers on one PostgreSQL) use one credential while its token
expires again and again. The strict provider revokes the whole family if it ever
sees a refresh token twice, so a single race shows up as a revocation."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from loomal.core.models import FetchRequest, StoreRequest
from loomal.oauth.refresh import TokenRefresher
from loomal.runtime import Vault
from tests.oauth.conftest import TTL, OAuthHarness
from tests.upstream import running_upstream

AGENTS = 50
EXPIRIES = 8
STEPS_PER_TTL = 4


async def test_fifty_agents_on_two_instances_one_refresh_per_expiry(oauth: OAuthHarness) -> None:
    other = await oauth.open_another()
    try:
        created = await oauth.vault.identities.create_identity(
            "agents", scopes=["vault:read", "vault:write"]
        )
        bearer = f"Bearer {created.api_key}"
        owner = await oauth.vault.identities.authenticate(bearer)
        body = oauth.credential()
        body["metadata"]["allowedHosts"] = ["127.0.0.1"]
        await oauth.vault.service.store_credential(owner, "crm", _request(body))
        principals = [owner, await other.identities.authenticate(bearer)]
        vaults = [oauth.vault, other]
        state = oauth.provider.state
        stale: list[str] = []
        handed_out = 0

        def check(token: str) -> None:
            nonlocal handed_out
            handed_out += 1
            found = state.access.get(token)
            if found is None or found[0] in state.revoked_families or found[1] <= oauth.clock():
                stale.append(token)

        with running_upstream() as upstream:

            async def use(agent: int) -> None:
                vault, who = vaults[agent % 2], principals[agent % 2]
                if agent % 5 == 0:  # some agents use it through the broker
                    await vault.broker.fetch(
                        who, "crm", FetchRequest(url=f"{upstream.base_url}/echo")
                    )
                    sent = upstream.seen[-1].headers["authorization"].removeprefix("Bearer ")
                    check(sent)
                else:
                    got = await vault.service.get_credential(who, "crm")
                    check(got.data["accessToken"])

            steps = EXPIRIES * STEPS_PER_TTL
            for _ in range(steps):
                oauth.clock.advance(TTL / STEPS_PER_TTL)
                agents = list(range(AGENTS))
                random.shuffle(agents)
                await asyncio.gather(*(use(agent) for agent in agents))

        assert stale == []
        assert handed_out == AGENTS * steps
        assert state.reuse_detected == 0 and state.revoked_families == set()
        assert state.refreshes == EXPIRIES
        calls = sum(_refresher(v).provider_calls for v in vaults)
        assert calls == EXPIRIES
        print(  # the closing note's numbers (pytest -s)
            f"\n{AGENTS} agents x {steps} steps: {handed_out} tokens, {EXPIRIES} expiries, "
            f"{state.refreshes} refreshes, {state.reuse_detected} revocations, {len(stale)} stale"
        )
    finally:
        await other.close()


async def test_a_refresher_that_dies_holding_the_lease_is_taken_over(
    oauth: OAuthHarness,
) -> None:
    who = await oauth.caller()
    body = oauth.credential()
    await oauth.store(who, "crm", body)
    row = await oauth.vault.store.get_credential(identity_id=who.identity_id, name="crm")
    assert row is not None
    oauth.clock.advance(TTL + 1)
    refresher = _refresher(oauth.vault)
    now = oauth.clock()
    # a server took the lease and died: never refreshed, never released
    taken = await oauth.vault.store.take_oauth_lease(
        credential_id=row.credential_id,
        holder="dead-server",
        now=int(now * 1e6),
        until=int((now + refresher.lease_seconds) * 1e6),
        state="refreshing",
    )
    assert taken
    waiting = asyncio.create_task(oauth.vault.service.get_credential(who, "crm"))
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    assert not done  # it waits for the holder ...
    oauth.clock.advance(refresher.lease_seconds)  # ... until the lease lapses
    got = await waiting
    assert oauth.provider.state.is_live(got.data["accessToken"])
    assert oauth.provider.state.refreshes == 1 and oauth.provider.state.reuse_detected == 0


async def test_callers_in_one_process_share_one_refresh(oauth: OAuthHarness) -> None:
    who = await oauth.caller()
    await oauth.store(who, "crm", oauth.credential())
    oauth.clock.advance(TTL + 1)
    oauth.provider.state.hold()
    tasks = [asyncio.create_task(oauth.vault.service.get_credential(who, "crm")) for _ in range(20)]
    await asyncio.to_thread(oauth.provider.state.wait_for_held, 1)
    oauth.provider.state.release()
    results = await asyncio.gather(*tasks)
    assert len({r.data["accessToken"] for r in results}) == 1
    assert oauth.provider.state.refreshes == 1


def _refresher(vault: Vault) -> TokenRefresher:
    live = vault.service.live_tokens
    assert isinstance(live, TokenRefresher)
    return live


def _request(body: dict[str, Any]) -> StoreRequest:
    return StoreRequest(type=body["type"], data=body["data"], metadata=body["metadata"])
