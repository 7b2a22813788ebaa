"""A budget is one count for every server on a store: two vaults opened on the
same SQLite file (two writers, as two processes would have) or the same
PostgreSQL database, sending concurrently, serve exactly the budget."""

from __future__ import annotations

import asyncio

from loomal.config import ServerSettings
from loomal.core.models import FetchRequest, StoreRequest
from loomal.errors import RateLimitError
from loomal.runtime import open_vault
from tests.broker.conftest import PUBLIC, api_key
from tests.broker.fake_upstream import FakeUpstream

RULES = [{"methods": ["POST"], "paths": ["/v1/emails"], "budget": {"max": 5, "perSeconds": 3600}}]


async def test_a_budget_of_5_across_two_servers_serves_exactly_5(settings: ServerSettings) -> None:
    upstream = FakeUpstream(dns={"api.example.com": [PUBLIC]})
    first = await open_vault(settings, transport=upstream)
    second = await open_vault(settings, transport=upstream)
    try:
        created = await first.identities.create_identity(
            "mailer", scopes=["vault:use", "vault:write"]
        )
        who = await first.identities.authenticate(f"Bearer {created.api_key}")
        body = api_key("sk_live_budgetkey0123456789", rules=RULES)
        await first.service.store_credential(
            who,
            "mail",
            StoreRequest(type=body["type"], data=body["data"], metadata=body["metadata"]),
        )
        request = FetchRequest(method="POST", url="https://api.example.com/v1/emails", body="hi")
        calls = [
            vault.broker.fetch(who, "mail", request) for _ in range(12) for vault in (first, second)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        served = [r for r in results if not isinstance(r, BaseException)]
        exhausted = [r for r in results if isinstance(r, RateLimitError)]
        assert len(served) == 5 and len(exhausted) == 19
        assert all(e.code == "budget_exhausted" and e.retry_after >= 1 for e in exhausted)
        assert len(upstream.sent) == 5
    finally:
        await second.close()
        await first.close()
