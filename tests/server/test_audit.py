"""The audit log: every call that touches a credential, denied attempts and auth
failures; changes recorded in their own transaction, reads in batches; no secret."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Api, auth
from tests.server.test_security import sql

TOTP = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["bc-Zq8v-1"]}}


def events(api: Api, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = api.client.get("/v0/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["events"]
    return result


def test_every_action_is_recorded_with_its_outcome(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    secret_body = {"type": "LOGIN", "data": {"password": "pw-Zq8v-audit"}}
    api.client.put("/v0/vault/login", json=secret_body, headers=h)
    api.client.put("/v0/vault/gh", json=TOTP, headers=h)
    api.client.get("/v0/vault/login", headers=h)
    api.client.get("/v0/vault", headers=h)
    api.client.get("/v0/vault/gh/totp", headers=h)
    api.client.post("/v0/vault/gh/totp/backup", headers=h)
    api.client.post("/v0/vault/gh/totp/backup", headers=h)  # none left: 409
    api.client.get("/v0/vault/missing", headers=h)
    api.client.delete("/v0/vault/login", headers=h)
    log = events(api, h)
    seen = [(e["action"], e["credentialName"], e["outcome"]) for e in reversed(log)]
    assert seen == [
        ("store", "login", "ok"),
        ("store", "gh", "ok"),
        ("get", "login", "ok"),
        ("list", None, "ok"),
        ("totp", "gh", "ok"),
        ("totp_use_backup", "gh", "ok"),
        ("totp_use_backup", "gh", "no_backup_codes"),
        ("get", "missing", "not_found"),
        ("delete", "login", "ok"),
    ]
    for event in log:
        assert event["identityId"] == event["actorIdentityId"] == me.identity_id
        assert event["keyPrefix"] == me.api_key[:13]
        assert event["client"] == "testclient"
    dumped = str(sql(api, "SELECT * FROM audit_events"))
    assert "Zq8v" not in dumped  # neither the password nor the backup code
    assert me.api_key[13:] not in dumped


def test_changes_are_recorded_in_their_own_transaction(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    api.client.put("/v0/vault/x", json={"type": "LOGIN", "data": {"password": "p"}}, headers=h)
    api.client.get("/v0/vault/x", headers=h)
    # before any flush: the store's event is on disk, the read's is still batched
    rows = sql(api, "SELECT action FROM audit_events WHERE identity_id = ?", (me.identity_id,))
    assert [r[0] for r in rows] == ["store"]
    api.call(api.vault.flush)
    rows = sql(api, "SELECT action FROM audit_events WHERE identity_id = ?", (me.identity_id,))
    assert sorted(r[0] for r in rows) == ["get", "store"]


def test_a_failed_change_leaves_no_ok_event(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    api.client.put("/v0/vault/x", json={"type": "LOGIN", "data": {"pasword": "p"}}, headers=h)
    api.client.put("/v0/vault/.bad", json={"type": "LOGIN", "data": {"password": "p"}}, headers=h)
    log = events(api, h)
    assert [(e["action"], e["credentialName"], e["outcome"]) for e in log] == [
        ("store", None, "validation_error"),  # an invalid name is never recorded
        ("store", "x", "validation_error"),
    ]


def test_owner_sees_another_identitys_refused_attempts(api: Api) -> None:
    alice, bob = api.new_identity(), api.new_identity(scopes=("vault:read",))
    api.client.put("/v0/vault/owned", json=TOTP, headers=auth(alice.api_key))
    api.client.get("/v0/vault/owned", headers=auth(bob.api_key))
    api.client.get("/v0/vault/owned/totp", headers=auth(bob.api_key))
    api.client.post("/v0/vault/owned/totp/backup", headers=auth(bob.api_key))
    alice_log = events(api, auth(alice.api_key))
    foreign = [e for e in alice_log if e["actorIdentityId"] == bob.identity_id]
    assert [(e["action"], e["outcome"]) for e in reversed(foreign)] == [
        ("get", "not_found"),
        ("totp", "not_found"),
        ("totp_use_backup", "insufficient_scope"),
    ]
    assert all(e["identityId"] == alice.identity_id for e in foreign)
    bob_log = events(api, auth(bob.api_key))
    assert {e["actorIdentityId"] for e in bob_log} == {bob.identity_id}
    assert all(e["identityId"] == bob.identity_id for e in bob_log)  # never alice's events


def test_failed_authentications_are_recorded_without_the_key(api: Api) -> None:
    wrong = "loid-" + "Zq8vWrongKey" * 4
    api.client.get("/v0/vault", headers=auth(wrong))
    api.client.get("/v0/vault")
    api.call(api.vault.flush)
    api.call(api.vault.identities.refusals.flush, final=True)
    rows = sql(
        api,
        "SELECT action, outcome, identity_id, key_prefix, client, occurrences FROM audit_events",
    )
    failures = [r for r in rows if r[0] == "authenticate"]  # one row per address and window
    assert failures == [("authenticate", "unauthorized", None, None, "testclient", 2)]
    assert "Zq8v" not in str(sql(api, "SELECT * FROM audit_events"))


def test_audit_pagination_and_scope(api: Api) -> None:
    me = api.new_identity()
    h = auth(me.api_key)
    for i in range(7):
        api.client.put(
            f"/v0/vault/c{i}", json={"type": "LOGIN", "data": {"password": "p"}}, headers=h
        )
    first = api.client.get("/v0/audit", params={"limit": 3}, headers=h).json()
    second = api.client.get(
        "/v0/audit", params={"limit": 3, "cursor": first["nextCursor"]}, headers=h
    ).json()
    names = [e["credentialName"] for e in first["events"] + second["events"]]
    assert names == ["c6", "c5", "c4", "c3", "c2", "c1"]
    assert api.client.get("/v0/audit", params={"cursor": "x"}, headers=h).status_code == 422
    writer_only = api.headers(("vault:write",))
    assert api.client.get("/v0/audit", headers=writer_only).status_code == 403


def test_event_ids_say_nothing_of_another_identitys_log(api: Api) -> None:
    """Issue 28.12: a refused probe of a name alice holds also lands in alice's log;
    bob's own ids must step the same whether she holds the name or not."""
    alice, bob = api.new_identity(), api.new_identity()
    api.client.put("/v0/vault/held", json=TOTP, headers=auth(alice.api_key))
    hb = auth(bob.api_key)

    def newest_id_after_probing(name: str) -> int:
        assert api.client.get(f"/v0/vault/{name}", headers=hb).status_code == 404
        newest: int = events(api, hb, limit=1)[0]["eventId"]
        return newest

    ids = [newest_id_after_probing(n) for n in ("held", "unheld", "held", "unheld", "held")]
    assert len({b - a for a, b in itertools.pairwise(ids)}) == 1, ids
    owner_log = events(api, auth(alice.api_key), action="get")
    refused = [e for e in owner_log if e["actorIdentityId"] == bob.identity_id]
    assert [(e["credentialName"], e["outcome"], e["count"]) for e in refused] == [
        ("held", "not_found", 3)  # alice still learns of the probes, aggregated
    ]
    # the cursor of bob's own numbering pages through his log, one event at a time
    seen, cursor = [], None
    while True:
        response = api.client.get(
            "/v0/audit",
            params={"limit": 1, "cursor": cursor} if cursor else {"limit": 1},
            headers=hb,
        )
        page = response.json()
        seen += [e["eventId"] for e in page["events"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 5


def test_another_identitys_refusals_cannot_bury_an_owners_log(api: Api) -> None:
    """Issue 28.13: bob's refused calls on alice's names are aggregated in her log
    (one row per name, up to a bound, then one row without a name), counting all."""
    alice, bob = api.new_identity(), api.new_identity()
    ha, hb = auth(alice.api_key), auth(bob.api_key)
    names = [f"otp{i}" for i in range(30)]
    for name in names:
        assert api.client.put(f"/v0/vault/{name}", json=TOTP, headers=ha).status_code in (200, 201)
    calls = 600
    for i in range(calls):
        assert api.client.get(f"/v0/vault/{names[i % 30]}/totp", headers=hb).status_code == 404
    copies = [e for e in events(api, ha, limit=1000) if e["actorIdentityId"] == bob.identity_id]
    assert len(copies) <= 21, len(copies)
    assert sum(e["count"] for e in copies) == calls
    assert {e["outcome"] for e in copies} == {"not_found"}
    assert [e["credentialName"] for e in copies].count(None) == 1  # the names beyond the bound
