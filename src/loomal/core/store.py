"""The Store Protocol: what the service needs from a database, nothing more.

Implementations (``loomal.store.sqlite``, ``loomal.store.postgres``) hold rows
and transactions; they never see plaintext and hold no rule of the domain.
Read-modify-write is one call, :meth:`Store.modify_credential`, whose callback
runs inside a write transaction that holds the row (``BEGIN IMMEDIATE`` on
SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), so that concurrent callers on
any number of processes see each other's writes and nothing is lost.

Times are integers: microseconds since the Unix epoch, UTC.

The rows built on every request (a credential read, its audit event) are frozen
msgspec Structs, not frozen dataclasses: a frozen dataclass sets each field
through ``object.__setattr__``, ~1.7 µs for a credential row against ~0.1 µs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from loomal.core.crypto import Binding, SealedData
from loomal.core.oauth_store import OAuthStore
from loomal.core.platform_store import PlatformStore
from loomal.core.rules_store import RulesStore
from loomal.core.version_store import DeletionNote, VersionNote, VersionStore

__all__ = [
    "ApiKeyRow",
    "AuditEvent",
    "ConsoleSessionRow",
    "CredentialListing",
    "CredentialRow",
    "IdentityRow",
    "LoginLinkRow",
    "Store",
]

T = TypeVar("T")


class CredentialListing(msgspec.Struct, frozen=True):
    """What a list shows of a credential row: no key id, wrapped key, nonce or
    ciphertext, which a list never opens. Reading those columns too cost about a
    third of a 100-row page here (the blobs become Python bytes for nothing)."""

    credential_id: str
    name: str
    type: str
    metadata_json: bytes
    expires_at: int | None
    created_at: int
    updated_at: int
    last_used_at: int | None
    last_rotated_at: int | None
    """When an overwrite last changed ``data`` (None: never since creation)."""
    version: int
    """1 when created; every write (an overwrite, a backup-code pop) adds one."""

    def __repr__(self) -> str:
        return f"CredentialListing(credential_id={self.credential_id!r}, name={self.name!r})"


class CredentialRow(CredentialListing, frozen=True):
    """The whole stored row: the listing's fields, then the sealed data."""

    identity_id: str
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"CredentialRow(credential_id={self.credential_id!r}, name={self.name!r})"

    @classmethod
    def from_sealed(
        cls,
        sealed: SealedData,
        binding: Binding,
        *,
        created_at: int,
        updated_at: int,
        last_used_at: int | None,
        last_rotated_at: int | None,
    ) -> CredentialRow:
        """The row that stores ``sealed`` under ``binding`` (the inverse of
        :meth:`binding` and :meth:`sealed`)."""
        return cls(
            credential_id=binding.credential_id,
            identity_id=binding.identity_id,
            name=binding.name,
            type=binding.type,
            metadata_json=binding.metadata_json,
            expires_at=binding.expires_at,
            created_at=created_at,
            updated_at=updated_at,
            last_used_at=last_used_at,
            version=binding.version,
            key_id=sealed.key_id,
            wrapped_key=sealed.wrapped_key,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            last_rotated_at=last_rotated_at,
        )

    def binding(self) -> Binding:
        """What this row's ciphertext must be bound to."""
        return Binding(
            self.identity_id,
            self.credential_id,
            self.name,
            self.version,
            self.type,
            self.metadata_json,
            self.expires_at,
        )

    def sealed(self) -> SealedData:
        return SealedData(self.key_id, self.wrapped_key, self.nonce, self.ciphertext)


