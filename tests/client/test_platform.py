"""``LoomalPlatform`` and ``AsyncLoomalPlatform``: every call, sync and async alike,
the official SDK's arguments and result keys, errors, retries and masked reprs.

They run against the server itself, in process, on both stores; retries and
the key's environment variable against an ``httpx.MockTransport`` that fails."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

import loomal
from loomal import (
    AsyncLoomalPlatform,
    AuthenticationError,
    LoomalError,
    LoomalPlatform,
    NotFoundError,
    ValidationError,
)
from tests.conftest import Api

BASE = "http://127.0.0.1:8470"
PLATFORM_KEY = "lopk-" + "P" * 43


def run_sync(p: LoomalPlatform) -> list[Any]:
    ids = p.identities
    out: list[Any] = []
    first = ids.create(name="sales-agent", email_name="sales", scopes=["vault:read"])
    out.append(first)
    out.append(ids.create())
    out.append(ids.create(purpose="SELLER", name="third"))
    page = ids.list(limit=2)
    out.append(page)
    out.append(ids.list(limit=2, page_token=page.next_page_token))
    out.append([i.name for i in ids.iter(page_size=1)])
    out.append(ids.get(first.identity_id))
    out.append(ids.update(first.identity_id, name="renamed", add_scopes=["vault:write"]))
    out.append(ids.update_scopes(first.identity_id, remove_scopes=["vault:read"]))
    out.append(ids.rotate_key(first.identity_id))
    # delete is typed -> None; keeping its result checks that it returns None at run time.
    out.append(ids.delete(first.identity_id))  # type: ignore[func-returns-value]
    out.append(ids.list())
    return out


async def run_async(p: AsyncLoomalPlatform) -> list[Any]:
    ids = p.identities
    out: list[Any] = []
    first = await ids.create(name="sales-agent", email_name="sales", scopes=["vault:read"])
    out.append(first)
    out.append(await ids.create())
    out.append(await ids.create(purpose="SELLER", name="third"))
    page = await ids.list(limit=2)
    out.append(page)
    out.append(await ids.list(limit=2, page_token=page.next_page_token))
    out.append([i.name async for i in ids.iter(page_size=1)])
    out.append(await ids.get(first.identity_id))
    out.append(await ids.update(first.identity_id, name="renamed", add_scopes=["vault:write"]))
    out.append(await ids.update_scopes(first.identity_id, remove_scopes=["vault:read"]))
    out.append(await ids.rotate_key(first.identity_id))
    # delete is typed -> None; keeping its result checks that it returns None at run time.
    out.append(await ids.delete(first.identity_id))  # type: ignore[func-returns-value]
    out.append(await ids.list())
    return out


Seen = list[tuple[str, str, Any]]


def _recorder(seen: Seen) -> Any:
    """An httpx request hook noting (method, path?query, JSON body) of every request."""

    def record(request: httpx.Request) -> None:
        body = request.read()
        target = request.url.raw_path.decode()
        seen.append((request.method, target, msgspec.json.decode(body) if body else None))

    return record


def _platform_key(api: Api) -> str:
    key, _ = api.call(api.vault.platform.create_key, "sdk")
    return str(key)


def test_every_call_sync_and_async_sends_and_returns_alike(api: Api) -> None:
    """Both clients against the server itself (both stores): sync through its test
    client, async through an ASGI transport on the app's own loop; each run starts
    from an empty fleet, and both send the same requests and read the same answers."""
    key = _platform_key(api)
    sync_seen: Seen = []
    api.client.event_hooks["request"] = [_recorder(sync_seen)]
    with LoomalPlatform(key, "http://testserver.local", http_client=api.client) as p:
        sync_results = run_sync(p)
        for identity in list(p.identities.iter()):  # names are unique: start afresh
            p.identities.delete(identity.identity_id)
    api.client.event_hooks["request"] = []
    async_seen: Seen = []

    async def run_on_the_apps_loop() -> list[Any]:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app),  # type: ignore[arg-type]
            event_hooks={"request": [_async(_recorder(async_seen))]},
        )
        async with AsyncLoomalPlatform(key, "http://testserver.local", http_client=http) as p:
            try:
                return await run_async(p)
            finally:
                await http.aclose()

    async_results = api.call(run_on_the_apps_loop)
    assert _shape(sync_results) == _shape(async_results)
    assert _targets(sync_seen[: len(async_seen)]) == _targets(async_seen)
    created, default, seller, page, last, names, got, renamed, narrowed, rotated, gone, left = (
        sync_results
    )
    assert sync_seen[0] == (
        "POST",
        "/v0/platform/identities",
        {"name": "sales-agent", "emailName": "sales", "scopes": ["vault:read"]},
    )
    assert sync_seen[1] == ("POST", "/v0/platform/identities", {})
    assert created.raw_key.startswith("loid-") and created.rawKey == created.raw_key
    assert created.scopes == ["vault:read"] and created.purpose == "BUYER"
    assert (default.purpose, default.scopes) == ("BUYER", ["vault:read", "vault:write"])
    assert seller.purpose == "SELLER"
    assert (page.count, len(page.identities)) == (2, 2) and page.next_page_token is not None
    assert sync_seen[4][1] == f"/v0/platform/identities?limit=2&pageToken={page.next_page_token}"
    assert (last.count, last.next_page_token) == (1, None)
    assert names == ["sales-agent", default.name, "third"]
    assert got.api_key_prefix == created.api_key_prefix == got.apiKeyPrefix
    patches = [seen for seen in sync_seen if seen[0] == "PATCH"]
    assert patches[0] == (
        "PATCH",
        f"/v0/platform/identities/{created.identity_id}",
        {"name": "renamed", "addScopes": ["vault:write"]},
    )
    assert (renamed.name, renamed.scopes) == ("renamed", ["vault:read", "vault:write"])
    assert narrowed.scopes == ["vault:write"]
    assert rotated.raw_key != created.raw_key and rotated.raw_key.startswith("loid-")
    assert gone is None
    assert [i.name for i in left.identities] == [default.name, "third"]


def _targets(seen: Seen) -> Seen:
    """The requests with the server's ids and page tokens masked (they differ per run)."""
    import re

    def mask(target: str) -> str:
        return re.sub(
            r"pageToken=[^&]+", "pageToken=<token>", re.sub(r"id_[0-9a-f]+", "<id>", target)
        )

    return [(method, mask(target), body) for method, target, body in seen]


