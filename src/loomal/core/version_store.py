"""What the stores keep of a credential's past, and the slice of the Store they
implement for it (:class:`VersionStore`).

Every write of a credential stores a copy of the row it wrote, sealed exactly as
the current row is (same data key, same binding, so a version's ciphertext is
bound to its version number), with who wrote it and how. A delete leaves a
tombstone beside those copies; the stores never decide what to keep: the core
hands them a :class:`VersionNote` (how many to keep) with each write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from loomal.core.crypto import Binding, SealedData

if TYPE_CHECKING:
    from loomal.core.store import AuditEvent

__all__ = [
    "TOMBSTONE_COLUMNS",
    "VERSION_COLUMNS",
    "DeletionNote",
    "TombstoneRow",
    "VersionNote",
    "VersionRow",
    "VersionStore",
]

VERSION_COLUMNS = (  # VersionRow's fields, in order
    "credential_id, version, identity_id, name, type, metadata, expires_at, written_at, "
    "written_by, write_kind, key_id, wrapped_key, nonce, ciphertext"
)
TOMBSTONE_COLUMNS = (  # TombstoneRow's fields, in order
    "credential_id, identity_id, name, type, version, created_at, deleted_at, deleted_by"
)


class VersionRow(msgspec.Struct, frozen=True):
    """One kept version of a credential: its binding, who wrote it, its sealed data."""

    credential_id: str
    version: int
    identity_id: str
    name: str
    type: str
    metadata_json: bytes
    expires_at: int | None
    written_at: int
    written_by: str | None
    """The writing key's label and prefix ("billing-bot (loid-AbCd1234)"), never a key."""
    write_kind: str
    """store, overwrite, edit, restore, undelete, backup_code."""
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:
        return f"VersionRow(credential_id={self.credential_id!r}, version={self.version})"

    def binding(self) -> Binding:
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


class VersionNote(msgspec.Struct, frozen=True):
    """What a write adds to the history, decided by the core."""

    kind: str
    written_by: str | None
    written_at: int
    keep: int
    """Versions of the credential kept after this write, this one included."""
    revives: str | None = None
    """An undelete: the credential id whose tombstone this write removes (the write
    fails with NotFoundError if the tombstone is gone: undeleted meanwhile)."""


class DeletionNote(msgspec.Struct, frozen=True):
    deleted_at: int
    deleted_by: str | None


class TombstoneRow(msgspec.Struct, frozen=True):
    """A deleted credential, recoverable until it is destroyed."""

    credential_id: str
    identity_id: str
    name: str
    type: str
    version: int
    """Its last version (the one an undelete brings back)."""
    created_at: int
    deleted_at: int
    deleted_by: str | None


class VersionStore(Protocol):
    """Reads and destroys of history; writes happen inside ``modify_credential``
    (``version_note``) and ``delete_credential`` (``deletion``)."""

    async def list_versions(self, *, identity_id: str, credential_id: str) -> list[VersionRow]:
        """Kept versions, newest first."""
        ...

    async def get_version(
        self, *, identity_id: str, credential_id: str, version: int
    ) -> VersionRow | None: ...

    async def list_deleted(self, *, identity_id: str) -> list[TombstoneRow]:
        """Tombstones, most recently deleted first."""
        ...

    async def find_deleted(self, *, identity_id: str, name: str) -> TombstoneRow | None:
        """The most recently deleted credential that had this name."""
        ...

    async def destroy_credential(
        self, *, identity_id: str, name: str, audit: AuditEvent | None = None
    ) -> int:
        """Remove the credential named ``name`` and every deleted one that had that
        name, with all their versions, in one transaction; how many credentials."""
        ...

    async def versions_wrapped_by_other_keys(
        self, *, key_id: str, limit: int, after: tuple[str, int] | None = None
    ) -> list[VersionRow]:
        """Up to ``limit`` kept versions (deleted credentials' included) whose data
        key is not wrapped by ``key_id``, in (credential id, version) order after ``after``."""
        ...

    async def replace_version_wrapped_key(
        self, *, credential_id: str, version: int, old_key_id: str, key_id: str, wrapped_key: bytes
    ) -> bool:
        """Swap a version's wrapped data key if it is still under ``old_key_id``."""
        ...

    async def count_versions_by_key_id(self) -> dict[str, int]:
        """How many kept versions each master key wraps."""
        ...

    async def destroy_deleted_before(self, *, before: int, limit: int) -> int:
        """Destroy up to ``limit`` tombstoned credentials deleted before ``before``
        (their versions with them); how many."""
        ...