class AuditEvent(msgspec.Struct, frozen=True):
    """One line of the audit log; ``identity_id`` is whose log it is in."""

    at: int
    identity_id: str | None
    actor_identity_id: str | None
    key_prefix: str | None
    action: str
    credential_name: str | None
    outcome: str
    client: str | None
    detail: str | None = None
    """A brokered request's method, host, path, status and duration; never a secret."""
    count: int = 1
    """How many requests the event stands for: refused authentications from one
    address are written as one event per window (see ``AuditLog.note_refusal``)."""
    key_label: str | None = None
    """The label of the key that acted (an identity key's, or a platform key's name)."""
    operator: str | None = None
    """Server-host commands: the OS user who ran them (no key acted)."""

    def values(self) -> tuple[object, ...]:
        """The fields in order, as AUDIT_COLUMNS lists them (``count`` is ``occurrences``)."""
        return msgspec.structs.astuple(self)


@dataclass(frozen=True, slots=True)
class IdentityRow:
    identity_id: str
    name: str
    created_at: int
    usage_count: int = 0
    """Authenticated requests, as last flushed (see ``record_identity_usage``)."""
    last_used_at: int | None = None
    purpose: str = "BUYER"
    """BUYER or SELLER: the platform API stores and shows it; nothing here depends on it."""


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    key_hash: bytes
    identity_id: str
    prefix: str
    scopes: str
    """Space-separated scope names."""
    created_at: int
    expires_at: int | None
    revoked_at: int | None
    label: str | None = None
    """Who holds the key ("billing-bot"): shown beside its prefix; never a secret."""

    def __repr__(self) -> str:
        return f"ApiKeyRow(prefix={self.prefix!r}, identity_id={self.identity_id!r})"


@dataclass(frozen=True, slots=True)
class ConsoleSessionRow:
    """A web console session; the store holds only the hash of its id."""

    session_hash: bytes
    identity_id: str
    identity_name: str
    key_hash: bytes | None
    """The API key it was opened with; None when a sign-in link opened it."""
    scopes: str | None
    """Space-separated upper bound on its rights; None: the live keys' scopes."""
    created_at: int
    last_seen_at: int
    expires_at: int

    def __repr__(self) -> str:
        return f"ConsoleSessionRow(identity_name={self.identity_name!r})"


@dataclass(frozen=True, slots=True)
class LoginLinkRow:
    """A one-time console sign-in link; the store holds only the hash of its token."""

    token_hash: bytes
    identity_id: str
    identity_name: str
    scopes: str | None
    created_at: int
    expires_at: int

    def __repr__(self) -> str:
        return f"LoginLinkRow(identity_name={self.identity_name!r})"


class Store(PlatformStore, VersionStore, RulesStore, OAuthStore, Protocol):
    """Persistence for identities, API keys and sealed credentials (and platform keys)."""

    async def close(self) -> None: ...

    # credentials -------------------------------------------------------
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
        """Run ``change`` on the current row (or None) inside one write
        transaction and store the row it returns, with ``audit`` in the same
        transaction. If ``change`` raises, nothing is written and the exception
        propagates.

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

    async def identities_owning(self, *, name: str, except_identity: str) -> list[str]:
        """Other identities that hold a credential with this name (for their audit logs)."""
        ...

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

    async def ping(self) -> None:
        """A cheap query that fails if the database cannot answer (health checks)."""
        ...

    async def record_last_used(self, *, last_used: Mapping[str, int]) -> None:
        """Set ``last_used_at`` by credential id, never moving it backwards."""
        ...

    async def count_credentials(self, *, identity_id: str) -> int: ...

    # identities and API keys --------------------------------------------
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

    async def revoke_api_keys(
        self, *, identity_id: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        """Revoke every live key of an identity, or the key with this prefix."""
        ...

    async def expire_api_keys(self, *, identity_id: str, at: int, keep: bytes) -> int:
        """Make every live key of the identity but ``keep`` expire at ``at`` (or sooner)."""
        ...

    async def count_identities(self) -> int: ...

    # master keys ----------------------------------------------------------
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

    # web console -------------------------------------------------------------
    async def list_api_keys(self, *, identity_id: str) -> list[ApiKeyRow]:
        """Every key of the identity, live or not."""
        ...

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
