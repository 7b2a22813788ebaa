"""The store's ports: what each part of the core needs from a database, one small
protocol per role, so that a service depends on its slice only and a test can
run it on a small in-memory fake of that one port.

Implementations (``loomal.store.sqlite``, ``loomal.store.postgres``, both over
``loomal.store.sql``) hold rows and transactions; they never see plaintext.
Rules are decided in the core (the credential limit:
``loomal.core.limits.check_credential_limit``) and enforced atomically by the
store's primitive: read-modify-write is one call, :meth:`CredentialStore.modify_credential`,
whose result is written only over the row its callback saw (SQLite: the
callback runs inside ``BEGIN IMMEDIATE``; PostgreSQL: one statement writes it if
that row is still current, checked under the row lock, else the callback runs
again on the current row), so that concurrent callers on any number of processes see
each other's writes and nothing is lost.

The rows themselves are in ``loomal.core.rows`` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from loomal.core.access_request_store import AccessRequestStore
from loomal.core.crypto import SealedData
from loomal.core.oauth_store import OAuthStore
from loomal.core.outbox_store import OutboxStore
from loomal.core.platform_store import PlatformStore
from loomal.core.rows import (
    ApiKeyRow,
    AuditEvent,
    ConsoleSessionRow,
    CredentialListing,
    CredentialRow,
    IdentityRow,
    LoginLinkRow,
)
from loomal.core.rules_store import RulesStore
from loomal.core.version_store import DeletionNote, VersionNote, VersionRow, VersionStore

__all__ = [
    "ApiKeyRow",
    "AuditEvent",
    "AuditStore",
    "ConsoleSessionRow",
    "ConsoleSessionStore",
    "CredentialListing",
    "CredentialRow",
    "CredentialStore",
    "IdentityRow",
    "IdentityStore",
    "KeyLedger",
    "LoginLinkRow",
    "PlatformStore",
    "Store",
    "VersionStore",
    "VersionedCredentialStore",
]

T = TypeVar("T")


class CredentialStore(Protocol):
    """Sealed credentials: what ``VaultService`` needs."""

    async def get_credential(self, *, identity_id: str, name: str) -> CredentialRow | None: ...

    async def list_credentials(
        self, *, identity_id: str, after_name: str | None, limit: int
    ) -> list[CredentialListing]:
        """Rows ordered by name, strictly after ``after_name``, without their secrets."""
        ...

    async def modify_credential(
        self,
        *,
        identity_id: str,
        name: str,
        change: Callable[[CredentialRow | None], tuple[CredentialRow, T]],
        audit: AuditEvent | None = None,
        max_credentials: int | None = None,
        version_note: VersionNote | None = None,
    ) -> T:
        """Run ``change`` on the current row (or None) and store the row it
        returns, with ``audit``, atomically: what is written was computed from
        the row it replaces. If ``change`` raises on the current row, nothing is
        written and the exception propagates. ``change`` may be called more
        than once (PostgreSQL runs it first on the row it last saw, and keeps
        that result only if that row is still the current one), so it must have
        no effect but its result.

        With ``max_credentials``, a create (no current row) first counts the
        identity's credentials in the same transaction, serialised against the
        identity's other creates, and refuses through
        :func:`loomal.core.limits.check_credential_limit`.

        With ``version_note``, the new row is kept as a version too and versions
        beyond ``version_note.keep`` are destroyed, in the same transaction."""
        ...

    async def delete_credential(
        self,
        *,
        identity_id: str,
        name: str,
        audit: AuditEvent | None = None,
        deletion: DeletionNote | None = None,
    ) -> bool:
        """Delete, and record ``audit`` in the same transaction if a row was deleted.
        With ``deletion`` the credential leaves a tombstone and keeps its versions
        (recoverable); without, its versions go with it."""
        ...

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        """Set ``last_used_at`` by credential id, never moving it backwards."""
        ...

    async def count_credentials(self, *, identity_id: str) -> int: ...


class AuditStore(Protocol):
    """The audit log's rows: what ``AuditLog`` needs."""

    async def append_audit_events(self, *, events: Sequence[AuditEvent]) -> None: ...

    async def list_audit_events(
        self,
        *,
        identity_id: str | None,
        action: str | None,
        before: int | None,
        limit: int,
        since: int | None = None,
        until: int | None = None,
    ) -> list[tuple[int, AuditEvent]]:
        """Newest first by event id (the order events were written), with their ids;
        ``before`` is the id of the last event of the previous page; only events
        with ``since`` <= at < ``until`` (either may be None)."""
        ...

    async def prune_audit_events(self, *, before: int, limit: int) -> int:
        """Delete up to ``limit`` events older than ``before`` (one short transaction);
        returns how many."""
        ...

    async def identities_owning(self, *, name: str, except_identity: str) -> list[str]:
        """Other identities that hold a credential with this name (for their audit logs)."""
        ...


