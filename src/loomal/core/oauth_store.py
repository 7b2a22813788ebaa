"""What the OAuth refresh and connect flow ask of a store: leases and connect
states (``store/oauth_sql.py`` implements both on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ConnectState", "OAuthLease", "OAuthStore"]


@dataclass(frozen=True, slots=True)
class OAuthLease:
    holder: str
    until: int
    """Microseconds; past it, anyone may take the lease."""
    state: str
    """``refreshing``, or ``unavailable`` (the provider failed; retry after ``until``)."""


@dataclass(frozen=True, slots=True)
class ConnectState:
    """A connect flow waiting for its callback; ``pending`` is sealed (it holds the
    PKCE verifier and maybe a client secret). Only the state's hash is stored."""

    state_hash: bytes
    identity_id: str
    credential_name: str
    pending: bytes
    expires_at: int

    def values(self) -> tuple[Any, ...]:
        return (
            self.state_hash,
            self.identity_id,
            self.credential_name,
            self.pending,
            self.expires_at,
        )

    def __repr__(self) -> str:
        return f"ConnectState({self.identity_id}, {self.credential_name!r})"


class OAuthStore(Protocol):
    async def take_oauth_lease(
        self, *, credential_id: str, holder: str, now: int, until: int, state: str
    ) -> bool:
        """Take the lease if nobody holds one past ``now``; whether it was taken."""
        ...

    async def oauth_lease(self, *, credential_id: str) -> OAuthLease | None: ...

    async def set_oauth_lease(
        self, *, credential_id: str, holder: str, until: int, state: str
    ) -> None:
        """Change a lease this ``holder`` holds (a failing provider's cool-down)."""
        ...

    async def release_oauth_lease(self, *, credential_id: str, holder: str) -> None: ...

    async def add_connect_state(self, *, state: ConnectState, now: int) -> None:
        """Store a new connect state (and drop the ones expired by ``now``)."""
        ...

    async def pop_connect_state(self, *, state_hash: bytes) -> ConnectState | None:
        """Remove and return the state: a second callback with it finds nothing."""
        ...
