"""The rows a store holds, as the core sees them (``core/ports.py`` says what a
store must do with them).

Times are integers: microseconds since the Unix epoch, UTC.

The rows built on every request (a credential read, its audit event) are frozen
msgspec Structs, not frozen dataclasses: a frozen dataclass sets each field
through ``object.__setattr__``, ~1.7 µs for a credential row against ~0.1 µs.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from loomal.core.crypto import Binding, SealedData

__all__ = [
    "ApiKeyRow",
    "AuditEvent",
    "ConsoleSessionRow",
    "CredentialListing",
    "CredentialRow",
    "IdentityRow",
    "LoginLinkRow",
]


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