class IdentityStore(Protocol):
    """Identities and their API keys: what ``IdentityService`` needs."""

    async def create_identity(self, *, identity: IdentityRow, api_key: ApiKeyRow) -> None:
        """Raise ConflictError(code="identity_exists") if the name is taken."""
        ...

    async def add_api_key(self, *, api_key: ApiKeyRow) -> None: ...

    async def find_api_key(self, *, key_hash: bytes) -> ApiKeyRow | None: ...

    async def get_identity(self, *, name: str) -> IdentityRow | None: ...

    async def get_identity_by_id(self, *, identity_id: str) -> IdentityRow | None:
        """With its usage count and last use."""
        ...

    async def record_identity_usage(self, *, usage: Mapping[str, tuple[int, int]]) -> None:
        """Add ``count`` to each identity's usage and move ``last_used_at`` forward to ``at``
        (``usage``: identity id -> (count, at))."""
        ...

    async def list_identities(self) -> Sequence[tuple[IdentityRow, Sequence[ApiKeyRow]]]: ...

    async def list_api_keys(self, *, identity_id: str) -> list[ApiKeyRow]:
        """Every key of the identity, live or not."""
        ...

    async def revoke_api_keys(
        self, *, identity_id: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        """Revoke every live key of an identity, or the key with this prefix."""
        ...

    async def expire_api_keys(self, *, identity_id: str, at: int, keep: bytes) -> int:
        """Make every live key of the identity but ``keep`` expire at ``at`` (or sooner)."""
        ...

    async def count_identities(self) -> int: ...


class KeyLedger(Protocol):
    """What the store records of the master keys, and the rows a rotation rewraps:
    what ``KeyManager`` and ``core/rotation.py`` need (``list_identities``: to name
    the owners of rows a rotation cannot read)."""

    async def master_key_ids(self) -> set[str]:
        """Ids of every master key that wraps at least one stored data key."""
        ...

    async def add_key_wraps(self, *, counts: Mapping[str, int]) -> None:
        """Add to each master key's count of wrapped data keys."""
        ...

    async def key_wraps(self) -> dict[str, int]: ...

    async def count_by_key_id(self) -> dict[str, int]:
        """How many credentials each master key wraps."""
        ...

    async def rows_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        """Up to ``limit`` credentials whose data key is not wrapped by ``key_id``,
        in credential-id order, strictly after the credential id ``after``."""
        ...

    async def replace_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        """Swap the wrapped data key if the row is still at ``version`` under
        ``old_key_id`` (a concurrent write wins; the caller retries later)."""
        ...

    async def rows_sealed_in_format_1(
        self, *, limit: int, after: str | None = None
    ) -> list[CredentialRow]:
        """Rows whose nonce is the bare 12 bytes of storage format 1 (see
        :mod:`loomal.core.crypto`), in credential-id order after ``after``."""
        ...

    async def replace_sealed(
        self, *, credential_id: str, version: int, old_nonce: bytes, sealed: SealedData
    ) -> bool:
        """Swap the sealed columns if the row is still at ``version`` with
        ``old_nonce`` (a concurrent write wins; it sealed the row itself)."""
        ...

    async def claim_master_key(self, *, key_id: str, at: int) -> str:
        """Record ``key_id`` as the store's master key unless one is recorded, in one
        atomic step (of servers starting together on an empty store, the first
        wins); returns the recorded key id."""
        ...

    async def move_master_key(self, *, key_id: str, at: int) -> None:
        """Record ``key_id`` as the store's master key (a rotation's new primary)."""
        ...

    async def recorded_master_key(self) -> str | None: ...

    async def list_identities(self) -> Sequence[tuple[IdentityRow, Sequence[ApiKeyRow]]]: ...

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        """Kept versions whose data key is not wrapped by ``key_id`` (as VersionStore)."""
        ...

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool: ...

    async def count_versions_by_key_id(self) -> dict[str, int]: ...


class ConsoleSessionStore(Protocol):
    """The web console's sessions and sign-in links."""

    async def create_console_session(self, *, session: ConsoleSessionRow, now: int) -> None:
        """Store ``session``, and drop sessions that expired before ``now``."""
        ...

    async def get_console_session(self, *, session_hash: bytes) -> ConsoleSessionRow | None: ...

    async def touch_console_session(self, *, session_hash: bytes, last_seen_at: int) -> None: ...

    async def delete_console_session(self, *, session_hash: bytes) -> None: ...

    async def create_login_link(self, *, link: LoginLinkRow, now: int) -> None:
        """Store ``link``, and drop links that expired before ``now``."""
        ...

    async def consume_login_link(self, *, token_hash: bytes, now: int) -> LoginLinkRow | None:
        """Delete the link and return it if it has not expired, in one statement:
        of any number of concurrent callers, at most one gets it."""
        ...


class VersionedCredentialStore(CredentialStore, VersionStore, Protocol):
    """Credentials and their history (kept versions, tombstones): what
    ``VaultService`` and its ``CredentialHistory`` use cases need."""


class Store(
    CredentialStore,
    AuditStore,
    IdentityStore,
    KeyLedger,
    ConsoleSessionStore,
    PlatformStore,
    VersionStore,
    RulesStore,
    AccessRequestStore,
    OAuthStore,
    OutboxStore,
    Protocol,
):
    """The whole store: every role, and its own life (what ``runtime`` opens)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """A cheap query that fails if the database cannot answer (health checks)."""
        ...
