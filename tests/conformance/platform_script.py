"""The official Python SDK's platform clients (``LoomalPlatform``,
``AsyncLoomalPlatform`` of loomal-sdk 0.6.2) through create -> list with paging ->
get -> update -> rotate -> delete against a running Loomal Vault, and a key they
created storing and reading a credential with ``Loomal``.

Run by ``test_official_sdk.py`` with the official SDK's interpreter and with ours;
it uses only what the official SDK offers. It prints one JSON document of what it
saw (ids and times reduced to their shape); a broken expectation exits non-zero
naming the step.

Environment: LOOMAL_PLATFORM_KEY, LOOMAL_API_URL.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from typing import Any

from loomal import AsyncLoomalPlatform, Loomal, LoomalError, LoomalPlatform


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}")


async def settle(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def status_of(call: Any) -> list[Any]:
    try:
        await settle(call())
    except LoomalError as error:
        return [error.status, error.code]
    return [200, None]


async def steps(platform: Any, p: str) -> dict[str, Any]:
    ids = platform.identities
    out: dict[str, Any] = {}
    created = await settle(ids.create(name=f"{p}agent", scopes=["vault:read", "vault:write"]))
    check(created.raw_key.startswith("loid-"), "create: raw_key")
    check(created.api_key_prefix == created.raw_key[:13], "create: api_key_prefix")
    out["create"] = [created.name, created.type, created.purpose, created.email_address]
    out["create.scopes"] = created.scopes
    defaults = await settle(ids.create(email_name="ignored"))
    out["create()"] = [defaults.purpose, defaults.scopes, len(defaults.name.split("-"))]
    seller = await settle(ids.create(purpose="SELLER", name=f"{p}seller"))
    out["create(SELLER)"] = seller.purpose

    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = await settle(ids.list(limit=1, page_token=token))
        check(page["count"] == len(page["identities"]) <= 1, "list: count")
        names += [i.name for i in page["identities"]]
        pages += 1
        token = page["next_page_token"]
        if not token:
            break
    mine = [n for n in names if n.startswith(p)]
    out["list(paged)"] = [mine, pages >= 3]
    check(defaults.name in names, "list: the slug-named identity")

    got = await settle(ids.get(created.identity_id))
    check(got.api_key_prefix == created.api_key_prefix, "get: api_key_prefix")
    out["get"] = [got.name, got.type, got.purpose, got.email, got.scopes, got.usage_count]

    updated = await settle(
        ids.update(created.identity_id, name=f"{p}renamed", add_scopes=["vault:use"])
    )
    out["update"] = [updated["name"], updated["scopes"]]
    narrowed = await settle(ids.update_scopes(created.identity_id, remove_scopes=["vault:use"]))
    out["update_scopes"] = narrowed["scopes"]

    rotated = await settle(ids.rotate_key(created.identity_id))
    check(rotated.raw_key != created.raw_key, "rotate: a new key")
    agent = Loomal(api_key=rotated.raw_key)
    stored = agent.vault.store(f"{p}stripe", type="API_KEY", data={"key": "sk_live_platform"})
    check(stored.name == f"{p}stripe", "the new key stores")
    out["new key reads"] = agent.vault.get(f"{p}stripe").data
    out["old key"] = await status_of(lambda: Loomal(api_key=created.raw_key).vault.list())
    out["whoami"] = agent.identity.whoami().name
    agent.close()

    for identity in (created, defaults, seller):
        check(await settle(ids.delete(identity.identity_id)) is None, "delete returns None")
    out["after delete"] = await status_of(lambda: ids.get(created.identity_id))
    out["deleted key"] = await status_of(lambda: Loomal(api_key=rotated.raw_key).vault.list())
    return out


async def main() -> None:
    results: dict[str, Any] = {}
    with LoomalPlatform() as platform:
        results["sync"] = await steps(platform, "sync-")
    async with AsyncLoomalPlatform() as aplatform:
        results["async"] = await steps(aplatform, "async-")
    results["bad key"] = await status_of(
        lambda: LoomalPlatform(api_key="lopk-" + "x" * 43).identities.list()
    )
    del os.environ["LOOMAL_PLATFORM_KEY"]
    try:
        LoomalPlatform()
    except ValueError:
        results["no key"] = "ValueError"
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    if "LOOMAL_PLATFORM_KEY" not in os.environ:
        sys.exit("set LOOMAL_PLATFORM_KEY and LOOMAL_API_URL")
    asyncio.run(main())
