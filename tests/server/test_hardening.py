"""Findings of the security review (issue 15), each attacked the way the review did.

In-process app, real stores (both), real crypto. The trusted-proxy and flood
figures against a real server are in test_hardening_server.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.models import StoreRequest
from loomal.core.ports import AuditEvent, CredentialRow
from loomal.errors import ConflictError
from loomal.server.app import create_app
from tests.conftest import Api, auth
from tests.server.test_api import assert_error

BAD_KEY = "loid-" + "w" * 43
LOGIN = {"type": "LOGIN", "data": {"password": "pw-Zq8v"}}


def _app(settings: ServerSettings, **overrides: Any) -> Iterator[Api]:
    fields = {
        "data_dir": str(settings.data_dir),
        "database_url": settings.database_url,
        **overrides,
    }
    configured = ServerSettings.load(fields, env={})
    app = create_app(settings=configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=configured, app=app)


@pytest.fixture
def throttled(settings: ServerSettings) -> Iterator[Api]:
    yield from _app(settings, auth_failure_limit=5)


@pytest.fixture
def limited(settings: ServerSettings) -> Iterator[Api]:
    yield from _app(settings, max_credentials_per_identity=5)


# -- 1. a valid key is never locked out by others' failures -------------------------------


def test_valid_key_is_served_from_a_throttled_address(throttled: Api) -> None:
    good = throttled.headers()
    for _ in range(5):
        assert_error(
            throttled.client.get("/v0/vault", headers=auth(BAD_KEY)),
            401,
            "unauthorized",
            "invalid_api_key",
        )
    refused = throttled.client.get("/v0/vault", headers=auth(BAD_KEY))
    assert_error(refused, 429, "rate_limited")
    assert 50 <= int(refused.headers["retry-after"]) <= 60
    assert_error(throttled.client.get("/v0/vault"), 429, "rate_limited")  # no key: refused too
    # ... while every valid key from that address is served, on every path
    assert throttled.client.get("/v0/vault", headers=good).status_code == 200
    assert throttled.client.put("/v0/vault/x", json=LOGIN, headers=good).status_code == 200
    assert throttled.client.get("/v0/vault/x", headers=good).status_code == 200  # hot path
    mcp = throttled.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={**good, "accept": "application/json, text/event-stream"},
    )
    assert mcp.status_code == 200, mcp.text
    # and the guessing address stays throttled afterwards
    assert_error(throttled.client.get("/v0/vault", headers=auth(BAD_KEY)), 429, "rate_limited")


# -- 2. refused requests cannot grow the database without bound --------------------------


def _audit_rows(api: Api) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        store = api.vault.store
        rows = await store.list_audit_events(
            identity_id=None, action=None, before=None, limit=10_000
        )
        return [(e.action, e.outcome, e.client, e.count) for _, e in rows]

    result: list[tuple[Any, ...]] = api.call(read)
    return result


def test_refused_authentications_are_aggregated_per_address(throttled: Api) -> None:
    for _ in range(300):
        throttled.client.get("/v0/vault", headers=auth(BAD_KEY))
    for _ in range(20):
        throttled.client.get("/v0/vault/x")  # no key, hot path
    throttled.call(throttled.vault.flush)
    throttled.call(throttled.vault.identities.refusals.flush, final=True)
    rows = sorted(r for r in _audit_rows(throttled) if r[0] == "authenticate")
    assert rows == [
        ("authenticate", "rate_limited", "testclient", 315),
        ("authenticate", "unauthorized", "testclient", 5),
    ]


def test_old_audit_events_are_pruned_in_batches(api: Api) -> None:
    old = AuditEvent(
        at=1_000_000, identity_id=None, actor_identity_id=None, key_prefix=None,
        action="authenticate", credential_name=None, outcome="unauthorized", client="x",
    )  # fmt: skip
    store = api.vault.store
    api.call(store.append_audit_events, events=[old] * 25)
    me = api.headers()
    api.client.get("/v0/vault", headers=me)
    api.call(api.vault.flush)
    from loomal.core.audit import prune_audit_events

    removed = api.call(prune_audit_events, store, retention_days=30, batch_size=10)
    assert removed == 25
    assert [r[0] for r in _audit_rows(api)] == ["list"]  # the fresh event stays


# -- 3. the credential limit holds under parallel creates ---------------------------------


def test_parallel_creates_never_exceed_the_credential_limit(limited: Api) -> None:
    me = limited.new_identity()
    who = limited.call(limited.vault.identities.authenticate, f"Bearer {me.api_key}")
    service = limited.vault.service
    request = StoreRequest(type="LOGIN", data={"password": "pw"})

    async def create_all() -> list[object]:
        return await asyncio.gather(
            *(service.store_credential(who, f"c{i}", request) for i in range(100)),
            return_exceptions=True,
        )

    results = limited.call(create_all)
    stored = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(stored) == 5, [type(r).__name__ for r in results if not isinstance(r, tuple)]
    assert len(refused) == 95
    assert {r.code for r in refused} == {"credential_limit"}
    listed = limited.client.get("/v0/vault", headers=auth(me.api_key)).json()
    assert listed["count"] == 5
    # overwriting one of the five is still allowed at the limit
    again = limited.client.put(
        f"/v0/vault/{stored[0][0].name}", json=LOGIN, headers=auth(me.api_key)
    )
    assert again.status_code == 200


# -- 4. expiresAt out of range ----------------------------------------------------------


@pytest.mark.parametrize(
    "expires_at",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z"],
)
def test_out_of_range_expiry_is_refused_before_storing(api: Api, expires_at: str) -> None:
    h = api.headers()
    body = {**LOGIN, "expiresAt": expires_at}
    message = assert_error(
        api.client.put("/v0/vault/far", json=body, headers=h), 422, "validation_error"
    )
    assert "expiresAt" in message
    assert_error(api.client.get("/v0/vault/far", headers=h), 404, "not_found")
    assert api.client.get("/v0/vault", headers=h).json()["count"] == 0


def test_expiry_at_the_edges_of_the_range_is_stored(api: Api) -> None:
    h = api.headers()
    for name, at in (("late", "9999-12-31T23:59:59Z"), ("early", "1970-01-01T00:00:00Z")):
        stored = api.client.put(f"/v0/vault/{name}", json={**LOGIN, "expiresAt": at}, headers=h)
        assert stored.status_code == 200, stored.text
        assert stored.json()["expiresAt"] == at
    assert api.client.get("/v0/vault", headers=h).json()["count"] == 2


def _write_bad_row(api: Api, identity_id: str, name: str, **fields: Any) -> None:
    """A row as a damaged or hand-edited database could hold it, written past the service."""

    def change(existing: CredentialRow | None) -> tuple[CredentialRow, None]:
        assert existing is not None
        return msgspec.structs.replace(existing, **fields), None

    api.call(api.vault.store.modify_credential, identity_id=identity_id, name=name, change=change)


def test_one_bad_row_never_takes_the_list_down(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    for name in ("a-good", "b-bad-times", "c-bad-metadata", "d-good"):
        assert api.client.put(f"/v0/vault/{name}", json=LOGIN, headers=h).status_code == 200
    huge = 2**62  # far beyond year 9999
    _write_bad_row(api, me.identity_id, "b-bad-times", expires_at=huge, last_used_at=-(2**62))
    _write_bad_row(api, me.identity_id, "c-bad-metadata", metadata_json=b"\xff{not json")
    listed = api.client.get("/v0/vault", headers=h)
    assert listed.status_code == 200, listed.text
    by_name = {c["name"]: c for c in listed.json()["credentials"]}
    assert sorted(by_name) == ["a-good", "b-bad-times", "c-bad-metadata", "d-good"]
    assert by_name["b-bad-times"]["expiresAt"] == "9999-12-31T23:59:59Z"  # clamped, not dropped
    assert by_name["c-bad-metadata"]["metadata"] == {}
    assert api.client.get("/v0/vault?limit=2&cursor=", headers=h).status_code == 200
    got = api.client.get("/v0/vault/c-bad-metadata", headers=h)  # metadata is bound to the data
    assert (got.status_code, got.json()["error"]) == (500, "integrity_error"), got.text
    stored = api.client.put("/v0/vault/c-bad-metadata", json=LOGIN, headers=h)
    assert stored.status_code == 200, stored.text  # an overwrite mends it
    assert api.client.get("/v0/vault/c-bad-metadata", headers=h).json()["data"] == LOGIN["data"]


# -- 5. other inputs that answered 500 ---------------------------------------------------


def test_invalid_utf8_body_is_a_bad_request(api: Api) -> None:
    h = {**api.headers(), "content-type": "application/json"}
    body = b'{"type": "LOGIN", "data": {"password": "\xff\xfe"}}'
    response = api.client.put("/v0/vault/x", content=body, headers=h)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"] in ("bad_request", "validation_error")


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_refused(api: Api, depth: int) -> None:
    h = {**api.headers(), "content-type": "application/json"}
    nested = "[" * depth + "]" * depth
    body = ('{"type": "CUSTOM", "data": {"x": ' + nested + "}}").encode()
    response = api.client.put("/v0/vault/x", content=body, headers=h)
    assert response.status_code in (400, 413, 422), response.text
    assert api.client.get("/v0/vault/x", headers=h).status_code == 404


@pytest.mark.parametrize("value", ["²", "9" * 5000, "٣٠"])
@pytest.mark.parametrize("field", ["digits", "period"])
def test_totp_parameters_outside_ascii_digits_are_refused(api: Api, field: str, value: str) -> None:
    h = api.headers()
    body = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP"}, "metadata": {field: value}}
    response = api.client.put("/v0/vault/t", json=body, headers=h)
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    "cursor", ["99999999999999999999-1", "%C2%B2-1", "1-99999999999999999999", "²", "-1", "1-"]
)
def test_malformed_audit_cursors_are_refused(api: Api, cursor: str) -> None:
    h = api.headers()
    response = api.client.get(f"/v0/audit?cursor={cursor}", headers=h)
    assert_error(response, 422, "validation_error")


# -- 9. audit order follows eventId ------------------------------------------------------


def test_audit_is_listed_by_event_id_newest_first(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    base = 1_800_000_000_000_000
    events = [
        AuditEvent(
            at=base + offset,
            identity_id=me.identity_id,
            actor_identity_id=me.identity_id,
            key_prefix=None,
            action="get",
            credential_name=f"n{i}",
            outcome="ok",
            client=None,
        )
        for i, offset in enumerate([900_000, 100_000, 500_000, 100_000, 0])
    ]
    api.call(api.vault.store.append_audit_events, events=events)
    first = api.client.get("/v0/audit?limit=2", headers=h).json()
    rest = api.client.get(f"/v0/audit?limit=10&cursor={first['nextCursor']}", headers=h).json()
    listed = first["events"] + rest["events"]
    ids = [e["eventId"] for e in listed]
    assert ids == sorted(ids, reverse=True)
    assert [e["credentialName"] for e in listed] == ["n4", "n3", "n2", "n1", "n0"]


def test_no_secret_in_refusal_rows(throttled: Api) -> None:
    marker = "loid-" + "Zq8vSecretGuess" * 3
    for _ in range(8):
        throttled.client.get("/v0/vault", headers=auth(marker))
    throttled.call(throttled.vault.flush)
    throttled.call(throttled.vault.identities.refusals.flush, final=True)
    assert "Zq8v" not in repr(_audit_rows(throttled))


def test_refusal_counts_are_written_when_their_window_ends(api: Api) -> None:
    from loomal.core.identities import IdentityService

    now = [1_900_000_000.0]
    identities = IdentityService(
        api.vault.store, clock=lambda: now[0], refusal_window=60, audit=api.vault.audit
    )

    async def refuse(times: int, client: str) -> None:
        for _ in range(times):
            with pytest.raises(Exception, match="Invalid API key"):
                await identities.authenticate("Bearer " + BAD_KEY, client=client)

    api.call(refuse, 3, "192.0.2.1")
    now[0] += 30
    api.call(refuse, 2, "192.0.2.1")
    assert api.call(identities.refusals.flush) == 0  # the window is still open
    assert [r for r in _audit_rows(api) if r[0] == "authenticate"] == []
    now[0] += 31
    assert api.call(identities.refusals.flush) == 1
    api.call(refuse, 1, "192.0.2.1")  # a new window
    assert api.call(identities.refusals.flush, final=True) == 1
    rows = [r for r in _audit_rows(api) if r[0] == "authenticate"]
    assert rows == [
        ("authenticate", "unauthorized", "192.0.2.1", 1),
        ("authenticate", "unauthorized", "192.0.2.1", 5),
    ]
