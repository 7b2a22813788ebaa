"""The six endpoints of the SPEC: success paths and every error of its table."""

from __future__ import annotations

import time

import pytest

from loomal.core.models import StoreRequest
from tests.conftest import Api, ManualClock, auth

SEED_STRIPE = {
    "type": "API_KEY",
    "data": {"key": "sk_live_abc123..."},
    "metadata": {"service": "stripe", "prefix": "sk_live_...c123"},
}
SEED_LOGIN = {
    "type": "LOGIN",
    "data": {"password": "s3cret!"},
    "metadata": {"uri": "https://github.com", "username": "agent-bot"},
}
SEED_TOTP = {
    "type": "TOTP",
    "data": {"secret": "JBSWY3DPEHPK3PXP"},
    "metadata": {"issuer": "GitHub", "account": "agent-bot"},
}
ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


def _login(password: str) -> StoreRequest:
    return StoreRequest(type="LOGIN", data={"password": password})


def assert_error(response: object, status: int, code: str, reason: str | None = None) -> str:
    """The flat error shape of the hosted API: {"error", "message", "status", "reason"?}."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "message", "status"} | ({"reason"} if reason else set())
    assert body["error"] == code
    assert body["status"] == status
    assert body.get("reason") == reason
    assert body["message"]
    message: str = body["message"]
    return message


def test_store_seed_example_creates_then_overwrites_keeping_id(api: Api) -> None:
    h = api.headers()
    first = api.client.put("/v0/vault/stripe", json=SEED_STRIPE, headers=h)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {
        "credentialId",
        "type",
        "name",
        "metadata",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "lastRotatedAt",
        "version",
    }
    assert body["lastRotatedAt"] is None
    assert body["version"] == 1  # created; 200 all the same (the hosted API's answer)
    assert body["credentialId"].startswith("cred_")
    assert (body["type"], body["name"], body["expiresAt"]) == ("API_KEY", "stripe", None)
    assert body["metadata"] == SEED_STRIPE["metadata"]
    assert body["createdAt"].endswith("Z")
    assert "data" not in body

    again = api.client.put(
        "/v0/vault/stripe", json={"type": "API_KEY", "data": {"key": "sk_live_new"}}, headers=h
    )
    assert again.status_code == 200
    assert again.json()["version"] == 2
    assert again.json()["credentialId"] == body["credentialId"]
    assert again.json()["createdAt"] == body["createdAt"]
    assert again.json()["lastRotatedAt"] is not None
    got = api.client.get("/v0/vault/stripe", headers=h).json()
    assert got["data"] == {"key": "sk_live_new"}
    assert got["metadata"] == {}
    assert got["lastRotatedAt"] == again.json()["lastRotatedAt"]


def test_overwrite_sets_last_rotated_only_when_data_changes(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/stripe", json=SEED_STRIPE, headers=h)
    same_data = dict(SEED_STRIPE, metadata={"service": "stripe", "note": "renamed"})
    again = api.client.put("/v0/vault/stripe", json=same_data, headers=h).json()
    assert again["lastRotatedAt"] is None
    assert again["metadata"]["note"] == "renamed"
    rotated = api.client.put(
        "/v0/vault/stripe", json=dict(SEED_STRIPE, data={"key": "sk_live_2"}), headers=h
    ).json()
    assert rotated["lastRotatedAt"] is not None
    listed = api.client.get("/v0/vault", headers=h).json()["credentials"][0]
    assert listed["lastRotatedAt"] == rotated["lastRotatedAt"]


def test_get_returns_decrypted_data_and_marks_use(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/github", json=SEED_LOGIN, headers=h)
    listed = api.client.get("/v0/vault", headers=h).json()["credentials"][0]
    assert listed["lastUsedAt"] is None
    got = api.client.get("/v0/vault/github", headers=h)
    assert got.status_code == 200
    body = got.json()
    assert body["data"] == {"password": "s3cret!"}
    assert body["metadata"] == SEED_LOGIN["metadata"]
    assert body["hasTOTP"] is False
    assert body["lastUsedAt"] is not None
    assert body["expired"] is False
    assert got.headers["cache-control"] == "no-store"
    assert api.client.get("/v0/vault", headers=h).json()["credentials"][0]["lastUsedAt"]


def test_list_is_metadata_only_and_paginates(api: Api) -> None:
    h = api.headers()
    for i in range(7):
        api.client.put(
            f"/v0/vault/cred-{i}",
            json={"type": "LOGIN", "data": {"password": f"pw-{i}"}},
            headers=h,
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v0/vault", params=params, headers=h)
        assert page.status_code == 200
        body = page.json()
        assert set(body) <= {"credentials", "count", "nextCursor"}
        assert body["count"] == len(body["credentials"])
        for item in body["credentials"]:
            assert set(item) == {
                "lastRotatedAt",
                "credentialId",
                "name",
                "type",
                "metadata",
                "expiresAt",
                "createdAt",
                "updatedAt",
                "lastUsedAt",
                "expired",
                "version",
            }
            assert "pw-" not in page.text
        seen += [c["name"] for c in body["credentials"]]
        pages += 1
        cursor = body.get("nextCursor")
        if cursor is None:
            break
    assert seen == [f"cred-{i}" for i in range(7)]
    assert pages == 3
    everything = api.client.get("/v0/vault", headers=h).json()
    assert set(everything) == {"credentials", "count"}
    assert everything["count"] == 7
    assert [c["name"] for c in everything["credentials"]] == seen


def test_list_without_limit_returns_more_than_a_page(api: Api) -> None:
    """The official SDK never pages: a list without limit holds every credential."""
    h = api.headers()

    async def store_all() -> None:  # on the app's loop in one call, not 2,010 thread hops
        owner = await api.vault.identities.authenticate(h["Authorization"])
        for i in range(1005):
            await api.vault.service.store_credential(owner, f"k{i:04d}", _login(f"pw-{i}"))

    api.call(store_all)
    body = api.client.get("/v0/vault", headers=h).json()
    assert body["count"] == 1005
    assert [c["name"] for c in body["credentials"]] == [f"k{i:04d}" for i in range(1005)]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=abc", "cursor=%%%", "cursor=Lmhp"]
)
def test_list_rejects_bad_limit_and_cursor(api: Api, query: str) -> None:
    assert_error(
        api.client.get(f"/v0/vault?{query}", headers=api.headers()), 422, "validation_error"
    )


def test_delete_then_gone(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/stripe", json=SEED_STRIPE, headers=h)
    deleted = api.client.delete("/v0/vault/stripe", headers=h)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(api.client.get("/v0/vault/stripe", headers=h), 404, "not_found")
    assert_error(api.client.delete("/v0/vault/stripe", headers=h), 404, "not_found")


def test_totp_code_and_redacted_secret(api: Api) -> None:
    h = api.headers()
    body = dict(SEED_TOTP, data={"secret": "jbsw y3dp ehpk 3pxp", "backupCodes": ["abcd-1234"]})
    assert api.client.put("/v0/vault/github-2fa", json=body, headers=h).status_code == 200
    before = time.time()
    code = api.client.get("/v0/vault/github-2fa/totp", headers=h)
    assert code.status_code == 200
    result = code.json()
    assert set(result) == {"code", "remaining", "backupCodesRemaining", "period", "expiresAt"}
    assert len(result["code"]) == 6 and result["code"].isdigit()
    assert result["backupCodesRemaining"] == 1
    assert result["period"] == 30
    assert 1 <= result["remaining"] <= 30
    assert result["expiresAt"].endswith(":00Z") or result["expiresAt"].endswith(":30Z")
    from loomal.core.totp import totp_code

    assert result["code"] in {
        totp_code("JBSWY3DPEHPK3PXP", at=before).code,
        totp_code("JBSWY3DPEHPK3PXP", at=time.time()).code,
    }
    got = api.client.get("/v0/vault/github-2fa", headers=h).json()
    assert got["data"]["secret"] == "[use /v0/vault/:name/totp]"
    assert got["hasTOTP"] is True
    assert got["data"]["backupCodes"] == ["abcd-1234"]
    assert got["data"]["usedBackupCodes"] == []
    assert "JBSWY3DP" not in api.client.get("/v0/vault/github-2fa", headers=h).text


def test_totp_honours_metadata_parameters(api: Api) -> None:
    h = api.headers()
    body = {
        "type": "TOTP",
        "data": {"secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
        "metadata": {"algorithm": "sha512", "digits": 8, "period": 60},
    }
    api.client.put("/v0/vault/eight", json=body, headers=h)
    result = api.client.get("/v0/vault/eight/totp", headers=h).json()
    assert len(result["code"]) == 8
    assert result["period"] == 60


def test_backup_codes_pop_in_order_with_audit_trail(api: Api) -> None:
    h = api.headers()
    body = {
        "type": "TOTP",
        "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["abcd-1234", "efgh-5678"]},
        "metadata": {"issuer": "GitHub"},
    }
    api.client.put("/v0/vault/gh", json=body, headers=h)
    first = api.client.post("/v0/vault/gh/totp/backup", headers=h)
    assert first.status_code == 200
    assert first.json() == {"code": "abcd-1234", "remaining": 1, "backupCodesRemaining": 1}
    assert api.client.post("/v0/vault/gh/totp/backup", headers=h).json() == {
        "code": "efgh-5678",
        "remaining": 0,
        "backupCodesRemaining": 0,
    }
    assert_error(
        api.client.post("/v0/vault/gh/totp/backup", headers=h),
        400,
        "bad_request",
        "no_backup_codes",
    )
    data = api.client.get("/v0/vault/gh", headers=h).json()["data"]
    assert data["backupCodes"] == []
    assert data["usedBackupCodes"] == ["abcd-1234", "efgh-5678"]
    assert api.client.get("/v0/vault/gh/totp", headers=h).json()["backupCodesRemaining"] == 0


def test_totp_routes_on_a_non_totp_credential(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/stripe", json=SEED_STRIPE, headers=h)
    for response in (
        api.client.get("/v0/vault/stripe/totp", headers=h),
        api.client.post("/v0/vault/stripe/totp/backup", headers=h),
    ):
        assert_error(response, 400, "bad_request", "not_totp")


def test_any_type_with_a_totp_seed_serves_codes_and_backup_codes(api: Api) -> None:
    h = api.headers()
    uri = "otpauth://totp/GitHub:bot?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&period=60"
    login = {
        "type": "LOGIN",
        "data": {"password": "pw", "totp": uri, "backupCodes": ["one", "two"]},
        "metadata": {"username": "bot"},
    }
    assert api.client.put("/v0/vault/gh", json=login, headers=h).status_code == 200
    got = api.client.get("/v0/vault/gh", headers=h).json()
    assert got["hasTOTP"] is True
    assert got["data"]["totp"] == "[use /v0/vault/:name/totp]"
    assert "GEZDGNBV" not in api.client.get("/v0/vault/gh", headers=h).text
    code = api.client.get("/v0/vault/gh/totp", headers=h).json()
    assert len(code["code"]) == 8 and code["period"] == 60
    assert code["backupCodesRemaining"] == 2
    from loomal.core.totp import TotpParameters, totp_code

    params = TotpParameters(digits=8, period=60)
    expected = {
        totp_code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at=t, params=params).code
        for t in (time.time() - 2, time.time())
    }
    assert code["code"] in expected
    popped = api.client.post("/v0/vault/gh/totp/backup", headers=h).json()
    assert popped == {"code": "one", "remaining": 1, "backupCodesRemaining": 1}


def test_expired_credential_is_listed_but_not_served(api: Api) -> None:
    h = api.headers()
    body = dict(SEED_TOTP, data={"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a"]})
    body["expiresAt"] = "2020-01-01T00:00:00Z"
    stored = api.client.put("/v0/vault/old", json=body, headers=h)
    assert stored.status_code == 200
    assert stored.json()["expiresAt"] == "2020-01-01T00:00:00Z"
    listed = api.client.get("/v0/vault", headers=h).json()["credentials"]
    assert [(c["name"], c["expired"]) for c in listed] == [("old", True)]
    for response in (
        api.client.get("/v0/vault/old", headers=h),
        api.client.get("/v0/vault/old/totp", headers=h),
        api.client.post("/v0/vault/old/totp/backup", headers=h),
    ):
        assert_error(response, 410, "expired")
    assert api.client.get("/v0/vault/old", headers=h).json()["message"]
    body["expiresAt"] = "2999-01-01T00:00:00+02:00"
    assert api.client.put("/v0/vault/old", json=body, headers=h).status_code == 200
    got = api.client.get("/v0/vault/old", headers=h).json()
    assert got["expiresAt"] == "2998-12-31T22:00:00Z"
    assert got["expired"] is False
    assert api.client.delete("/v0/vault/old", headers=h).status_code == 204


# -- errors -------------------------------------------------------------------------


def test_missing_unknown_and_malformed_keys_are_401(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer loid-" + "x" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "loid-abc"},
    ):
        response = api.client.get("/v0/vault", headers=headers)
        reason = "invalid_api_key" if headers else "missing_api_key"
        assert_error(response, 401, "unauthorized", reason)
        assert response.headers["www-authenticate"] == "Bearer"


def test_unauthenticated_body_is_never_parsed(api: Api) -> None:
    assert_error(
        api.client.put("/v0/vault/x", content=b"{bad"), 401, "unauthorized", "missing_api_key"
    )


def test_unknown_and_revoked_keys_answer_identically(api: Api) -> None:
    created = api.new_identity()
    api.call(api.vault.identities.revoke, created.name)
    revoked = api.client.get("/v0/vault", headers=auth(created.api_key))
    unknown = api.client.get("/v0/vault", headers=auth("loid-" + "A" * 43))
    assert revoked.status_code == unknown.status_code == 401
    assert revoked.json() == unknown.json()


def test_expired_key_is_401(clocked_api: Api, clock: ManualClock) -> None:
    api = clocked_api
    created = api.new_identity()
    api.call(
        api.vault.identities.add_key,
        created.name,
        scopes=["vault:read"],
        expires_at=int((clock() + 1) * 1e6),
    )
    keys = api.call(api.vault.identities.list_identities)
    assert any(k.expires_at for i in keys for k in i.keys)
    # A key whose expiry has passed answers 401 (checked on every request, cached or not).
    short = api.call(
        api.vault.identities.add_key,
        created.name,
        scopes=["vault:read"],
        expires_at=int((clock() + 0.3) * 1e6),
    )
    assert api.client.get("/v0/vault", headers=auth(short.api_key)).status_code == 200
    clock.advance(0.4)
    assert_error(
        api.client.get("/v0/vault", headers=auth(short.api_key)),
        401,
        "unauthorized",
        "invalid_api_key",
    )


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/v0/vault", "vault:use"),
        ("GET", "/v0/vault/x", "vault:read"),
        ("GET", "/v0/vault/x/totp", "vault:use"),
        ("POST", "/v0/vault/x/totp/backup", "vault:write"),
        ("PUT", "/v0/vault/x", "vault:write"),
        ("DELETE", "/v0/vault/x", "vault:write"),
        ("POST", "/v0/vault/x/fetch", "vault:use"),
        ("GET", "/v0/audit", "vault:use"),
    ],
)
def test_missing_scope_is_403(api: Api, method: str, path: str, needs: str) -> None:
    other = "vault:read" if needs == "vault:write" else "vault:write"
    h = api.headers((other,))
    body: object = SEED_LOGIN if method == "PUT" else None  # None: no body, httpx's default
    if path.endswith("/fetch"):
        body = {"method": "GET", "url": "https://api.example.com/"}
    message = assert_error(
        api.client.request(method, path, headers=h, json=body),
        403,
        "forbidden",
        "insufficient_scope",
    )
    assert needs in message


def test_malformed_json_is_400_and_stores_nothing(api: Api) -> None:
    h = api.headers()
    for body in (b"{bad", b'{"type": "LOGIN", "data": {"password": "p"}', b"", b"null"):
        assert_error(
            api.client.put(
                "/v0/vault/x", content=body, headers=h | {"content-type": "application/json"}
            ),
            400,
            "bad_request",
            "malformed_json",
        )
    assert api.client.get("/v0/vault", headers=h).json()["credentials"] == []


def test_a_host_header_that_is_no_host_name_is_400_in_our_shape(api: Api) -> None:
    """Litestar's router refuses it before any route; the answer says what was wrong
    (not that a body was malformed) and the 400 is in the OpenAPI document."""
    h = api.headers() | {"host": "F_/"}
    for method, path in (("GET", "/v0/whoami"), ("GET", "/v0/vault"), ("DELETE", "/v0/vault/x")):
        message = assert_error(api.client.request(method, path, headers=h), 400, "bad_request")
        assert message == "The Host header is not a valid host name."
    operations = api.client.get("/v0/openapi.json").json()["paths"]
    for path, methods in operations.items():
        for method, operation in methods.items():
            schema = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": 1, "data": {"password": "p"}}, "type"),
        ({"type": "PASSWORD", "data": {"password": "p"}}, "type"),
        ({"type": "LOGIN"}, "data"),
        ({"type": "LOGIN", "data": "p"}, "data"),
        ({"type": "LOGIN", "data": {"pasword": "p"}}, "data.pasword"),
        ({"type": "LOGIN", "data": {"password": "p"}, "metadata": []}, "metadata"),
        ({"type": "LOGIN", "data": {"password": "p"}, "expiresAt": "tomorrow"}, "expiresAt"),
        ({"type": "LOGIN", "data": {"password": "p"}, "extra": 1}, "extra"),
        ({"type": "TOTP", "data": {"secret": "not-base32!"}}, "data.secret"),
        (
            {"type": "TOTP", "data": {"secret": "JBSWY3DP"}, "metadata": {"digits": 7}},
            "metadata.digits",
        ),
        ([1, 2], "object"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(api: Api, body: object, field: str) -> None:
    h = api.headers()
    message = assert_error(
        api.client.put("/v0/vault/x", json=body, headers=h), 422, "validation_error"
    )
    assert field in message
    assert api.client.get("/v0/vault", headers=h).json()["credentials"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"data": {"password": "p"}}, "Object missing required field `type`"),
        ({"type": "LOGIN", "data": {"password": "p"}, "x": 1}, "Object contains unknown field `x`"),
        ({"type": "LOGIN", "data": "p"}, "data: Expected `object`, got `str`"),
        ({"type": 1, "data": {"password": "p"}}, "type: Expected `str`, got `int`"),
        ({"type": "LOGIN", "data": {"password": "p"}, "metadata": 5}, "metadata: Expected"),
    ],
)
def test_a_body_error_names_the_field_as_the_caller_wrote_it(
    api: Api, body: object, expected: str
) -> None:
    """Not the framework's name for the whole body (it read "data: ... field `type`")."""
    h = api.headers()
    message = assert_error(
        api.client.put("/v0/vault/x", json=body, headers=h), 422, "validation_error"
    )
    assert message.startswith(expected), message


