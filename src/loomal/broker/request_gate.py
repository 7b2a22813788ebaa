"""The request-rules step of a brokered request, between the plan and the exchange:
which rule allows it (:mod:`loomal.broker.rules`), then its approval, then its
budget. Everything it refuses is refused before anything is sent, as an error of
the one tree that the broker's audited call records (``request_not_allowed``,
``budget_exhausted``, ``approval_pending``, ``approval_denied``...).

Order: an approval is checked before the budget, so a request still waiting
for a person does not spend the budget; the budget is counted last, by the store
in one statement (see ``store/rules_sql.py``), so it holds across workers and
servers.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from typing import Any, NoReturn

from loomal.broker.rules import MatchedRule, canonical_path, match_rule
from loomal.broker.urls import Target
from loomal.core.approvals import approval_url
from loomal.core.notifications import Notifications
from loomal.core.principals import Principal
from loomal.core.rules_store import ApprovalRow, RulesStore
from loomal.core.service import UsableCredential
from loomal.core.timestamps import from_micros, to_micros
from loomal.errors import (
    ApprovalPendingError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

__all__ = ["APPROVAL_TTL_SECONDS", "MAX_PENDING_APPROVALS", "RequestGate", "request_hash"]

APPROVAL_TTL_SECONDS = 3600
"""How long an approval may wait for a person, then for its one use."""

MAX_PENDING_APPROVALS = 100
"""Pending approvals an identity may hold at once: an agent looping on held
requests fills neither the store nor a person's list."""


def request_hash(credential_id: str, method: str, target: Target, body: bytes | None) -> bytes:
    """What an approval is bound to: the credential, method, full URL and body."""
    url = f"{target.scheme}://{target.host}:{target.port}{target.path}?{target.query}"
    digest = hashlib.sha256()
    for part in (credential_id.encode(), method.encode(), url.encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(hashlib.sha256(body or b"").digest())
    return digest.digest()


class RequestGate:
    def __init__(
        self,
        store: RulesStore,
        *,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        notifications: Notifications | None = None,
    ) -> None:
        """``clock``: wall-clock seconds (budget windows, approval expiry);
        ``notifications``: where a new approval is told to a person (the webhook)."""
        self._store = store
        self._notifications = notifications
        self._public_url = public_url
        self._clock = clock

    async def admit(
        self,
        principal: Principal,
        credential: UsableCredential,
        name: str,
        method: str,
        target: Target,
        body: bytes | None,
        approval_id: str | None,
    ) -> Target:
        """``target`` as it is to be sent (its path in the canonical spelling the
        rules matched) when the credential's rules allow the request now; else the
        refusal, raised. Without rules: ``target`` unchanged, nothing checked."""
        rules: Any = credential.metadata.get("rules")
        if not rules:
            return target
        path = canonical_path(target.path)
        target = Target(target.scheme, target.host, target.port, path, target.query)
        matched = match_rule(rules, method, path)
        if matched.approval_window is not None:
            await self._approved(
                principal, credential, name, matched, method, target, body, approval_id
            )
        if matched.budget is not None:
            await self._spend(credential, matched)
        return target

    async def _approved(
        self,
        principal: Principal,
        credential: UsableCredential,
        name: str,
        matched: MatchedRule,
        method: str,
        target: Target,
        body: bytes | None,
        approval_id: str | None,
    ) -> None:
        now = to_micros(self._clock())
        if await self._store.approval_window_open(
            identity_id=principal.identity_id,
            credential_id=credential.credential_id,
            rule_fingerprint=matched.fingerprint,
            now=now,
        ):
            return
        bound = request_hash(credential.credential_id, method, target, body)
        if approval_id is None:
            await self._ask(principal, credential, name, matched, method, target, body, bound)
        if await self._store.use_approval(
            identity_id=principal.identity_id, approval_id=approval_id, request_hash=bound, now=now
        ):
            return
        row = await self._store.get_approval(
            identity_id=principal.identity_id, approval_id=approval_id
        )
        raise _why_not_usable(row, bound, now, self._public_url)

    async def _ask(
        self,
        principal: Principal,
        credential: UsableCredential,
        name: str,
        matched: MatchedRule,
        method: str,
        target: Target,
        body: bytes | None,
        bound: bytes,
    ) -> NoReturn:
        now = to_micros(self._clock())
        pending = await self._store.count_pending_approvals(
            identity_id=principal.identity_id, now=now
        )
        if pending >= MAX_PENDING_APPROVALS:
            raise RateLimitError(
                f"This identity has {pending} approvals waiting for a person; nothing was "
                "sent. Wait for them to be decided or to expire (one hour).",
                reason="too_many_pending_approvals",
                retry_after=60,
            )
        row = ApprovalRow(
            approval_id="apr_" + secrets.token_urlsafe(18),
            identity_id=principal.identity_id,
            credential_id=credential.credential_id,
            credential_name=name,
            rule_fingerprint=matched.fingerprint,
            rule_window=matched.approval_window or 0,
            method=method,
            host=target.host,
            path=target.path[:2000],
            body_size=len(body or b""),
            request_hash=bound,
            requested_by=principal.key_prefix,
            status="pending",
            created_at=now,
            expires_at=now + APPROVAL_TTL_SECONDS * 1_000_000,
        )
        notice = None
        if self._notifications is not None:
            notice = await self._notifications.approval_created(row)
        await self._store.create_approval(approval=row, notice=notice)
        raise _pending(row, self._public_url)

    async def _spend(self, credential: UsableCredential, matched: MatchedRule) -> None:
        assert matched.budget is not None
        limit, per_seconds = matched.budget
        now = self._clock()
        window = math.floor(now / per_seconds) * per_seconds
        if await self._store.take_budget(
            budget_key=f"{credential.credential_id}:{matched.fingerprint}",
            window_start=int(window),
            limit=limit,
        ):
            return
        retry_after = math.ceil(window + per_seconds - now)
        raise RateLimitError(
            f"The credential's rule {matched.index} allows {limit} requests per "
            f"{per_seconds} s, all used; nothing was sent. Retry after {retry_after} s.",
            code="budget_exhausted",
            retry_after=retry_after,
        )


def _pending(row: ApprovalRow, public_url: str | None) -> ApprovalPendingError:
    return ApprovalPendingError(
        f"This {row.method} request waits for a person's approval; nothing was sent. "
        "Ask them to approve it at approvalUrl, then repeat it with this approvalId.",
        approval_id=row.approval_id,
        approval_url=approval_url(public_url, row.approval_id),
        expires_at=_iso(row.expires_at),
    )


def _iso(micros: int) -> str:
    return from_micros(micros).isoformat().replace("+00:00", "Z")


def _why_not_usable(
    row: ApprovalRow | None, bound: bytes, now: int, public_url: str | None
) -> Exception:
    if row is None:
        return NotFoundError("No approval of this identity has that approvalId.")
    if row.request_hash != bound:
        return ConflictError(
            "This approval was given for another request (method, URL or body differ); "
            "nothing was sent. Ask for a new approval.",
            code="approval_mismatch",
        )
    if row.status == "denied":
        return PermissionDeniedError(
            "A person denied this request; nothing was sent.", code="approval_denied"
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
    return _pending(row, public_url)
