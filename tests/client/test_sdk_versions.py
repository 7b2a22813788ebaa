"""The SDK's history calls against a real ``loomal serve``, sync and async alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from loomal import AsyncLoomal, ConflictError, Loomal, NotFoundError, PreconditionFailedError
from tests.conftest import ServerProcess

pytestmark = pytest.mark.slow  # starts a real server process


def run_sync(c: Loomal, name: str) -> list[Any]:
    out: list[Any] = []
    out.append(c.vault.store(name, type="LOGIN", data={"password": "one"}).version)
    out.append(c.vault.store(name, type="LOGIN", data={"password": "two"}, if_match=1).version)
    with pytest.raises(PreconditionFailedError):
        c.vault.store(name, type="LOGIN", data={"password": "x"}, if_match=1)
    out.append([(v.version, v.kind, v.current) for v in c.vault.versions(name).versions])
    out.append(c.vault.get(name, version=1).data)
    out.append(c.vault.restore(name, 1).version)
    out.append(c.vault.get(name).data)
    c.vault.delete(name)
    with pytest.raises(NotFoundError):
        c.vault.get(name)
    out.append([(d.name, d.version) for d in c.vault.deleted().deleted])
    c.vault.store(name, type="LOGIN", data={"password": "reused"})
    with pytest.raises(ConflictError) as taken:
        c.vault.undelete(name)
    out.append(taken.value.code)
    out.append(c.vault.undelete(name, as_name=name + "-old").name)
    out.append(c.vault.get(name + "-old").data)
    c.vault.delete(name + "-old", destroy=True)
    out.append(c.vault.deleted().count)
    c.vault.delete(name, destroy=True)
    return out


async def run_async(c: AsyncLoomal, name: str) -> list[Any]:
    out: list[Any] = []
    out.append((await c.vault.store(name, type="LOGIN", data={"password": "one"})).version)
    stored = await c.vault.store(name, type="LOGIN", data={"password": "two"}, if_match=1)
    out.append(stored.version)
    with pytest.raises(PreconditionFailedError):
        await c.vault.store(name, type="LOGIN", data={"password": "x"}, if_match=1)
    out.append([(v.version, v.kind, v.current) for v in (await c.vault.versions(name)).versions])
    out.append((await c.vault.get(name, version=1)).data)
    out.append((await c.vault.restore(name, 1)).version)
    out.append((await c.vault.get(name)).data)
    await c.vault.delete(name)
    with pytest.raises(NotFoundError):
        await c.vault.get(name)
    out.append([(d.name, d.version) for d in (await c.vault.deleted()).deleted])
    await c.vault.store(name, type="LOGIN", data={"password": "reused"})
    with pytest.raises(ConflictError) as taken:
        await c.vault.undelete(name)
    out.append(taken.value.code)
    out.append((await c.vault.undelete(name, as_name=name + "-old")).name)
    out.append((await c.vault.get(name + "-old")).data)
    await c.vault.delete(name + "-old", destroy=True)
    out.append((await c.vault.deleted()).count)
    await c.vault.delete(name, destroy=True)
    return out


def test_history_calls_sync_and_async_alike(server: ServerProcess) -> None:
    with Loomal(api_key=server.api_key, base_url=server.base_url) as c:
        sync_results = run_sync(c, "gh")

    async def main() -> list[Any]:
        async with AsyncLoomal(api_key=server.api_key, base_url=server.base_url) as c:
            return await run_async(c, "gh")

    assert asyncio.run(main()) == sync_results
    assert sync_results == [
        1,
        2,
        [(2, "store", True), (1, "store", False)],
        {"password": "one"},
        3,
        {"password": "one"},
        [("gh", 3)],
        "name_in_use",
        "gh-old",
        {"password": "one"},
        0,
    ]