def test_overwrite_with_invalid_body_keeps_the_old_credential(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/github", json=SEED_LOGIN, headers=h)
    bad = {"type": "LOGIN", "data": {"pasword": "typo"}}
    assert api.client.put("/v0/vault/github", json=bad, headers=h).status_code == 422
    assert api.client.get("/v0/vault/github", headers=h).json()["data"] == {"password": "s3cret!"}


@pytest.mark.parametrize("name", [".hidden", "a" * 129, "bad%20name", "caf%C3%A9", "a%00b"])
def test_bad_names_are_422_on_every_route(api: Api, name: str) -> None:
    h = api.headers()
    for method, suffix in (
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("GET", "/totp"),
        ("POST", "/totp/backup"),
    ):
        body = SEED_LOGIN if method == "PUT" else None  # None: no body, httpx's default
        response = api.client.request(method, f"/v0/vault/{name}{suffix}", headers=h, json=body)
        assert_error(response, 422, "validation_error")


def test_body_over_64_kib_is_413_and_not_stored(api: Api) -> None:
    h = api.headers()
    big = {"type": "LOGIN", "data": {"password": "p" * (65 * 1024)}}
    assert_error(api.client.put("/v0/vault/big", json=big, headers=h), 413, "payload_too_large")
    assert_error(api.client.get("/v0/vault/big", headers=h), 404, "not_found")
    just_under = {"type": "LOGIN", "data": {"password": "p" * (60 * 1024)}}
    assert api.client.put("/v0/vault/big", json=just_under, headers=h).status_code == 200


def test_unknown_paths_and_methods_use_the_error_shape(api: Api) -> None:
    assert_error(api.client.get("/v0/nothing"), 404, "not_found")
    assert_error(api.client.get("/nothing-here"), 404, "not_found")  # "/" is the console
    assert_error(api.client.patch("/v0/vault/x", headers=api.headers()), 405, "method_not_allowed")


def test_openapi_document_describes_the_routes(api: Api) -> None:
    doc = api.client.get("/v0/openapi.json").json()
    assert set(doc["paths"]) == {
        "/v0/audit",
        "/v0/whoami",
        "/v0/vault",
        "/v0/vault/{name}",
        "/v0/vault/{name}/totp",
        "/v0/vault/{name}/totp/backup",
        "/v0/vault/{name}/fetch",
        "/v0/vault/{name}/versions",
        "/v0/vault/{name}/versions/{version}/restore",
        "/v0/vault/{name}/undelete",
        "/v0/vault/{name}/oauth",
        "/v0/vault/{name}/oauth/refresh",
        "/v0/vault/{name}/oauth/connect",
        "/v0/oauth/callback",
        "/v0/platform/identities",
        "/v0/platform/identities/{identity_id}",
        "/v0/platform/identities/{identity_id}/rotate-key",
        "/v0/health",
        "/v0/proxy/{name}/{path}",
        "/v0/approvals",
        "/v0/approvals/{approval_id}",
        "/v0/approvals/{approval_id}/approve",
        "/v0/approvals/{approval_id}/deny",
        "/v0/requests",
        "/v0/requests/{request_id}",
        "/v0/requests/{request_id}/fulfill",
        "/v0/requests/{request_id}/decline",
    }
    assert set(doc["paths"]["/v0/health"]) == {"get", "head"}
    assert set(doc["paths"]["/v0/proxy/{name}/{path}"]) == {"get", "post", "put", "patch", "delete"}
    read = doc["paths"]["/v0/vault/{name}"]["get"]  # served by the edge, described all the same
    assert read["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Credential"
    }
    assert "vault:read" in read["description"]
    put = doc["paths"]["/v0/vault/{name}"]["put"]
    assert {"200", "400", "401", "403", "413", "422"} <= set(put["responses"])
    assert "requestBody" in put
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_whoami_answers_any_valid_key_with_the_sdk_fields(api: Api) -> None:
    created = api.new_identity(("vault:read",), name="research-agent")
    h = auth(created.api_key)
    api.client.get("/v0/vault", headers=h)
    me = api.client.get("/v0/whoami", headers=h)
    assert me.status_code == 200
    body = me.json()
    assert set(body) == {
        "identityId",
        "name",
        "email",
        "displayName",
        "type",
        "purpose",
        "scopes",
        "usageCount",
        "lastUsedAt",
        "createdAt",
    }
    assert body["identityId"] == created.identity_id
    assert (body["name"], body["displayName"], body["email"]) == ("research-agent",) * 2 + (None,)
    assert body["scopes"] == ["vault:read"]
    assert body["usageCount"] == 2  # the list, and this call
    assert body["lastUsedAt"].endswith("Z") and body["createdAt"].endswith("Z")
    assert_error(api.client.get("/v0/whoami"), 401, "unauthorized", "missing_api_key")