def _async(hook: Any) -> Any:
    async def run(request: httpx.Request) -> None:
        await request.aread()
        hook(request)

    return run


def test_results_index_like_the_official_sdks_dicts(api: Api) -> None:
    p = LoomalPlatform(_platform_key(api), "http://testserver.local", http_client=api.client)
    created = p.identities.create(name="a")
    p.identities.create(name="b")
    page = p.identities.list(limit=1)
    assert page["count"] == 1 and page["identities"][0].name == "a"
    assert page["next_page_token"] == page["nextPageToken"] is not None
    updated = p.identities.update(created.identity_id, add_scopes=["vault:use"])
    assert updated["identityId"] == created.identity_id
    assert updated["scopes"] == ["vault:read", "vault:use", "vault:write"]
    with pytest.raises(KeyError):
        updated["identity_id"]  # the official dict has the wire's keys only


def test_errors_are_the_sdks_classes(api: Api) -> None:
    p = LoomalPlatform(_platform_key(api), "http://testserver.local", http_client=api.client)
    with pytest.raises(NotFoundError) as missing:
        p.identities.get("id-nope")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(ValidationError):
        p.identities.create(scopes=["mail:send"])
    wrong = LoomalPlatform("lopk-" + "w" * 43, "http://testserver.local", http_client=api.client)
    with pytest.raises(AuthenticationError) as refused:
        wrong.identities.list()
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert isinstance(refused.value, LoomalError)


def test_create_and_rotate_are_never_retried_list_is() -> None:
    attempts: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        body = {"error": "sealed", "message": "m", "status": 503}
        return httpx.Response(503, json=body, headers={"Retry-After": "0"})

    http = httpx.Client(transport=httpx.MockTransport(flaky))
    p = LoomalPlatform(PLATFORM_KEY, BASE, max_retries=2, http_client=http)
    for call in (p.identities.create, lambda: p.identities.rotate_key("id-1")):
        attempts.clear()
        with pytest.raises(loomal.SealedError):
            call()
        assert attempts == ["POST"]
    attempts.clear()
    with pytest.raises(loomal.SealedError):
        p.identities.list()
    assert attempts == ["GET"] * 3


def test_the_key_comes_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", "loid-" + "a" * 43)  # an identity key is not used
    with pytest.raises(ValueError, match="LOOMAL_PLATFORM_KEY"):  # what the official SDK raises
        LoomalPlatform()
    with pytest.raises(AuthenticationError, match="platform key"):
        AsyncLoomalPlatform()
    monkeypatch.setenv("LOOMAL_PLATFORM_KEY", PLATFORM_KEY)
    monkeypatch.setenv("LOOMAL_API_URL", "http://127.0.0.1:9999/")
    p = LoomalPlatform()
    assert p.base_url == "http://127.0.0.1:9999"
    assert repr(p) == "LoomalPlatform(base_url='http://127.0.0.1:9999', api_key='lopk-PPPP***')"


def test_reprs_never_show_a_key(api: Api) -> None:
    key = _platform_key(api)
    p = LoomalPlatform(key, "http://testserver.local", http_client=api.client)
    created = p.identities.create(name="a")
    rotated = p.identities.rotate_key(created.identity_id)
    for value in (created, rotated, p):
        text = repr(value) + str(value)
        assert created.raw_key not in text and rotated.raw_key not in text
        assert key not in text


def _shape(results: list[Any]) -> Any:
    """What must match between two runs on a real server: all but ids, keys and times."""
    import re

    text = msgspec.json.encode(msgspec.to_builtins(results)).decode()
    text = re.sub(r'"(id_[0-9a-f]+|loid-[A-Za-z0-9_-]+)"', '"<id>"', text)
    text = re.sub(r'"\d{4}-\d\d-\d\dT[^"]+"', '"<time>"', text)
    text = re.sub(r'"[A-Za-z0-9_-]{20,}"', '"<token>"', text)  # page tokens
    text = re.sub(r'"[a-z]+-[a-z]+-[0-9a-f]{4}"', '"<slug>"', text)
    return msgspec.json.decode(text)
