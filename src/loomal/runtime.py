"""Opens a vault from settings: store, keyring and the core services over them.

Shared by ``loomal serve`` (each worker), ``loomal identity`` and ``loomal admin``
so that every command reaches the same store the same way.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from loomal.config import ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.crypto import Keyring
from loomal.core.egress import EgressPolicy
from loomal.core.identities import IdentityService
from loomal.core.limits import FailureThrottle, KeyRateLimiter
from loomal.core.service import VaultService
from loomal.core.store import Store
from loomal.errors import ValidationError
from loomal.keyfile import KeyFileWatcher, MasterKeySource, load_keyring, read_key_file
from loomal.unseal_agent import AgentKeySource

__all__ = [
    "Vault",
    "check_keys_open_store",
    "check_store_keys",
    "open_identities",
    "open_store",
    "open_vault",
    "store_session",
]


@dataclass(slots=True)
class Vault:
    settings: ServerSettings
    store: Store
    keyring: Keyring
    key_source: MasterKeySource
    service: VaultService
    identities: IdentityService

    async def close(self) -> None:
        try:
            await self.service.flush()
            await self.identities.flush_usage()
        finally:
            await self.store.close()


async def open_store(settings: ServerSettings) -> Store:
    if settings.database_url:
        from loomal.store.postgres import PostgresStore

        return await PostgresStore.open(settings.database_url)
    from loomal.store.sqlite import SqliteStore

    return await SqliteStore.open(settings.data_dir / "loomal.db")


@asynccontextmanager
async def store_session(settings: ServerSettings) -> AsyncIterator[Store]:
    """An open store for one command's work, closed however that ends."""
    store = await open_store(settings)
    try:
        yield store
    finally:
        await store.close()


async def open_vault(
    settings: ServerSettings, *, create_key: bool = True, env: Mapping[str, str] | None = None
) -> Vault:
    """Open the store and the keyring, and refuse a key that cannot read the store.

    A worker of a ``loomal serve`` whose key file is sealed gets its keys from
    the parent's unseal agent instead, and may start sealed.
    """
    env = os.environ if env is None else env
    agent = AgentKeySource.from_env(settings.unseal_socket_path, env)
    reload_keyring: Callable[[bool], Keyring | None] | None = None
    if agent is not None:
        keyring: Keyring = agent.keyring()
        source = MasterKeySource(f"sealed key file, unsealed through {agent.socket_path}")
        reload_keyring = agent.reload_if_changed
    else:
        keyring, source = load_keyring(
            data_dir=settings.data_dir,
            key_file=settings.master_key_file,
            env=env,
            create=create_key,
        )
        if source.path is not None:
            watcher = KeyFileWatcher(source.path, read_key_file)
            reload_keyring = lambda force: watcher.reload_if_changed(force=force)  # noqa: E731
    store = await open_store(settings)
    try:
        if not keyring.sealed:
            await check_keys_open_store(store, keyring.key_ids, source.description)
    except BaseException:
        await store.close()
        raise
    audit = AuditLog(store)
    return Vault(
        settings=settings,
        store=store,
        keyring=keyring,
        key_source=source,
        service=VaultService(
            store,
            keyring,
            max_credentials_per_identity=settings.max_credentials_per_identity,
            reload_keyring=reload_keyring,
            audit=audit,
            egress=EgressPolicy(settings.fetch_allow_private),
        ),
        identities=open_identities(store, settings, audit),
    )


def open_identities(store: Store, settings: ServerSettings, audit: AuditLog) -> IdentityService:
    return IdentityService(
        store,
        cache_seconds=settings.auth_cache_seconds,
        failure_throttle=FailureThrottle(limit=settings.auth_failure_limit),
        key_rate_limiter=KeyRateLimiter(rate=settings.key_rate_limit),
        audit=audit,
    )


async def check_store_keys(settings: ServerSettings, key_ids: frozenset[str]) -> None:
    """:func:`check_keys_open_store` on its own connection (an unseal, in the parent)."""
    async with store_session(settings) as store:
        await check_keys_open_store(store, key_ids, f"sealed key file {settings.key_file}")


async def check_keys_open_store(store: Store, key_ids: frozenset[str], where: str) -> None:
    """Refuse keys that lack one the store's credentials are wrapped by."""
    missing = await store.master_key_ids() - key_ids
    if missing:
        raise ValidationError(
            "This store holds credentials wrapped by master key(s) "
            f"{', '.join(sorted(missing))}, which the configured key ({where}) does not "
            "include. Set LOOMAL_MASTER_KEY or LOOMAL_MASTER_KEY_FILE to the right key."
        )
