"""What webhooks need of a store: an outbox of events, each claimed by one
deliverer at a time (a lease taken by one conditional UPDATE, so several workers
and servers on the same store never send an event twice at once) and settled by
that deliverer only. Both stores implement it (``store/outbox_sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["OUTBOX_STATES", "OutboxRow", "OutboxStore"]

OUTBOX_STATES = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event to deliver. ``payload`` is the exact JSON body signed and sent on
    every attempt; it never holds a secret (see ``core/notifications.py``)."""

    event_id: str
    identity_id: str | None
    kind: str
    payload: bytes
    state: str
    attempts: int
    next_attempt_at: int
    lease_owner: str | None = None
    lease_until: int | None = None
    last_error: str | None = None
    created_at: int = 0
    finished_at: int | None = None

    def __repr__(self) -> str:
        return f"OutboxRow({self.event_id}, {self.kind}, {self.state}, {self.attempts})"


class OutboxStore(Protocol):
    async def add_outbox_event(self, *, event: OutboxRow) -> None: ...

    async def claim_outbox_events(
        self, *, owner: str, now: int, lease_until: int, limit: int
    ) -> list[OutboxRow]:
        """Pending events due at ``now`` whose lease (if any) has run out, each now
        leased to ``owner`` until ``lease_until`` with its attempt counted. An event
        is claimed by one caller: the claim is an UPDATE conditional on the lease."""
        ...

    async def settle_outbox_event(
        self,
        *,
        event_id: str,
        owner: str,
        state: str,
        next_attempt_at: int,
        last_error: str | None,
        now: int,
    ) -> bool:
        """Record the outcome of ``owner``'s attempt and release the lease; False
        (changing nothing) when the lease was lost to another deliverer."""
        ...

    async def list_outbox_events(self, *, state: str | None, limit: int) -> list[OutboxRow]:
        """Newest first."""
        ...

    async def count_outbox_events(self) -> dict[str, int]:
        """Events by state (for ``/metrics``)."""
        ...

    async def retry_outbox_event(self, *, event_id: str, now: int) -> bool:
        """Make a dead event pending again, due now, with its attempts reset."""
        ...

    async def prune_outbox_events(self, *, finished_before: int) -> int:
        """Delete delivered events finished before then; how many."""
        ...
