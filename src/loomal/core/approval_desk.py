"""Holding something for a person, and using what a person approved: the one place
that opens an approval and spends it, whatever is held — a brokered request
(``broker/request_gate.py``) or the read of a secret a credential marks
``reveal: "approval"`` (:mod:`loomal.core.reveals`).

An approval is bound to a hash of what was asked; it is used once, by one
conditional UPDATE in the store, and the refusal of a bad repeat says why
(another request: 409 ``approval_mismatch``; denied: 403; used or expired: 410).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from loomal.core.approvals import approval_url
from loomal.core.notifications import Notifications
from loomal.core.principals import Principal
from loomal.core.rules_store import ApprovalRow, RulesStore
from loomal.core.timestamps import from_micros, to_micros
from loomal.errors import (
    ApprovalPendingError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

__all__ = ["APPROVAL_TTL_SECONDS", "MAX_PENDING_APPROVALS", "ApprovalDesk", "Held"]

APPROVAL_TTL_SECONDS = 3600
"""How long an approval may wait for a person, then for its one use."""

MAX_PENDING_APPROVALS = 100
"""Pending approvals an identity may hold at once: an agent looping on held
requests fills neither the store nor a person's list."""


@dataclass(frozen=True, slots=True)
class Held:
    """What a person is asked to approve, as the approval row keeps it."""

    kind: str
    credential_id: str
    credential_name: str
    rule_fingerprint: str
    rule_window: int
    method: str
    host: str
    path: str
    body_size: int
    request_hash: bytes
    reason: str | None


class ApprovalDesk:
    def __init__(
        self,
        store: RulesStore,
        *,
        public_url: str | None,
        clock: Callable[[], float],
        notifications: Notifications | None = None,
    ) -> None:
        """``clock``: wall-clock seconds (approval expiry); ``notifications``: where a
        new approval is told to a person (the webhook), in the same transaction."""
        self._store = store
        self._notifications = notifications
        self._public_url = public_url
        self._clock = clock

    async def ask(self, asking: Principal, held: Held) -> NoReturn:
        """Open a pending approval for ``held`` and raise the 202 that says so."""
        identity_id = asking.identity_id
        now = to_micros(self._clock())
        pending = await self._store.count_pending_approvals(identity_id=identity_id, now=now)
        if pending >= MAX_PENDING_APPROVALS:
            raise RateLimitError(
                f"This identity has {pending} approvals waiting for a person; nothing was "
                "sent. Wait for them to be decided or to expire (one hour).",
                reason="too_many_pending_approvals",
                retry_after=60,
            )
        row = ApprovalRow(
            approval_id="apr_" + secrets.token_urlsafe(18),
            identity_id=identity_id,
            credential_id=held.credential_id,
            credential_name=held.credential_name,
            rule_fingerprint=held.rule_fingerprint,
            rule_window=held.rule_window,
            method=held.method,
            host=held.host,
            path=held.path[:2000],
            body_size=held.body_size,
            request_hash=held.request_hash,
            requested_by=asking.key_prefix,
            status="pending",
            created_at=now,
            expires_at=now + APPROVAL_TTL_SECONDS * 1_000_000,
            reason=held.reason,
            kind=held.kind,
            requested_label=asking.key_label,
        )
        notice = None
        if self._notifications is not None:
            notice = await self._notifications.approval_created(row)
        await self._store.create_approval(approval=row, notice=notice)
        raise self._pending(row)

    async def use(self, identity_id: str, approval_id: str, request_hash: bytes) -> None:
        """Spend the approval on exactly this request, or raise why it cannot be."""
        now = to_micros(self._clock())
        if await self._store.use_approval(
            identity_id=identity_id, approval_id=approval_id, request_hash=request_hash, now=now
        ):
            return
        row = await self._store.get_approval(identity_id=identity_id, approval_id=approval_id)
        raise self._why_not_usable(row, request_hash, now)

    def _pending(self, row: ApprovalRow) -> ApprovalPendingError:
        what = "read of the secret" if row.kind == "reveal" else f"{row.method} request"
        return ApprovalPendingError(
            f"This {what} waits for a person's approval; nothing was {_done(row)}. Ask them "
            "to approve it at approvalUrl, then repeat it with this approvalId.",
            approval_id=row.approval_id,
            approval_url=approval_url(self._public_url, row.approval_id),
            expires_at=_iso(row.expires_at),
        )

    def _why_not_usable(self, row: ApprovalRow | None, bound: bytes, now: int) -> Exception:
        if row is None:
            return NotFoundError("No approval of this identity has that approvalId.")
        if row.request_hash != bound:
            other = (
                "another read (the current data, a kept version or a TOTP code)"
                if row.kind == "reveal"
                else "another request (method, URL or body differ)"
            )
            return ConflictError(
                f"This approval was given for {other}; nothing was {_done(row)}. Ask for a "
                "new approval.",
                code="approval_mismatch",
            )
        if row.status == "denied":
            return PermissionDeniedError(
                f"A person denied this request; nothing was {_done(row)}.", code="approval_denied"
            )
        if row.status == "used":
            return ExpiredError(
                "This approval was already used; it allows one request. Ask for a new one.",
                reason="approval_used",
            )
        if row.expires_at <= now:
            return ExpiredError(
                "This approval expired before it was used; ask for a new one.",
                reason="approval_expired",
            )
        return self._pending(row)


def _done(row: ApprovalRow) -> str:
    return "revealed" if row.kind == "reveal" else "sent"


def _iso(micros: int) -> str:
    return from_micros(micros).isoformat().replace("+00:00", "Z")
