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
import time
from collections.abc import Callable
from typing import Any

from loomal.broker.rules import MatchedRule, canonical_path, match_rule
from loomal.broker.urls import Target
from loomal.core.approval_desk import (
    APPROVAL_TTL_SECONDS,
    MAX_PENDING_APPROVALS,
    ApprovalDesk,
    Held,
)
from loomal.core.notifications import Notifications
from loomal.core.principals import Principal
from loomal.core.rules_store import RulesStore
from loomal.core.service import UsableCredential
from loomal.core.timestamps import to_micros
from loomal.errors import RateLimitError

__all__ = ["APPROVAL_TTL_SECONDS", "MAX_PENDING_APPROVALS", "RequestGate", "request_hash"]


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
        self._desk = ApprovalDesk(
            store, public_url=public_url, clock=clock, notifications=notifications
        )
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
        reason: str | None = None,
    ) -> Target:
        """``target`` as it is to be sent (its path in the canonical spelling the
        rules matched) when the credential's rules allow the request now; else the
        refusal, raised. Without rules: ``target`` unchanged, nothing checked.
        ``reason``: the agent's words for a person, kept with an approval it opens."""
        rules: Any = credential.metadata.get("rules")
        if not rules:
            return target
        path = canonical_path(target.path)
        target = Target(target.scheme, target.host, target.port, path, target.query)
        matched = match_rule(rules, method, path)
        if matched.approval_window is not None:
            await self._approved(
                principal, credential, name, matched, method, target, body, approval_id, reason
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
        reason: str | None,
    ) -> None:
        if await self._store.approval_window_open(
            identity_id=principal.identity_id,
            credential_id=credential.credential_id,
            rule_fingerprint=matched.fingerprint,
            now=to_micros(self._clock()),
        ):
            return
        bound = request_hash(credential.credential_id, method, target, body)
        if approval_id is None:
            held = Held(
                kind="request",
                credential_id=credential.credential_id,
                credential_name=name,
                rule_fingerprint=matched.fingerprint,
                rule_window=matched.approval_window or 0,
                method=method,
                host=target.host,
                path=target.path,
                body_size=len(body or b""),
                request_hash=bound,
                reason=reason,
            )
            await self._desk.ask(principal, held)
        await self._desk.use(principal.identity_id, approval_id, bound)

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
