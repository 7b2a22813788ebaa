"""Opens a vault from settings: store, master keys and the core services over them.

Shared by ``loomal serve`` (each worker), ``loomal identity`` and ``loomal admin``
so that every command reaches the same store, with the same keys, the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from loomal.broker.addresses import EgressPolicy
from loomal.broker.httpx_transport import HttpxTransport
from loomal.broker.injection import validate_broker_metadata
from loomal.broker.request_gate import RequestGate
from loomal.broker.service import BrokerService
from loomal.broker.transport import Transport
from loomal.config import ServerSettings
from loomal.core.access_requests import AccessRequestService
from loomal.core.approvals import ApprovalService
from loomal.core.audit import AuditLog
from loomal.core.crypto import Keyring
from loomal.core.identities import IdentityService
from loomal.core.keys import KeyManager, KeySource, StaticKeySource, verify_store_keys
from loomal.core.limits import FailureThrottle, KeyRateLimiter
from loomal.core.notifications import Notifications
from loomal.core.oauth_tokens import OAuthRows
from loomal.core.platform import PlatformService
from loomal.core.ports import Store
from loomal.core.reveals import Reveals
from loomal.core.rotation import reseal_format_1
from loomal.core.service import VaultService
from loomal.core.write_behind import Flushable
from loomal.errors import NotFoundError, ValidationError
from loomal.keyfile import KeyFileSource, Passphrase
from loomal.oauth.connect import ConnectFlow
from loomal.oauth.presets import validate_oauth
from loomal.oauth.refresh import TokenRefresher
from loomal.oauth.token_client import TokenClient
from loomal.unseal_agent import AgentKeySource
from loomal.webhooks.delivery import WebhookDelivery
from loomal.webhooks.sender import WebhookSender

__all__ = [
    "RunningVault",
    "check_store_keys",
    "key_session",
    "key_source",
    "open_identities",
    "open_store",
    "open_vault",
    "store_session",
]


log = logging.getLogger("loomal.vault")


@dataclass(slots=True)
class RunningVault:
    settings: ServerSettings
    store: Store
    keys: KeyManager
    service: VaultService
    identities: IdentityService
    broker: BrokerService
    platform: PlatformService
    approvals: ApprovalService
    requests: AccessRequestService
    oauth_connect: ConnectFlow
    audit: AuditLog
    notifications: Notifications
    """Events that need a person, written to the outbox (``emit``)."""
    webhooks: WebhookDelivery | None = None
    """This process's deliverer of those events (None: no ``--webhook-url``);
    :meth:`run_webhooks` is its background loop."""
    buffers: list[Flushable] = field(default_factory=list)
    """Everything held in memory and written behind, in the order it is flushed:
    the runtime is the one owner that flushes them."""

    @property
    def key_source(self) -> KeySource:
        return self.keys.source

    async def flush(self, *, final: bool = False) -> None:
        """Write what the services hold in memory: lastUsedAt, audit events, wrap
        counts, identity usage, refusal counts (aggregates whose window is over;
        all of them when ``final``). Every buffer is tried; the first failure is
        raised after."""
        failure: Exception | None = None
        for buffer in self.buffers:
            try:
                await buffer.flush(final=final)
            except Exception as exc:  # the others still write; this one keeps its values
                failure = failure or exc
        if failure is not None:
            raise failure

    async def run_maintenance(self, interval: float) -> None:
        """The one background loop of a server: every ``interval`` seconds until
        cancelled, adopt changed master keys and flush; on cancel, flush everything."""
        try:
            while True:
                await asyncio.sleep(interval)
                self.keys.refresh()
                try:
                    await self.flush()
                except Exception as exc:  # keep serving; the next tick retries
                    log.error("could not write usage or audit events: %s", type(exc).__name__)
        finally:
            await self.flush(final=True)

    async def run_webhooks(self) -> None:
        """The webhook deliverer's loop (a server's background task, beside
        :meth:`run_maintenance`); returns at once without ``--webhook-url``."""
        if self.webhooks is not None:
            await self.webhooks.run()

    async def close(self) -> None:
        try:
            await self.flush(final=True)
        finally:
            await self.store.close()


async def open_store(settings: ServerSettings, *, create: bool = True) -> Store:
    """The configured store, migrated. Without ``create`` a store that does not exist
    yet is refused, naming where it was looked for: only ``loomal serve`` creates
    one, so a command run from the wrong directory cannot start a second vault."""
    if settings.database_url:
        from loomal.store.postgres import PostgresStore

        return await PostgresStore.open(settings.database_url, create=create)
    from loomal.store.sqlite import SqliteStore

    path = settings.data_dir / "loomal.db"
    if not create and not path.exists():
        raise NotFoundError(
            f"No vault store at {path}. Run this where `loomal serve` runs, or give its "
            "--data-dir (LOOMAL_DATA_DIR) or --database-url (LOOMAL_DATABASE_URL); "
            "only `loomal serve` creates a store.",
            reason="no_store",
        )
    return await SqliteStore.open(path)


@asynccontextmanager
async def store_session(settings: ServerSettings, *, create: bool = False) -> AsyncIterator[Store]:
    """An open store for one command's work, closed however that ends (an existing
    one unless ``create``: see :func:`open_store`)."""
    store = await open_store(settings, create=create)
    try:
        yield store
    finally:
        await store.close()


def key_source(
    settings: ServerSettings,
    *,
    create: bool = False,
    passphrase: Passphrase | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] | None = None,
) -> KeySource:
    """Where this process's master keys come from: a worker of a server whose key
    file is sealed asks its parent's unseal agent (``env`` holds the token), else
    ``LOOMAL_MASTER_KEY``, else the key file (generated on first start of the
    default one, with ``create``)."""
    agent = AgentKeySource.from_env(
        settings.unseal_socket_path, env or {}, clock=clock or time.monotonic
    )
    if agent is not None:
        return agent
    if settings.master_key is not None:
        return StaticKeySource(Keyring.from_keys(settings.master_key))
    return KeyFileSource(
        settings.key_file, passphrase, create=create and settings.master_key_file is None
    )


async def open_vault(
    settings: ServerSettings,
    *,
    create_key: bool = True,
    env: Mapping[str, str] | None = None,
    transport: Transport | None = None,
    clock: Callable[[], float] | None = None,
) -> RunningVault:
    """Open the store and the master keys, and refuse keys that cannot read the store.

    A worker of a ``loomal serve`` whose key file is sealed gets its keys from
    the parent's unseal agent instead, and may start sealed. ``transport``: where
    brokered requests and OAuth token requests go (tests give a fake upstream;
    default: the network). ``clock``: seconds, for every part that tells time
    (timestamps, token expiry, windows, throttles, request rules' budget windows
    and approvals); tests move a fake one instead of sleeping. Default: each
    part's own (the wall clock for timestamps, a monotonic one for intervals).
    """
    wall, steady = clock or time.time, clock or time.monotonic
    store = await open_store(settings)
    try:
        if create_key and settings.master_key is None and not settings.key_file.exists():
            await refuse_new_key_beside_data(store, settings.key_file)
        source = key_source(
            settings, create=create_key, env=os.environ if env is None else env, clock=clock
        )
        keys = KeyManager(source, store, clock=wall)
        await keys.check_store()
        if keys.keyring is not None:  # sealed: at the next start with the keys
            await reseal_format_1(store, keys.keyring)
    except BaseException:
        await store.close()
        raise
    audit = AuditLog(store, clock=wall)
    transport = transport or HttpxTransport()
    policy = EgressPolicy(settings.fetch_allow_private)
    token_client = TokenClient(transport, policy)
    oauth_rows = OAuthRows(store, keys, audit, wall)
    refresher = TokenRefresher(oauth_rows, store, token_client, clock=wall)
    notifications = Notifications(
        store,
        audit,
        enabled=settings.webhook_url is not None,
        public_url=settings.browser_url,
        clock=wall,
    )
    service = VaultService(
        store,
        keys,
        clock=wall,
        max_credentials_per_identity=settings.max_credentials_per_identity,
        audit=audit,
        metadata_checks=[validate_broker_metadata],
        max_versions=settings.max_versions,
        deleted_retention_days=settings.deleted_retention_days,
        type_checks={"OAUTH": validate_oauth},
        live_tokens=refresher,
        reveals=Reveals(
            store, public_url=settings.public_url, clock=wall, notifications=notifications
        ),
    )
    oauth_rows.version_note = service.version_note
    identities = open_identities(store, settings, audit, clock=clock)
    webhooks = None
    if settings.webhook_url is not None and settings.webhook_secret is not None:
        sender = WebhookSender(settings.webhook_url, transport, policy)
        webhooks = WebhookDelivery(notifications, sender, settings.webhook_secret)
    buffers: list[Flushable] = [
        audit,  # first: a change's own event is written in its transaction, after these
        service.last_used,
        keys.wraps,
        identities.usage,
        identities.refusals,
        audit.owner_copies,
    ]
    return RunningVault(
        settings=settings,
        store=store,
        keys=keys,
        service=service,
        identities=identities,
        broker=BrokerService(
            service,
            audit,
            transport,
            policy=policy,
            guard=keys.require_unsealed,
            clock=steady,
            gate=RequestGate(
                store, public_url=settings.public_url, clock=wall, notifications=notifications
            ),
        ),
        platform=PlatformService(
            store, identities, audit=audit, cache_seconds=settings.auth_cache_seconds, clock=wall
        ),
        approvals=ApprovalService(store, audit, public_url=settings.public_url, clock=wall),
        requests=AccessRequestService(
            store,
            service,
            audit,
            public_url=settings.public_url,
            clock=wall,
            metadata_checks=[validate_broker_metadata],
            on_created=notifications.request_created,
        ),
        oauth_connect=ConnectFlow(
            store, keys, service, token_client, public_url=settings.browser_url, clock=wall
        ),
        audit=audit,
        notifications=notifications,
        webhooks=webhooks,
        buffers=buffers,
    )


async def refuse_new_key_beside_data(store: Store, key_file: Path) -> None:
    """Refuse to generate a master key for a store that already holds data: a new
    key cannot read it, and a fresh key file there would hide the real loss (a
    key file deleted or not restored) behind a key-mismatch error."""
    recorded = await store.recorded_master_key()
    needed = [recorded] if recorded else sorted(await store.master_key_ids())
    if needed:
        when = " (recorded when its first server started)" if recorded else ""
        raise ValidationError(
            f"The master key file {key_file} is missing, but this store already holds a "
            f"vault: its data can only be read with the key it was created with "
            f"({', '.join(needed)}){when}; a new key was not generated. Restore the key file "
            f"from your backup to {key_file} (chmod 600), or point LOOMAL_MASTER_KEY_FILE (or "
            "LOOMAL_MASTER_KEY) at it; if other servers use this store, give this one their "
            "key file. Without that key the stored credentials cannot be recovered."
        )


@asynccontextmanager
async def key_session(
    settings: ServerSettings, passphrase: Passphrase | None = None
) -> AsyncIterator[KeyManager]:
    """The configured master keys over an open store, for one ``loomal admin``
    command (never through an unseal agent: the operator holds the file)."""
    async with store_session(settings) as store:  # first: a missing store is the likelier slip
        yield KeyManager(key_source(settings, passphrase=passphrase), store)


def open_identities(
    store: Store,
    settings: ServerSettings,
    audit: AuditLog,
    *,
    clock: Callable[[], float] | None = None,
) -> IdentityService:
    steady = clock or time.monotonic
    return IdentityService(
        store,
        cache_seconds=settings.auth_cache_seconds,
        failure_throttle=FailureThrottle(limit=settings.auth_failure_limit, clock=steady),
        key_rate_limiter=KeyRateLimiter(rate=settings.key_rate_limit, clock=steady),
        audit=audit,
        clock=clock or time.time,
    )


async def check_store_keys(settings: ServerSettings, key_ids: Sequence[str]) -> None:
    """Refuse unsealed keys (ids, primary first) that cannot read the store: the
    unseal agent's check, in the parent, on its own connection (at a first start,
    before the store exists)."""
    async with store_session(settings, create=True) as store:
        await verify_store_keys(store, list(key_ids), f"sealed key file {settings.key_file}")
