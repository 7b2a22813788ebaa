"""Approvals: the person's side of a request rule with ``approval`` (SPEC "Request
rules, approvals"). The broker creates and uses them (``broker/request_gate.py``);
here they are listed, shown, approved and denied.

Who decides: a key of the same identity with ``vault:write`` or ``vault:approve``,
never the key that asked (an agent holding both scopes still cannot approve its
own request). Each decision is one conditional UPDATE in the store, so of two
people deciding at once, one decides; each is audited (who, when, what, the
window granted), never with a secret or a body.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from loomal.core.approval_models import Approval, ApprovalList
from loomal.core.audit import AuditLog
from loomal.core.principals import Principal, Scope
from loomal.core.rules_store import APPROVAL_STATUSES, ApprovalRow, RulesStore
from loomal.core.timestamps import from_micros, to_micros
from loomal.errors import (
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

__all__ = ["ApprovalService", "approval_url", "shown_status"]

_MAX_LIST = 500


def approval_url(public_url: str | None, approval_id: str) -> str:
    """Where a person decides: the approval's console page, so that following the
    link an agent relays lands where one can approve it (the API resource stays
    ``/v0/approvals/{id}``). Relative when the server's public URL is not set: the
    HTTP adapter then makes it absolute on the request's own origin."""
    return f"{public_url or ''}/approvals/{approval_id}"


def _at(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def shown_status(row: ApprovalRow, now: int) -> str:
    """The status as callers see it: a pending or approved row past its expiry is
    ``expired`` (the row itself is never rewritten for that)."""
    if row.status in ("pending", "approved") and row.expires_at <= now:
        return "expired"
    return row.status


class ApprovalService:
    def __init__(
        self,
        store: RulesStore,
        audit: AuditLog,
        *,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._audit = audit
        self._public_url = public_url
        self._clock = clock

    async def list_approvals(
        self, principal: Principal, *, status: str | None = None, limit: int = 100
    ) -> ApprovalList:
        """The identity's approvals, newest first (any key of it may look: none
        holds a secret); ``status`` one of pending, approved, denied, used, expired."""
        if status is not None and status not in APPROVAL_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(APPROVAL_STATUSES)}.")
        if not 1 <= limit <= _MAX_LIST:
            raise ValidationError(f"limit must be between 1 and {_MAX_LIST}.")
        now = to_micros(self._clock())
        stored = None if status in (None, "expired") else status
        rows = await self._store.list_approvals(
            identity_id=principal.identity_id, status=stored, limit=_MAX_LIST
        )
        shown = [self._public(r, now) for r in rows]
        if status is not None:
            shown = [a for a in shown if a.status == status]
        shown.sort(key=lambda a: (a.status != "pending", -a.created_at.timestamp()))
        return ApprovalList(approvals=shown[:limit], count=len(shown[:limit]))

    async def count_pending(self, principal: Principal) -> int:
        """Pending approvals of the identity not yet expired (the console's badge):
        one COUNT in the store, never a list."""
        now = to_micros(self._clock())
        return await self._store.count_pending_approvals(identity_id=principal.identity_id, now=now)

    async def get_approval(self, principal: Principal, approval_id: str) -> Approval:
        row = await self._row(principal, approval_id)
        return self._public(row, to_micros(self._clock()))

    async def approve(
        self, principal: Principal, approval_id: str, *, window_seconds: int | None = None
    ) -> Approval:
        """Approve a pending request; the agent's next identical request goes through
        once. ``window_seconds`` (default: the rule's): the same rule needs no new
        approval for that long."""
        return await self._decide(principal, approval_id, "approved", window_seconds)

    async def deny(self, principal: Principal, approval_id: str) -> Approval:
        return await self._decide(principal, approval_id, "denied", None)

    async def _decide(
        self, principal: Principal, approval_id: str, status: str, window_seconds: int | None
    ) -> Approval:
        action = "approval_approve" if status == "approved" else "approval_deny"
        row = await self._row(principal, approval_id)
        detail = f"{row.method} {row.host} {row.path[:200]} {approval_id}"
        async with self._audit.call(principal, action, row.credential_name, detail=lambda: detail):
            if Scope.WRITE not in principal.scopes and Scope.APPROVE not in principal.scopes:
                raise PermissionDeniedError(
                    "Approving needs a key with vault:approve or vault:write.",
                    reason="insufficient_scope",
                )
            if principal.key_prefix == row.requested_by:
                raise PermissionDeniedError(
                    "A key cannot decide a request it asked for itself; a person decides, "
                    "with another key (vault:approve or vault:write) or in the console.",
                    reason="own_request",
                )
            if row.kind == "reveal" and window_seconds:
                raise ValidationError(
                    "Revealing a secret is approved for one read only; approve it without a window."
                )
            now = to_micros(self._clock())
            window = row.rule_window if window_seconds is None else window_seconds
            until = now + window * 1_000_000 if status == "approved" and window > 0 else None
            if until is not None:
                detail += f" window {window}s"
            if not await self._store.decide_approval(
                identity_id=principal.identity_id,
                approval_id=approval_id,
                status=status,
                decided_by=principal.key_prefix,
                window_until=until,
                now=now,
            ):
                current = await self._row(principal, approval_id)
                if shown_status(current, now) == "expired":
                    raise ExpiredError(
                        "This approval expired before it was decided.", reason="approval_expired"
                    )
                raise ConflictError(
                    f"This approval was already decided ({current.status}).",
                    code="approval_decided",
                )
        return await self.get_approval(principal, approval_id)

    async def _row(self, principal: Principal, approval_id: str) -> ApprovalRow:
        row = await self._store.get_approval(
            identity_id=principal.identity_id, approval_id=approval_id
        )
        if row is None:
            raise NotFoundError("No approval of this identity has that id.")
        return row

    def _public(self, row: ApprovalRow, now: int) -> Approval:
        return Approval(
            approval_id=row.approval_id,
            status=shown_status(row, now),  # type: ignore[arg-type]
            credential_name=row.credential_name,
            method=row.method,
            host=row.host,
            path=row.path,
            body_size=row.body_size,
            requested_by=row.requested_by,
            created_at=from_micros(row.created_at),
            expires_at=from_micros(row.expires_at),
            approval_url=approval_url(self._public_url, row.approval_id),
            decided_at=_at(row.decided_at),
            decided_by=row.decided_by,
            window_until=_at(row.window_until),
            used_at=_at(row.used_at),
            reason=row.reason,
            kind=row.kind,  # type: ignore[arg-type]
            requested_label=row.requested_label,
        )
