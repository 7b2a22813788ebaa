"""What access requests need of a store: a request created under the identity's
pending limit, and answered once. Both stores implement it
(``store/request_sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["STALE_CLAIM_MICROS", "AccessRequestRow", "AccessRequestStore"]

STALE_CLAIM_MICROS = 60 * 1_000_000
"""A fulfilment that claimed a request but neither finished nor gave it back
within this long (its server died between claim and store) no longer holds it."""


@dataclass(frozen=True, slots=True)
class AccessRequestRow:
    """One agent's ask for a credential. ``status`` as stored: pending,
    ``fulfilling`` (claimed by a person's fulfilment, shown as pending), fulfilled
    or declined; ``expired`` is never stored (a pending row past ``expires_at``)."""

    request_id: str
    identity_id: str
    name: str
    type: str
    reason: str
    allowed_hosts: str | None
    """JSON array of host patterns, or None."""
    requested_by: str
    requested_by_label: str | None
    status: str
    created_at: int
    expires_at: int
    answered_at: int | None = None
    answered_by: str | None = None

    def __repr__(self) -> str:
        return f"AccessRequestRow({self.request_id}, {self.name}, {self.status})"


class AccessRequestStore(Protocol):
    async def create_access_request(self, *, request: AccessRequestRow, max_pending: int) -> bool:
        """Insert ``request`` unless the identity already has ``max_pending`` pending,
        unexpired requests (False, nothing written); the count and the insert are
        one transaction."""
        ...

    async def get_access_request(
        self, *, identity_id: str, request_id: str
    ) -> AccessRequestRow | None: ...

    async def list_access_requests(self, *, identity_id: str, limit: int) -> list[AccessRequestRow]:
        """Newest first, every status as stored."""
        ...

    async def claim_access_request(
        self, *, identity_id: str, request_id: str, status: str, answered_by: str, now: int
    ) -> bool:
        """Move a pending, unexpired request (or one whose ``fulfilling`` claim is
        stale) to ``status`` (``fulfilling`` or ``declined``) by one conditional
        UPDATE; False, changing nothing, when it is not that: of two people at once,
        one wins."""
        ...

    async def finish_access_request(
        self, *, identity_id: str, request_id: str, claimed_at: int, fulfilled: bool
    ) -> bool:
        """End the ``fulfilling`` claim made at ``claimed_at``: ``fulfilled`` (the
        credential was stored) or back to pending (the store was refused)."""
        ...
