"""Backup and restore, between and across both stores: every credential keeps its
id, name, version, timestamps and backup codes, every API key keeps working."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from loomal.backup.file_format import BackupReader
from loomal.config import ServerSettings
from tests.backup.vaults import (
    SECRETS,
    admin,
    fill,
    key_args,
    read_all,
    serving,
    store_args,
    store_settings,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, settings: ServerSettings
) -> ServerSettings:
    """An empty store of either kind, whose servers hold the source's key file."""
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        if settings.database_url:  # two fresh schemas: the source's and the target's
            url = request.getfixturevalue("second_postgres_url")
    return store_settings(tmp_path / "restored", url, master_key_file=str(settings.key_file))


def test_restore_keeps_every_credential_and_key(
    settings: ServerSettings, target: ServerSettings, tmp_path: Path
) -> None:
    with serving(settings) as client:
        filled = fill(client)
        key = filled.keys["agent-0"]
        history = client.get("/v0/vault/github-2fa/versions", key).json()  # stored, then popped
        temp = {"type": "LOGIN", "data": {"password": "temp-pw"}}
        assert client.put("/v0/vault/temp", temp, key).status_code == 200
        gone = client.client.delete("/v0/vault/temp", headers={"Authorization": f"Bearer {key}"})
        assert gone.status_code == 204
        file = tmp_path / "vault.backup"
        made = admin("backup", str(file), *store_args(settings))
        assert made.exit_code == 0, made.output
    assert "Backed up 2 identities, 6 credentials, 2 API keys" in made.output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    content = file.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in content
    master = base64.b64decode(settings.key_file.read_text().split()[-1])
    assert master not in content and base64.b64encode(master) not in content

    restored = admin("restore", str(file), *store_args(target), *key_args(target))
    assert restored.exit_code == 0, restored.output
    checked = admin("verify", *store_args(target), *key_args(target))
    assert checked.exit_code == 0, checked.output
    assert "Checked 6 credential(s): 6 open, 0 failed" in checked.output

    with serving(target) as client:
        # kept versions and recoverable deletes come along
        old = client.get("/v0/vault/github-2fa?version=1", key).json()["data"]
        assert old["backupCodes"] == ["abcd-1234", "efgh-5678", "ijkl-9012"]
        assert read_all(client, filled.keys) == filled.seen
        assert len(history["versions"]) == 2  # the store and the pop, kept across a restore
        assert client.get("/v0/vault/github-2fa/versions", key).json() == history
        assert client.post("/v0/vault/temp/undelete", key).status_code == 200
        assert client.get("/v0/vault/temp", key).json()["data"]["password"] == "temp-pw"
        for key in filled.keys.values():  # the keys of before, and backup codes popped in order
            used = client.post("/v0/vault/github-2fa/totp/backup", key)
            assert used.json()["code"] == "efgh-5678"
            stored = client.put("/v0/vault/new", {"type": "API_KEY", "data": {"key": "k"}}, key)
            assert stored.status_code == 200


def test_no_audit_leaves_the_log_and_sessions_out(settings: ServerSettings, tmp_path: Path) -> None:
    with serving(settings) as client:
        fill(client, identities=1)
        client.call(client.vault.flush)
        with_log, without = tmp_path / "a.backup", tmp_path / "b.backup"
        assert admin("backup", str(with_log), *store_args(settings)).exit_code == 0
        assert admin("backup", str(without), "--no-audit", *store_args(settings)).exit_code == 0
    full, bare = BackupReader(with_log), BackupReader(without)
    tables = {t.name for t in full.manifest.tables}
    assert full.manifest.count("audit_events") > 0 and "audit_events" not in {
        t.name for t in bare.manifest.tables
    }
    assert not tables & {"console_sessions", "console_login_links", "platform_sessions"}
    assert full.manifest.key_ids == [_key_id(settings)]
    assert full.manifest.schema_version >= 10
    full.close()
    bare.close()


def _key_id(settings: ServerSettings) -> str:
    from loomal.keyfile import read_key_ids

    return read_key_ids(settings.key_file)[0]


def test_a_non_empty_target_needs_force(settings: ServerSettings, tmp_path: Path) -> None:
    with serving(settings) as client:
        filled = fill(client, identities=1)
        file = tmp_path / "vault.backup"
        assert admin("backup", str(file), *store_args(settings)).exit_code == 0
        later = {"type": "API_KEY", "data": {"key": "x"}}
        assert client.put("/v0/vault/later", later, filled.keys["agent-0"]).status_code == 200
    refused = admin("restore", str(file), *store_args(settings))
    assert refused.exit_code == 1
    assert "is not empty (identities: 1, api_keys: 1, credentials: 4" in refused.output
    assert "--force" in refused.output

    forced = admin("restore", str(file), "--force", *store_args(settings))
    assert forced.exit_code == 0, forced.output
    assert "replacing everything the target holds: 1 identities, 1 api_keys, 4 credentials" in (
        forced.output
    )
    with serving(settings) as client:
        assert read_all(client, filled.keys) == filled.seen
        gone = client.get("/v0/vault/later", filled.keys["agent-0"])
        assert gone.status_code == 404


def test_backup_refuses_to_overwrite_a_file(settings: ServerSettings, tmp_path: Path) -> None:
    with serving(settings):
        pass
    file = tmp_path / "vault.backup"
    file.write_text("keep me")
    refused = admin("backup", str(file), *store_args(settings))
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert file.read_text() == "keep me"
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]
