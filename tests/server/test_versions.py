"""Versions, restore and recoverable delete over HTTP, on both stores (issue 26)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.versions import destroy_expired_deletions
from loomal.server.app import create_app
from tests.conftest import Api, auth
from tests.server.test_api import assert_error

DAY = 86_400.0


def login(password: str) -> dict[str, Any]:
    return {"type": "LOGIN", "data": {"username": "ann", "password": password}}


def store_versions(api: Api, h: dict[str, str], name: str, count: int) -> None:
    for i in range(1, count + 1):
        assert api.client.put(f"/v0/vault/{name}", json=login(f"pw-{i}"), headers=h).is_success


@pytest.fixture
def short_history(settings: ServerSettings) -> Iterator[Api]:
    """A server keeping 3 versions of each credential."""
    kept = dataclasses.replace(settings, max_versions=3)
    app = create_app(settings=kept)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=kept, app=app)


def test_history_lists_every_write_newest_first_without_secrets(api: Api) -> None:
    created = api.call(
        api.vault.identities.create_identity,
        "agent-h",
        scopes=["vault:read", "vault:write"],
        label="billing-bot",
    )
    h = auth(created.api_key)
    store_versions(api, h, "gh", 3)
    answer = api.client.get("/v0/vault/gh/versions", headers=h)
    assert answer.status_code == 200
    body = answer.json()
    assert [v["version"] for v in body["versions"]] == [3, 2, 1]
    assert [v["current"] for v in body["versions"]] == [True, False, False]
    assert {v["kind"] for v in body["versions"]} == {"store"}
    prefix = created.api_key[:13]
    assert body["versions"][0]["writtenBy"] == f"billing-bot ({prefix})"
    assert "pw-" not in answer.text and created.api_key not in answer.text


def test_a_kept_version_reads_with_its_data_and_etag(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 3)
    old = api.client.get("/v0/vault/gh?version=1", headers=h)
    assert old.status_code == 200 and old.headers["etag"] == '"1"'
    assert old.json()["data"]["password"] == "pw-1" and old.json()["version"] == 1
    assert api.client.get("/v0/vault/gh", headers=h).json()["data"]["password"] == "pw-3"
    missing = api.client.get("/v0/vault/gh?version=9", headers=h)
    assert_error(missing, 404, "not_found", "no_such_version")
    # vault:use sees the history, never a version's data
    use_only = api.headers(("vault:use",))
    assert api.client.put("/v0/vault/gh", json=login("x"), headers=use_only).status_code == 403
    refused = api.client.get("/v0/vault/gh?version=1", headers=use_only)
    assert_error(refused, 403, "forbidden", "insufficient_scope")


def test_restore_makes_an_old_version_current_as_a_new_version(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 3)
    restored = api.client.post("/v0/vault/gh/versions/1/restore", headers=h)
    assert restored.status_code == 200 and restored.headers["etag"] == '"4"'
    assert "pw-" not in restored.text
    now = api.client.get("/v0/vault/gh", headers=h).json()
    assert now["version"] == 4 and now["data"]["password"] == "pw-1"
    kinds = [
        v["kind"] for v in api.client.get("/v0/vault/gh/versions", headers=h).json()["versions"]
    ]
    assert kinds == ["restore", "store", "store", "store"]
    reader = api.headers(("vault:read",))
    refused = api.client.post("/v0/vault/gh/versions/1/restore", headers=reader)
    assert_error(refused, 403, "forbidden", "insufficient_scope")
    assert_error(
        api.client.post("/v0/vault/gh/versions/99/restore", headers=h),
        404,
        "not_found",
        "no_such_version",
    )
    assert_error(api.client.post("/v0/vault/nope/versions/1/restore", headers=h), 404, "not_found")


def test_restore_never_brings_back_a_used_backup_code(api: Api) -> None:
    h = api.headers()
    totp = {
        "type": "TOTP",
        "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["a1", "b2", "c3"]},
    }
    assert api.client.put("/v0/vault/mfa", json=totp, headers=h).is_success
    assert api.client.post("/v0/vault/mfa/totp/backup", headers=h).json()["code"] == "a1"
    assert api.client.post("/v0/vault/mfa/totp/backup", headers=h).json()["code"] == "b2"
    kinds = [
        v["kind"] for v in api.client.get("/v0/vault/mfa/versions", headers=h).json()["versions"]
    ]
    assert kinds == ["backup_code", "backup_code", "store"]
    assert api.client.post("/v0/vault/mfa/versions/1/restore", headers=h).is_success
    data = api.client.get("/v0/vault/mfa", headers=h).json()["data"]
    assert data["backupCodes"] == ["c3"]
    assert data["usedBackupCodes"] == ["a1", "b2"]
    assert api.client.post("/v0/vault/mfa/totp/backup", headers=h).json()["code"] == "c3"


def test_restore_never_brings_back_a_rotated_refresh_token(api: Api) -> None:
    h = api.headers()

    def oauth(access: str, refresh: str, scopes: str) -> dict[str, Any]:
        data = {"accessToken": access, "refreshToken": refresh}
        return {"type": "OAUTH", "data": data, "metadata": {"scopes": scopes}}

    assert api.client.put("/v0/vault/crm", json=oauth("a1", "r1", "read"), headers=h).is_success
    assert api.client.put("/v0/vault/crm", json=oauth("a2", "r2", "write"), headers=h).is_success
    assert api.client.post("/v0/vault/crm/versions/1/restore", headers=h).is_success
    got = api.client.get("/v0/vault/crm", headers=h).json()
    assert got["metadata"]["scopes"] == "read"  # the restored version's settings
    assert got["data"] == {"accessToken": "a2", "refreshToken": "r2"}  # the live family


def test_only_the_newest_versions_stay(short_history: Api) -> None:
    api = short_history
    h = api.headers()
    store_versions(api, h, "gh", 5)
    versions = api.client.get("/v0/vault/gh/versions", headers=h).json()["versions"]
    assert [v["version"] for v in versions] == [5, 4, 3]
    gone = api.client.get("/v0/vault/gh?version=2", headers=h)
    assert_error(gone, 404, "not_found", "no_such_version")


def test_a_version_row_moved_to_another_number_fails_to_open(api: Api) -> None:
    """The AEAD binding holds the version number: a swapped row is an integrity error."""
    h = api.headers()
    store_versions(api, h, "gh", 2)
    swap = (
        "UPDATE credential_versions SET version = 100 + version WHERE version IN (1, 2)",
        "UPDATE credential_versions SET version = 3 - (version - 100) WHERE version > 100",
    )
    _run_sql(api, swap)
    for version in (1, 2):
        refused = api.client.get(f"/v0/vault/gh?version={version}", headers=h)
        assert_error(refused, 500, "integrity_error")
        assert "pw-" not in refused.text
    refused = api.client.post("/v0/vault/gh/versions/1/restore", headers=h)
    assert_error(refused, 500, "integrity_error")
    assert api.client.get("/v0/vault/gh", headers=h).json()["data"]["password"] == "pw-2"


def test_delete_hides_at_once_and_undelete_brings_it_back(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 2)
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 204
    for path in (
        "/v0/vault/gh",
        "/v0/vault/gh/totp",
        "/v0/vault/gh/versions",
        "/v0/vault/gh?version=1",
    ):
        assert_error(api.client.get(path, headers=h), 404, "not_found")
    assert api.client.get("/v0/vault", headers=h).json()["credentials"] == []
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 404
    deleted = api.client.get("/v0/vault?deleted=true", headers=h).json()
    assert deleted["count"] == 1
    entry = deleted["deleted"][0]
    assert entry["name"] == "gh" and entry["version"] == 2 and entry["nameInUse"] is False
    assert "pw-" not in str(deleted)
    back = api.client.post("/v0/vault/gh/undelete", headers=h)
    assert back.status_code == 200 and back.headers["etag"] == '"3"'
    got = api.client.get("/v0/vault/gh", headers=h).json()
    assert got["data"]["password"] == "pw-2" and got["credentialId"] == entry["credentialId"]
    kinds = [
        v["kind"] for v in api.client.get("/v0/vault/gh/versions", headers=h).json()["versions"]
    ]
    assert kinds == ["undelete", "store", "store"]
    assert api.client.get("/v0/vault?deleted=true", headers=h).json()["count"] == 0
    assert_error(api.client.post("/v0/vault/gh/undelete", headers=h), 404, "not_found")


def test_undelete_after_the_name_was_reused_is_409_then_goes_under_another_name(
    api: Api,
) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 1)
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 204
    assert api.client.put("/v0/vault/gh", json=login("new"), headers=h).json()["version"] == 1
    assert api.client.get("/v0/vault?deleted=true", headers=h).json()["deleted"][0]["nameInUse"]
    refused = api.client.post("/v0/vault/gh/undelete", headers=h)
    assert_error(refused, 409, "name_in_use")
    assert api.client.get("/v0/vault/gh", headers=h).json()["data"]["password"] == "new"
    moved = api.client.post("/v0/vault/gh/undelete?as=gh-old", headers=h)
    assert moved.status_code == 200 and moved.json()["name"] == "gh-old"
    assert api.client.get("/v0/vault/gh-old", headers=h).json()["data"]["password"] == "pw-1"
    assert api.client.get("/v0/vault/gh", headers=h).json()["data"]["password"] == "new"


def test_destroy_removes_every_version_now(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 3)
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 204
    store_versions(api, h, "gh", 2)  # the name again, a new credential
    assert _count(api, "credential_versions") == 5
    assert api.client.delete("/v0/vault/gh?destroy=true", headers=h).status_code == 204
    assert _count(api, "credential_versions") == 0
    assert _count(api, "credential_tombstones") == 0
    assert api.client.get("/v0/vault/gh", headers=h).status_code == 404
    assert api.client.get("/v0/vault?deleted=true", headers=h).json()["count"] == 0
    assert api.client.delete("/v0/vault/gh?destroy=true", headers=h).status_code == 404


def test_expired_deletions_are_destroyed_after_the_retention(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 2)
    store_versions(api, h, "keep", 1)
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 204
    store = api.vault.store
    now = time.time()
    assert api.call(destroy_expired_deletions, store, now=now + 29 * DAY, retention_days=30) == 0
    assert api.client.get("/v0/vault?deleted=true", headers=h).json()["count"] == 1
    assert api.call(destroy_expired_deletions, store, now=now + 31 * DAY, retention_days=30) == 1
    assert api.client.get("/v0/vault?deleted=true", headers=h).json()["count"] == 0
    assert_error(api.client.post("/v0/vault/gh/undelete", headers=h), 404, "not_found")
    assert _count(api, "credential_versions") == 1  # only "keep"'s


def test_another_identity_sees_nothing_of_the_history(api: Api) -> None:
    h, other = api.headers(), api.headers()
    store_versions(api, h, "gh", 2)
    assert api.client.get("/v0/vault/gh/versions", headers=other).status_code == 404
    assert api.client.get("/v0/vault/gh?version=1", headers=other).status_code == 404
    assert api.client.delete("/v0/vault/gh", headers=h).status_code == 204
    assert api.client.get("/v0/vault?deleted=true", headers=other).json()["count"] == 0
    assert api.client.post("/v0/vault/gh/undelete", headers=other).status_code == 404


def _count(api: Api, table: str) -> int:
    rows = _run_sql(api, (f"SELECT count(*) FROM {table}",))
    return int(rows[0][0])


def _run_sql(api: Api, statements: tuple[str, ...]) -> list[Any]:
    """Statements on the test's store, outside the server (tampering, counting)."""
    if api.settings.database_url:
        import psycopg

        with psycopg.connect(api.settings.database_url, autocommit=True) as conn:
            rows: list[Any] = []
            for sql in statements:
                cur = conn.execute(sql.encode())
                rows = cur.fetchall() if cur.description else []
            return rows
    import sqlite3

    lite = sqlite3.connect(api.settings.data_dir / "loomal.db", isolation_level=None)
    try:
        rows = []
        for sql in statements:
            rows = lite.execute(sql).fetchall()
        return rows
    finally:
        lite.close()


def test_a_rotation_rewraps_kept_versions_so_the_old_key_can_retire(api: Api) -> None:
    h = api.headers()
    store_versions(api, h, "gh", 3)
    store_versions(api, h, "gone", 2)
    assert api.client.delete("/v0/vault/gone", headers=h).status_code == 204
    keys = api.vault.keys
    old_key = keys.source.key_ids()[0]
    result = api.call(keys.rotate)
    assert result.unreadable == []
    assert _run_sql(api, ("SELECT DISTINCT key_id FROM credential_versions",)) == [
        (keys.source.key_ids()[0],)
    ]
    api.call(keys.retire, old_key)
    assert old_key not in keys.source.key_ids()
    assert api.client.get("/v0/vault/gh?version=1", headers=h).json()["data"]["password"] == "pw-1"
    assert api.client.post("/v0/vault/gone/undelete", headers=h).status_code == 200
    assert api.client.get("/v0/vault/gone", headers=h).json()["data"]["password"] == "pw-2"
