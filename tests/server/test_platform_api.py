"""``/v0/platform/identities`` on both stores: the hosted shapes, every rule of
issue 24 item 2, which key reaches which routes, and what is audited."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, auth

IDENTITIES = "/v0/platform/identities"
CREATED_KEYS = {
    "identityId",
    "name",
    "type",
    "purpose",
    "emailAddress",
    "scopes",
    "apiKeyPrefix",
    "rawKey",
    "createdAt",
}
SUMMARY_KEYS = {
    "identityId",
    "name",
    "type",
    "purpose",
    "email",
    "scopes",
    "usageCount",
    "lastUsedAt",
    "createdAt",
}


def platform_key(api: Api, name: str = "ops") -> dict[str, str]:
    key, _ = api.call(api.vault.platform.create_key, name)
    return auth(key)


def create(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = api.client.post(IDENTITIES, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def test_the_whole_life_of_an_identity(api: Api) -> None:
    ops = platform_key(api)
    created = create(api, ops, name="Sales Agent", scopes=["vault:read", "vault:write"])
    assert set(created) == CREATED_KEYS
    assert created["rawKey"].startswith("loid-")
    assert created["apiKeyPrefix"] == created["rawKey"][:13]
    assert (created["type"], created["purpose"], created["emailAddress"]) == (
        "AGENT",
        "BUYER",
        None,
    )
    identity_id = created["identityId"]
    agent = auth(created["rawKey"])
    stored = api.client.put(
        "/v0/vault/stripe", json={"type": "API_KEY", "data": {"key": "k"}}, headers=agent
    )
    assert stored.status_code == 200

    got = api.client.get(f"{IDENTITIES}/{identity_id}", headers=ops).json()
    assert set(got) == SUMMARY_KEYS | {"apiKeyPrefix"}
    assert got["apiKeyPrefix"] == created["apiKeyPrefix"] and got["email"] is None

    updated = api.client.patch(
        f"{IDENTITIES}/{identity_id}",
        json={
            "name": "sales",
            "addScopes": ["vault:use"],
            "removeScopes": ["vault:write", "mail:send"],
        },
        headers=ops,
    )
    assert updated.status_code == 200, updated.text
    assert set(updated.json()) == SUMMARY_KEYS
    assert (updated.json()["name"], updated.json()["scopes"]) == (
        "sales",
        ["vault:read", "vault:use"],
    )
    refused = api.client.put(
        "/v0/vault/x", json={"type": "LOGIN", "data": {"password": "p"}}, headers=agent
    )
    assert refused.status_code == 403  # the key lost vault:write at once

    rotated = api.client.post(f"{IDENTITIES}/{identity_id}/rotate-key", headers=ops)
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"rawKey", "apiKeyPrefix"}
    assert api.client.get("/v0/vault", headers=agent).status_code == 401  # the old key stopped
    new_agent = auth(rotated.json()["rawKey"])
    me = api.client.get("/v0/whoami", headers=new_agent).json()
    assert (me["name"], me["scopes"]) == ("sales", ["vault:read", "vault:use"])
    assert api.client.get("/v0/vault/stripe", headers=new_agent).json()["data"] == {"key": "k"}

    deleted = api.client.delete(f"{IDENTITIES}/{identity_id}", headers=ops)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert api.client.get("/v0/vault", headers=new_agent).status_code == 401
    assert api.client.get(f"{IDENTITIES}/{identity_id}", headers=ops).status_code == 404
    assert api.call(api.vault.store.count_credentials, identity_id=identity_id) == 0

    api.call(api.vault.flush)
    events = api.call(
        api.vault.store.list_audit_events,
        identity_id=identity_id,
        action=None,
        before=None,
        limit=50,
    )
    actions = [event.action for _, event in reversed(events)]
    assert actions[0] == "identity_create" and actions[-1] == "identity_delete"
    assert {"identity_update", "identity_rotate_key", "store"} <= set(actions)
    deleted_event = next(e for _, e in events if e.action == "identity_delete")
    assert deleted_event.key_prefix is not None and deleted_event.key_prefix.startswith("lopk-")
    assert deleted_event.detail == "credentials=1"
    assert deleted_event.key_label == "ops"  # the platform key's name


def test_every_field_of_create_is_optional(api: Api) -> None:
    ops = platform_key(api)
    answer = api.client.post(IDENTITIES, headers=ops)  # no body at all
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["scopes"] == ["vault:read", "vault:write"] and made["purpose"] == "BUYER"
    assert len(made["name"].split("-")) == 3  # a fresh readable slug
    seller = create(api, ops, purpose="SELLER", emailName="ignored")
    assert seller["purpose"] == "SELLER" and seller["emailAddress"] is None
    assert seller["name"] != made["name"]
    got = api.client.get(f"{IDENTITIES}/{seller['identityId']}", headers=ops).json()
    assert got["purpose"] == "SELLER"


def test_list_pages_with_limit_and_page_token(api: Api) -> None:
    ops = platform_key(api)
    names = [create(api, ops, name=f"agent-{n}")["name"] for n in range(5)]
    seen: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"pageToken": token} if token else {})
        page = api.client.get(IDENTITIES, params=params, headers=ops).json()
        assert page["count"] == len(page["identities"]) <= 2
        assert all(set(i) == SUMMARY_KEYS for i in page["identities"])
        seen += [i["name"] for i in page["identities"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == names
    everything = api.client.get(IDENTITIES, headers=ops).json()
    assert everything["count"] == 5 and "nextPageToken" not in everything


BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "", {"scopes": ["vault:read", "mail:send"]}, 422, "mail:send"),
    ("POST", "", {"purpose": "OTHER"}, 422, "purpose"),
    ("POST", "", {"name": " padded"}, 422, "name"),
    ("POST", "", {"name": "loid-looks-like-a-key"}, 422, "name"),
    ("POST", "", {"nmae": "typo"}, 422, "nmae"),
    ("GET", "?limit=101", None, 422, "limit"),
    ("GET", "?pageToken=not-ours", None, 422, "pageToken"),
    ("PATCH", "/{id}", {"addScopes": ["mail:read"]}, 422, "mail:read"),
    ("PATCH", "/{id}", {"removeScopes": ["vault:read", "vault:write"]}, 422, "at least one"),
    ("PATCH", "/{id}", {"name": "taken"}, 409, "taken"),
    ("GET", "/id_nope", None, 404, "No identity"),
    ("PATCH", "/id_nope", {"name": "x"}, 404, "No identity"),
    ("POST", "/id_nope/rotate-key", None, 404, "No identity"),
    ("DELETE", "/id_nope", None, 404, "No identity"),
]
"""(method, path under /v0/platform/identities, body, status, words of the message)."""


def test_bad_requests_get_clear_errors_and_change_nothing(api: Api) -> None:
    ops = platform_key(api)
    create(api, ops, name="taken")
    identity_id = create(api, ops, name="target")["identityId"]
    for method, path, body, status, words in BAD_REQUESTS:
        answer = api.client.request(
            method, IDENTITIES + path.format(id=identity_id), json=body, headers=ops
        )
        assert answer.status_code == status, (method, path, answer.text)
        error = answer.json()
        assert set(error) <= {"error", "message", "status", "reason"} and error["status"] == status
        assert words in error["message"], (method, path, error)
    listed = api.client.get(IDENTITIES, headers=ops).json()["identities"]
    assert [(i["name"], i["scopes"]) for i in listed] == [
        ("taken", ["vault:read", "vault:write"]),
        ("target", ["vault:read", "vault:write"]),
    ]


def test_a_duplicate_name_is_a_conflict(api: Api) -> None:
    ops = platform_key(api)
    create(api, ops, name="twin")
    again = api.client.post(IDENTITIES, json={"name": "twin"}, headers=ops)
    assert again.status_code == 409
    assert again.json()["error"] == "identity_exists"


def test_each_kind_of_key_reaches_only_its_routes(api: Api) -> None:
    ops = platform_key(api)
    identity_key = api.headers()
    missing = api.client.get(IDENTITIES)
    assert missing.status_code == 401
    assert (missing.json()["error"], missing.json()["reason"]) == (
        "unauthorized",
        "missing_api_key",
    )
    unknown = api.client.get(IDENTITIES, headers=auth("lopk-" + "x" * 43))
    assert (unknown.status_code, unknown.json()["error"]) == (401, "unauthorized")
    wrong = api.client.post(IDENTITIES, json={"name": "sneaky"}, headers=identity_key)
    assert wrong.status_code == 403
    assert (wrong.json()["error"], wrong.json()["reason"]) == ("forbidden", "platform_key_required")
    for path in ("/v0/vault", "/v0/vault/anything", "/v0/whoami"):
        refused = api.client.get(path, headers=ops)
        assert refused.status_code == 403, path
        assert refused.json()["reason"] == "identity_key_required"
    assert api.client.get(IDENTITIES, headers=ops).json()["count"] == 1  # only api.headers()'s


def test_a_revoked_platform_key_stops(api: Api) -> None:
    ops = platform_key(api, "ci")
    assert api.client.get(IDENTITIES, headers=ops).status_code == 200
    assert api.call(api.vault.platform.revoke_keys, "ci") == 1
    refused = api.client.get(IDENTITIES, headers=ops)
    assert (refused.status_code, refused.json()["error"]) == (401, "unauthorized")
    assert "lopk" not in refused.text.replace("lopk-...", "")
