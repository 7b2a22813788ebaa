"""Helpers for the backup tests: a vault filled over its HTTP API, read back whole,
and the ``loomal admin`` commands run in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from litestar.testing import TestClient

from loomal.cli import main
from loomal.config import ServerSettings
from loomal.runtime import Vault
from loomal.server.app import create_app
from tests.conftest import auth

SECRETS = (
    "sk_live_backup_secret",
    "pw-backup-secret",
    "JBSWY3DPEHPK3PXP",
    "abcd-1234",
    "efgh-5678",
)
CREDENTIALS: dict[str, dict[str, Any]] = {
    "stripe": {
        "type": "API_KEY",
        "data": {"key": "sk_live_backup_secret"},
        "metadata": {"service": "stripe", "allowedHosts": ["api.stripe.com"]},
    },
    "github-login": {
        "type": "LOGIN",
        "data": {"password": "pw-backup-secret"},
        "metadata": {"uri": "https://github.com", "username": "bot"},
        "expiresAt": "2099-01-01T00:00:00Z",
    },
    "github-2fa": {
        "type": "TOTP",
        "data": {
            "secret": "JBSWY3DPEHPK3PXP",
            "backupCodes": ["abcd-1234", "efgh-5678", "ijkl-9012"],
        },
        "metadata": {"issuer": "GitHub"},
    },
}


@dataclass
class Filled:
    keys: dict[str, str]
    """identity name -> its API key"""
    seen: dict[str, dict[str, Any]]
    """identity/credential -> the credential as GET returned it"""


def store_settings(data_dir: Path, database_url: str | None = None, **more: Any) -> ServerSettings:
    return ServerSettings.load(
        {"data_dir": str(data_dir), "database_url": database_url, **more}, env={}
    )


def store_args(settings: ServerSettings) -> list[str]:
    if settings.database_url:
        return ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url]
    return ["--data-dir", str(settings.data_dir)]


def key_args(settings: ServerSettings) -> list[str]:
    """``--master-key-file`` of restore and verify."""
    return ["--master-key-file", str(settings.key_file)]


def admin(*args: str) -> Result:
    """``loomal admin ARGS``, in-process."""
    return CliRunner().invoke(main, ["admin", *args], catch_exceptions=False)


@dataclass
class Served:
    """The app in-process over a store: its HTTP client and its vault."""

    client: TestClient[Any]
    vault: Vault

    def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            return await func(*args, **kwargs)

        return self.client.blocking_portal.call(run)

    def get(self, path: str, key: str) -> Any:
        return self.client.get(path, headers=auth(key))

    def post(self, path: str, key: str) -> Any:
        return self.client.post(path, headers=auth(key))

    def put(self, path: str, body: dict[str, Any], key: str) -> Any:
        return self.client.put(path, json=body, headers=auth(key))


@contextmanager
def serving(settings: ServerSettings) -> Iterator[Served]:
    app = create_app(settings=settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Served(client, app.state.vault)


def fill(served: Served, identities: int = 2) -> Filled:
    """Identities, each with every credential of CREDENTIALS; one backup code used."""
    keys: dict[str, str] = {}
    for n in range(identities):
        created = served.call(
            served.vault.identities.create_identity,
            f"agent-{n}",
            scopes=["vault:read", "vault:write"],
        )
        keys[f"agent-{n}"] = created.api_key
        for name, body in CREDENTIALS.items():
            answer = served.put(f"/v0/vault/{name}", body, created.api_key)
            assert answer.status_code == 200, answer.text
        used = served.post("/v0/vault/github-2fa/totp/backup", created.api_key)
        assert used.status_code == 200, used.text
    return Filled(keys=keys, seen=read_all(served, keys))


def read_all(served: Served, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for identity, key in keys.items():
        for name in CREDENTIALS:
            got = served.get(f"/v0/vault/{name}", key)
            assert got.status_code == 200, got.text
            body = got.json()
            body.pop("lastUsedAt", None)  # the read itself moves it
            seen[f"{identity}/{name}"] = body
    return seen
