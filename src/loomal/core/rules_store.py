"""What request rules need of a store: budgets counted atomically (one statement,
so every worker and every server on the same store shares one count) and
approvals, each decided once and used once. Both stores implement it
(``store/rules_sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loomal.core.outbox_store import OutboxRow

__all__ = ["APPROVAL_STATUSES", "ApprovalRow", "RulesStore"]

APPROVAL_STATUSES = ("pending", "approved", "denied", "used", "expired")
"""``expired`` is never stored: a row past ``expires_at`` is shown expired."""


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """One request waiting for (or given) a person's approval. What it is bound to
    is ``request_hash``: SHA-256 of method, URL and body, never the body itself."""

    approval_id: str
    identity_id: str
    credential_id: str
    credential_name: str
    rule_fingerprint: str
    rule_window: int
    """The rule's ``approval.windowSeconds``: what approving grants by default."""
    method: str
    host: str
    path: str
    body_size: int
    request_hash: bytes
    requested_by: str
    """The display prefix of the key that asked (it may not approve)."""
    status: str
    created_at: int
    expires_at: int
    decided_at: int | None = None
    decided_by: str | None = None
    window_until: int | None = None
    used_at: int | None = None
    reason: str | None = None
    """What the agent said it is for: its own words, shown to people as plain text."""
    kind: str = "request"
    """``request`` (a brokered request) or ``reveal`` (a credential's secret read)."""
    requested_label: str | None = None
    """The label of the key that asked, if it has one."""

    def __repr__(self) -> str:
        return f"ApprovalRow({self.approval_id}, {self.method} {self.host}, {self.status})"


class RulesStore(Protocol):
    async def take_budget(self, *, budget_key: str, window_start: int, limit: int) -> bool:
        """Count one request in the window starting at ``window_start`` (a later
        window starts the count afresh); False, counting nothing, when ``limit``
        requests were already counted in it. One atomic statement."""
        ...

    async def create_approval(
        self, *, approval: ApprovalRow, notice: OutboxRow | None = None
    ) -> None:
        """Insert ``approval`` and, in the same transaction, the webhook event
        telling of it (``notice``, when webhooks are on)."""
        ...

    async def count_pending_approvals(self, *, identity_id: str, now: int) -> int:
        """Pending approvals of the identity not yet expired."""
        ...

    async def get_approval(self, *, identity_id: str, approval_id: str) -> ApprovalRow | None: ...

    async def list_approvals(
        self, *, identity_id: str, status: str | None, limit: int
    ) -> list[ApprovalRow]:
        """Newest first; ``status`` as stored (pending rows past expiry included)."""
        ...

    async def decide_approval(
        self,
        *,
        identity_id: str,
        approval_id: str,
        status: str,
        decided_by: str,
        window_until: int | None,
        now: int,
    ) -> bool:
        """Approve or deny a pending, unexpired approval; False when it is not that."""
        ...

    async def use_approval(
        self, *, identity_id: str, approval_id: str, request_hash: bytes, now: int
    ) -> bool:
        """Mark an approved, unexpired approval for exactly this request used; False
        (changing nothing) otherwise. Two concurrent uses: one wins."""
        ...

    async def approval_window_open(
        self, *, identity_id: str, credential_id: str, rule_fingerprint: str, now: int
    ) -> bool:
        """Whether an approval of this rule on this credential grants a window still open."""
        ...
