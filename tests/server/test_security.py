"""What a security reviewer checks: what is stored, what tampering does, who sees what,
and what reaches the logs. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import Api, auth
from tests.server.test_api import assert_error

SECRETS = {
    "login": ("LOGIN", {"password": "pw-Zq8v-login-secret"}),
    "apikey": ("API_KEY", {"key": "sk_live_Zq8v_apikey_secret"}),
    "oauth": ("OAUTH", {"accessToken": "at-Zq8v-oauth", "refreshToken": "rt-Zq8v-oauth"}),
    "totp": (
        "TOTP",
        {"secret": "KZQWYZLTMFZGKZLOMFVGK3TPO4", "backupCodes": ["bc-Zq8v-1", "bc-Zq8v-2"]},
    ),
    "ssh": ("SSH_KEY", {"privateKey": "-----BEGIN Zq8v SSH-----", "passphrase": "pp-Zq8v"}),
    "db": ("DATABASE", {"connectionString": "postgresql://u:Zq8v-dbpw@h/db"}),
    "smtp": ("SMTP", {"password": "smtp-Zq8v-pw"}),
    "aws": ("AWS", {"secretAccessKey": "aws-Zq8v-secret", "sessionToken": "aws-Zq8v-token"}),
    "cert": ("CERTIFICATE", {"privateKey": "-----BEGIN Zq8v CERT-----"}),
    "custom": ("CUSTOM", {"webhook": "whsec_Zq8v_custom", "nested": {"pin": "Zq8v-4242"}}),
}
SECRET_STRINGS = [
    "pw-Zq8v-login-secret",
    "sk_live_Zq8v_apikey_secret",
    "at-Zq8v-oauth",
    "rt-Zq8v-oauth",
    "KZQWYZLTMFZGKZLOMFVGK3TPO4",
    "bc-Zq8v-1",
    "pp-Zq8v",
    "Zq8v-dbpw",
    "smtp-Zq8v-pw",
    "aws-Zq8v-secret",
    "whsec_Zq8v_custom",
    "Zq8v-4242",
]


@contextmanager
def raw_db(api: Api) -> Iterator[Any]:
    """A plain connection to the test's database, behind the server's back."""
    if api.settings.database_url:
        import psycopg

        with psycopg.connect(api.settings.database_url, autocommit=True) as pg_conn:
            yield pg_conn
    else:
        lite_conn = sqlite3.connect(api.settings.data_dir / "loomal.db", isolation_level=None)
        try:
            yield lite_conn
        finally:
            lite_conn.close()


def sql(api: Api, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    if api.settings.database_url:
        query = query.replace("?", "%s")
    with raw_db(api) as conn:
        cur = conn.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


def store_all(api: Api, headers: dict[str, str]) -> None:
    for name, (ctype, data) in SECRETS.items():
        body = {"type": ctype, "data": data, "metadata": {"note": "plain"}}
        assert api.client.put(f"/v0/vault/{name}", json=body, headers=headers).status_code == 200


def test_no_plaintext_secret_or_api_key_in_the_database(api: Api) -> None:
    identity = api.new_identity()
    headers = auth(identity.api_key)
    store_all(api, headers)
    api.client.post("/v0/vault/totp/totp/backup", headers=headers)
    for name in SECRETS:
        api.client.get(f"/v0/vault/{name}", headers=headers)
    api.call(api.vault.service.last_used.flush)
    needles = [s.encode() for s in [*SECRET_STRINGS, identity.api_key, identity.api_key[5:]]]
    if api.settings.database_url:
        dumped = b"\n".join(
            bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
            for table in ("credentials", "api_keys", "identities")
            for row in sql(api, f"SELECT * FROM {table}")
            for value in row
        )
        haystacks = {"postgres tables": dumped}
    else:
        data_dir = api.settings.data_dir
        haystacks = {
            path.name: path.read_bytes()
            for path in data_dir.iterdir()
            if path.name.startswith("loomal.db")
        }
        assert "loomal.db-wal" in haystacks
    assert any(b"plain" in h for h in haystacks.values())  # the scan does see stored bytes
    for where, content in haystacks.items():
        for needle in needles:
            assert needle not in content, f"{needle!r} found in {where}"


CRYPTO_COLUMNS = ["wrapped_key", "nonce", "ciphertext"]


@pytest.mark.parametrize("column", CRYPTO_COLUMNS)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_byte_in_stored_crypto_field_is_an_integrity_error(
    api: Api, column: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = api.headers()
    store_all(api, headers)
    (value,) = sql(api, f"SELECT {column} FROM credentials WHERE name = 'apikey'")[0]
    flipped = bytearray(value)
    index = {"first": 0, "middle": len(flipped) // 2, "last": len(flipped) - 1}[where]
    flipped[index] ^= 0x80
    sql(api, f"UPDATE credentials SET {column} = ? WHERE name = 'apikey'", (bytes(flipped),))
    with caplog.at_level(logging.DEBUG):
        response = api.client.get("/v0/vault/apikey", headers=headers)
    assert_error(response, 500, "integrity_error")
    assert "sk_live" not in response.text
    assert "integrity check failed for credential cred_" in caplog.text
    assert "Zq8v" not in caplog.text
    # the other credentials are unaffected
    assert api.client.get("/v0/vault/login", headers=headers).json()["data"] == SECRETS["login"][1]


def test_tampered_totp_fails_on_every_secret_route_and_consumes_nothing(api: Api) -> None:
    headers = api.headers()
    store_all(api, headers)
    sql(api, "UPDATE credentials SET nonce = ? WHERE name = 'totp'", (b"\x00" * 12,))
    for response in (
        api.client.get("/v0/vault/totp", headers=headers),
        api.client.get("/v0/vault/totp/totp", headers=headers),
        api.client.post("/v0/vault/totp/totp/backup", headers=headers),
    ):
        assert_error(response, 500, "integrity_error")


def test_a_code_served_before_a_byte_flips_is_not_served_after(api: Api) -> None:
    """Codes of the current period are reused only for the very row they came from."""
    headers = api.headers()
    store_all(api, headers)
    assert api.client.get("/v0/vault/totp/totp", headers=headers).status_code == 200
    (ciphertext,) = sql(api, "SELECT ciphertext FROM credentials WHERE name = 'totp'")[0]
    flipped = bytes([ciphertext[0] ^ 1]) + bytes(ciphertext[1:])
    sql(api, "UPDATE credentials SET ciphertext = ? WHERE name = 'totp'", (flipped,))
    assert_error(api.client.get("/v0/vault/totp/totp", headers=headers), 500, "integrity_error")


def _move_crypto(api: Api, source: str, target: str, source_identity: str | None = None) -> None:
    clause = " AND identity_id = ?" if source_identity else ""
    params: tuple[Any, ...] = (source, source_identity) if source_identity else (source,)
    key_id, wrapped, nonce, ciphertext = sql(
        api,
        f"SELECT key_id, wrapped_key, nonce, ciphertext FROM credentials WHERE name = ?{clause}",
        params,
    )[0]
    sql(
        api,
        "UPDATE credentials SET key_id = ?, wrapped_key = ?, nonce = ?, ciphertext = ? "
        "WHERE name = ?",
        (key_id, wrapped, nonce, ciphertext, target),
    )


def test_ciphertext_copied_onto_another_row_fails(api: Api) -> None:
    headers = api.headers()
    store_all(api, headers)
    _move_crypto(api, "smtp", "login")
    assert_error(api.client.get("/v0/vault/login", headers=headers), 500, "integrity_error")


def test_ciphertext_moved_to_another_identity_fails(api: Api) -> None:
    alice, mallory = api.new_identity(), api.new_identity()
    api.client.put(
        "/v0/vault/shared-name",
        json={"type": "LOGIN", "data": {"password": "alice-Zq8v"}},
        headers=auth(alice.api_key),
    )
    api.client.put(
        "/v0/vault/shared-name",
        json={"type": "LOGIN", "data": {"password": "mallory"}},
        headers=auth(mallory.api_key),
    )
    alice_row = sql(
        api,
        "SELECT key_id, wrapped_key, nonce, ciphertext FROM credentials WHERE identity_id = ?",
        (alice.identity_id,),
    )[0]
    sql(
        api,
        "UPDATE credentials SET key_id = ?, wrapped_key = ?, nonce = ?, ciphertext = ? "
        "WHERE identity_id = ?",
        (*alice_row, mallory.identity_id),
    )
    response = api.client.get("/v0/vault/shared-name", headers=auth(mallory.api_key))
    assert_error(response, 500, "integrity_error")
    assert "alice" not in response.text


def test_row_moved_to_another_identity_or_version_fails(api: Api) -> None:
    alice, mallory = api.new_identity(), api.new_identity()
    api.client.put(
        "/v0/vault/stolen",
        json={"type": "LOGIN", "data": {"password": "alice-Zq8v"}},
        headers=auth(alice.api_key),
    )
    sql(api, "UPDATE credentials SET version = version + 1 WHERE name = 'stolen'")
    assert_error(
        api.client.get("/v0/vault/stolen", headers=auth(alice.api_key)), 500, "integrity_error"
    )
    sql(api, "UPDATE credentials SET version = version - 1 WHERE name = 'stolen'")
    assert api.client.get("/v0/vault/stolen", headers=auth(alice.api_key)).status_code == 200
    sql(api, "UPDATE credentials SET identity_id = ? WHERE name = 'stolen'", (mallory.identity_id,))
    response = api.client.get("/v0/vault/stolen", headers=auth(mallory.api_key))
    assert_error(response, 500, "integrity_error")
    assert "Zq8v" not in response.text


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("metadata", b'{"allowedHosts":["127.0.0.3"],"baseUrl":"https://127.0.0.3/"}'),
        ("type", "CUSTOM"),  # a TOTP seed would read in clear as a CUSTOM field
        ("expires_at", 253_402_300_799_000_000),  # an expired credential made current
    ],
)
def test_edited_type_expiry_or_metadata_fails_every_secret_route(
    api: Api, column: str, value: object
) -> None:
    """Metadata decides where a brokered request may take the secret: a database
    writer without the master key must not be able to change it unnoticed."""
    h = api.headers()
    body = {
        "type": "TOTP",
        "data": {"secret": "JBSWY3DPEHPK3PXP"},
        "metadata": {"allowedHosts": ["127.0.0.2"]},
        "expiresAt": "2099-01-01T00:00:00Z",
    }
    assert api.client.put("/v0/vault/bound", json=body, headers=h).status_code == 200
    sql(api, f"UPDATE credentials SET {column} = ? WHERE name = 'bound'", (value,))
    for path in ("/v0/vault/bound", "/v0/vault/bound/totp"):
        response = api.client.get(path, headers=h)
        assert_error(response, 500, "integrity_error")
        assert "JBSWY3DP" not in response.text


ROUTES = [
    ("GET", "/v0/vault/{name}"),
    ("GET", "/v0/vault/{name}/totp"),
    ("POST", "/v0/vault/{name}/totp/backup"),
    ("DELETE", "/v0/vault/{name}"),
]


@pytest.mark.parametrize(
    "scopes", [("vault:read",), ("vault:write",), ("vault:read", "vault:write")]
)
def test_another_identity_sees_a_missing_credential(api: Api, scopes: tuple[str, ...]) -> None:
    owner = auth(api.new_identity().api_key)
    body = {
        "type": "TOTP",
        "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["only-Zq8v"]},
        "metadata": {"issuer": "X"},
    }
    api.client.put("/v0/vault/owned", json=body, headers=owner)
    intruder = api.headers(scopes)
    for method, template in ROUTES:
        foreign = api.client.request(method, template.format(name="owned"), headers=intruder)
        missing = api.client.request(method, template.format(name="absent"), headers=intruder)
        assert foreign.status_code == missing.status_code
        assert foreign.status_code in (403, 404)
        assert foreign.json()["error"] == missing.json()["error"]
        assert "Zq8v" not in foreign.text
    listed = api.client.get("/v0/vault", headers=intruder)
    assert listed.status_code == 403 or listed.json()["credentials"] == []
    if "vault:write" in scopes:
        mine = api.client.put("/v0/vault/owned", json=body, headers=intruder)
        assert mine.status_code == 200  # the intruder's own credential, not an overwrite
    owned = api.client.get("/v0/vault/owned", headers=owner).json()
    assert owned["data"]["backupCodes"] == ["only-Zq8v"]
    assert owned["data"]["usedBackupCodes"] == []


def test_secret_looking_values_in_bad_requests_reach_no_log_or_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    headers = api.headers()
    secret = "sk_live_LEAKCHECK_Zq8v"
    bad_bodies: list[bytes] = [
        b'{"type": "LOGIN", "data": {"password": "' + secret.encode() + b'"',
        b'{"type": "LOGIN", "data": {"pasword": "' + secret.encode() + b'"}}',
        b'{"type": "LOGIN", "data": {"password": ["' + secret.encode() + b'"]}}',
        b'{"type": "' + secret.encode() + b'", "data": {"password": "x"}}',
        b'{"type": "TOTP", "data": {"secret": "' + secret.encode() + b'"}}',
        b'{"type": "LOGIN", "data": {"password": "x"}, "expiresAt": "' + secret.encode() + b'"}',
        b'{"type": "LOGIN", "data": {"password": "' + secret.encode() * 4000 + b'"}}',
        secret.encode(),
    ]
    with caplog.at_level(logging.DEBUG):
        for body in bad_bodies:
            response = api.client.put(
                "/v0/vault/leak",
                content=body,
                headers=headers | {"content-type": "application/json"},
            )
            assert 400 <= response.status_code < 500
            assert secret not in response.text
        response = api.client.get("/v0/vault/leak", headers={"Authorization": f"Bearer {secret}"})
        assert secret not in response.text
    assert secret not in caplog.text
