"""What the platform service needs of a store beyond identities and keys:
platform keys, a page of identities, renaming, re-scoping and deleting one, and
the console sessions opened with a platform key. Both stores implement it
(``store/sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from loomal.core.ports import IdentityRow

__all__ = ["PlatformKeyRow", "PlatformSessionRow", "PlatformStore"]


@dataclass(frozen=True, slots=True)
class PlatformKeyRow:
    key_hash: bytes
    name: str
    """Who or what holds it (an operator's label, not unique)."""
    prefix: str
    created_at: int
    revoked_at: int | None

    def __repr__(self) -> str:
        return f"PlatformKeyRow(name={self.name!r}, prefix={self.prefix!r})"


@dataclass(frozen=True, slots=True)
class PlatformSessionRow:
    """A console session opened with a platform key; the store holds only the hash
    of its id and of the key (the session ends with the key: ON DELETE CASCADE, and
    a revoked key is refused on every request)."""

    session_hash: bytes
    key_hash: bytes
    created_at: int
    last_seen_at: int
    expires_at: int

    def __repr__(self) -> str:
        return "PlatformSessionRow(...)"


class PlatformStore(Protocol):
    async def create_platform_key(self, *, key: PlatformKeyRow) -> None: ...

    async def find_platform_key(self, *, key_hash: bytes) -> PlatformKeyRow | None: ...

    async def list_platform_keys(self) -> list[PlatformKeyRow]: ...

    async def revoke_platform_keys(
        self, *, name: str | None = None, prefix: str | None = None, at: int
    ) -> int:
        """Revoke the live keys with this name (all of them) or this display prefix."""
        ...

    async def page_identities(
        self, *, after: tuple[int, str] | None, limit: int
    ) -> list[IdentityRow]:
        """Identities by (created_at, identity_id), strictly after ``after``."""
        ...

    async def rename_identity(self, *, identity_id: str, name: str) -> bool:
        """False if there is no such identity; ConflictError(identity_exists) if the name
        is taken."""
        ...

    async def set_api_key_scopes(self, *, identity_id: str, scopes: str) -> int:
        """Give every unrevoked key of the identity these (space-separated) scopes."""
        ...

    async def delete_identity(self, *, identity_id: str) -> bool:
        """The identity, its keys, credentials and console sessions, in one transaction
        (the audit trail stays); False if there was none."""
        ...

    async def create_platform_session(self, *, session: PlatformSessionRow, now: int) -> None:
        """Store ``session``, and drop platform sessions that expired before ``now``."""
        ...

    async def get_platform_session(self, *, session_hash: bytes) -> PlatformSessionRow | None: ...

    async def touch_platform_session(self, *, session_hash: bytes, last_seen_at: int) -> None: ...

    async def delete_platform_session(self, *, session_hash: bytes) -> None: ...
