"""Destroy leaves no ciphertext of any version in the SQLite files once the WAL is
checkpointed (secure_delete zeroes the freed pages; until a checkpoint the WAL
still holds the old page images)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.server.app import create_app
from tests.conftest import Api


def test_destroy_then_checkpoint_leaves_no_ciphertext_in_the_files(tmp_path: Path) -> None:
    settings = ServerSettings.load({"data_dir": str(tmp_path / "data")}, env={})
    db = settings.data_dir / "loomal.db"
    app = create_app(settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client=client, settings=settings, app=app)
        h = api.headers()
        for i in range(3):
            body = {"type": "API_KEY", "data": {"key": f"sk-live-{i}-" + "x" * 40}}
            assert client.put("/v0/vault/stripe", json=body, headers=h).is_success
        assert client.delete("/v0/vault/stripe", headers=h).status_code == 204
        with sqlite3.connect(db) as conn:
            sealed = [
                bytes(c) for (c,) in conn.execute("SELECT ciphertext FROM credential_versions")
            ]
        assert len(sealed) == 3
        assert client.delete("/v0/vault/stripe?destroy=true", headers=h).status_code == 204
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no VACUUM needed
    finally:
        conn.close()
    on_disk = b"".join(p.read_bytes() for p in db.parent.glob("loomal.db*") if p.is_file())
    assert on_disk
    for ciphertext in sealed:
        assert ciphertext[:32] not in on_disk
