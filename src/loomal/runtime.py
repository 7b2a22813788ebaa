"""Opens a vault from settings: store, keyring and the core services over them.

Shared by ``loomal serve`` (each worker), ``loomal identity`` and ``loomal admin``
so that every command reaches the same store the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from loomal.config import ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.crypto import Keyring
from loomal.core.identities import IdentityService
from loomal.core.limits import FailureThrottle, KeyRateLimiter
from loomal.core.service import VaultService
from loomal.core.store import Store
from loomal.errors import ValidationError
from loomal.keyfile import KeyFileWatcher, MasterKeySource, load_keyring

__all__ = ["Vault", "open_store", "open_vault"]


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
        finally:
            await self.store.close()


async def open_store(settings: ServerSettings) -> Store:
    if settings.database_url:
        from loomal.store.postgres import PostgresStore

        return await PostgresStore.open(settings.database_url)
    from loomal.store.sqlite import SqliteStore

    return await SqliteStore.open(settings.data_dir / "loomal.db")


async def open_vault(
    settings: ServerSettings, *, create_key: bool = True, env: Mapping[str, str] | None = None
) -> Vault:
    """Open the store and the keyring, and refuse a key that cannot read the store."""
    keyring, source = load_keyring(
        data_dir=settings.data_dir,
        key_file=settings.master_key_file,
        env=os.environ if env is None else env,
        create=create_key,
    )
    store = await open_store(settings)
    try:
        missing = await store.master_key_ids() - keyring.key_ids
        if missing:
            raise ValidationError(
                "This store holds credentials wrapped by master key(s) "
                f"{', '.join(sorted(missing))}, which the configured key ({source.description}) "
                "does not include. Set LOOMAL_MASTER_KEY or LOOMAL_MASTER_KEY_FILE to the right "
                "key."
            )
    except BaseException:
        await store.close()
        raise
    watcher = KeyFileWatcher(source.path) if source.path is not None else None
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
            reload_keyring=(
                None if watcher is None else lambda force: watcher.reload_if_changed(force=force)
            ),
            audit=audit,
        ),
        identities=IdentityService(
            store,
            cache_seconds=settings.auth_cache_seconds,
            failure_throttle=FailureThrottle(limit=settings.auth_failure_limit),
            key_rate_limiter=KeyRateLimiter(rate=settings.key_rate_limit),
            audit=audit,
        ),
    )
