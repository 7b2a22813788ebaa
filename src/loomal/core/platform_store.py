"""What the platform service needs of a store beyond identities and keys:
platform keys, a page of identities, renaming, re-scoping and deleting one.
Both stores implement it (``store/platform_sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from loomal.core.store import IdentityRow

__all__ = ["PlatformKeyRow", "PlatformStore"]


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
