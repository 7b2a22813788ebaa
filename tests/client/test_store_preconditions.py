"""``vault.store(..., if_none_match="*")`` creates only and ``if_match=`` replaces only
the version read, sync and async alike, against a real server; a refused store
writes nothing and is not retried."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from loomal import AsyncLoomal, Loomal, PreconditionFailedError
from loomal.client._base import calls
from tests.conftest import ServerProcess


def test_a_conditional_store_sends_its_headers_and_is_never_retried() -> None:
    client = Loomal(api_key="loid-" + "k" * 43, base_url="http://127.0.0.1:9", max_retries=2)
    plain = calls.store("k", "API_KEY", {"key": "v"})
    create_only = calls.store("k", "API_KEY", {"key": "v"}, if_none_match="*")
    versioned = calls.store("k", "API_KEY", {"key": "v"}, if_match=3)
    assert client.retry_delay(plain, 0, None) is not None
    for call in (create_only, versioned):
        assert client.retry_delay(call, 0, None) is None  # the first attempt may have landed
    with httpx.Client() as http:
        assert "if-match" not in client.build_request(http, plain).headers
        assert client.build_request(http, create_only).headers["if-none-match"] == "*"
        sent = client.build_request(http, versioned).headers
        assert (sent["if-match"], sent["authorization"]) == ('"3"', "Bearer loid-" + "k" * 43)


@pytest.mark.slow  # starts a real server process (not in make test-fast)
def test_create_only_and_replace_only_the_version_read(server: ServerProcess) -> None:
    with Loomal(api_key=server.api_key, base_url=server.base_url) as c:
        created = c.vault.store("k", "API_KEY", {"key": "one"}, if_none_match="*")
        assert created.version == 1
        with pytest.raises(PreconditionFailedError) as exists:
            c.vault.store("k", "API_KEY", {"key": "two"}, if_none_match="*")
        assert (exists.value.status, exists.value.reason) == (412, "exists")

        replaced = c.vault.store("k", "API_KEY", {"key": "two"}, if_match=created.version)
        assert replaced.version == 2
        with pytest.raises(PreconditionFailedError) as stale:
            c.vault.store("k", "API_KEY", {"key": "lost"}, if_match=created.version)
        assert stale.value.reason == "changed"
        assert c.vault.store("k", "API_KEY", {"key": "three"}, if_match="*").version == 3
        with pytest.raises(PreconditionFailedError) as missing:
            c.vault.store("nothing", "API_KEY", {"key": "x"}, if_match="*")
        assert missing.value.reason == "not_found"
        assert c.vault.get("k").data == {"key": "three"}

    async def the_same_async() -> None:
        async with AsyncLoomal(api_key=server.api_key, base_url=server.base_url) as a:
            with pytest.raises(PreconditionFailedError):
                await a.vault.store("k", "API_KEY", {"key": "four"}, if_none_match="*")
            assert (await a.vault.store("k", "API_KEY", {"key": "4"}, if_match='"3"')).version == 4
            created = await a.vault.store("a", "API_KEY", {"key": "a"}, if_none_match="*")
            assert created.version == 1

    asyncio.run(the_same_async())
