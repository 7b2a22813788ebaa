"""Master-key rotation on both stores: interrupted, resumed, old rows readable throughout."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Api


def test_interrupted_rotation_resumes_and_old_rows_stay_readable(api: Api) -> None:
    from loomal.core.rotation import rewrap_to_primary
    from loomal.keyfile import add_primary_key, read_key_file, remove_key

    headers = api.headers()
    for i in range(30):
        body = {"type": "LOGIN", "data": {"password": f"pw-{i}"}}
        assert api.client.put(f"/v0/vault/c-{i:02d}", json=body, headers=headers).status_code == 200
    key_file = api.settings.data_dir / "master.key"
    old_id = read_key_file(key_file).primary_key_id
    store = api.vault.store
    api.call(api.vault.flush)
    assert api.call(store.key_wraps) == {old_id: 30}  # one wrapped data key per write

    keyring = add_primary_key(key_file)
    assert keyring.primary_key_id != old_id
    moved = api.call(rewrap_to_primary, store, keyring, batch_size=10, max_batches=1)
    assert moved == 10  # interrupted after one batch
    counts = api.call(store.count_by_key_id)
    assert counts == {keyring.primary_key_id: 10, old_id: 20}
    for i in range(30):  # the server never saw the new key: it picks it up on demand
        got = api.client.get(f"/v0/vault/c-{i:02d}", headers=headers)
        assert got.json()["data"] == {"password": f"pw-{i}"}

    assert api.call(rewrap_to_primary, store, keyring, batch_size=7) == 20  # resumed
    assert api.call(store.count_by_key_id) == {keyring.primary_key_id: 30}
    api.vault.keys.refresh()
    api.client.put(
        "/v0/vault/new", json={"type": "LOGIN", "data": {"password": "n"}}, headers=headers
    )
    assert api.call(store.count_by_key_id) == {keyring.primary_key_id: 31}
    api.call(api.vault.flush)
    assert api.call(store.key_wraps) == {old_id: 30, keyring.primary_key_id: 31}  # 30 rewraps + 1

    remove_key(key_file, old_id)
    api.vault.keys.refresh(force=True)
    assert read_key_file(key_file).key_ids == {keyring.primary_key_id}
    for i in range(30):
        assert api.client.get(f"/v0/vault/c-{i:02d}", headers=headers).status_code == 200


def test_server_warns_when_a_master_key_nears_its_wrap_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import loomal.core.keys

    monkeypatch.setattr(loomal.core.keys, "WRAP_WARNING", 5)
    headers = api.headers()
    for i in range(6):
        api.client.put(
            f"/v0/vault/w{i}", json={"type": "LOGIN", "data": {"password": "p"}}, headers=headers
        )
    with caplog.at_level(logging.WARNING, logger="loomal.keys"):
        api.call(api.vault.flush)
    assert "has wrapped 6 data keys; rotate it" in caplog.text
