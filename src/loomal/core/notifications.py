"""Telling a person: the events a webhook carries (``approval.created``,
``request.created``), what they may hold, and the rules of their delivery.

An event is written to the store's outbox where it happens (``emit``, or
``notice`` handed to a store call that writes it in the same transaction), so
it survives a restart; a deliverer (``loomal.webhooks.delivery``, the only part
that touches the network) claims due events, POSTs them and reports back here
(``settle``): delivered, retried later, or dead after ``MAX_ATTEMPTS``.

The payload is written once, as the exact bytes every attempt sends and signs,
so a retry carries the same body, signature and idempotency id (``event_id``).
It never holds a secret, a request body or a query string: an approval's data
is what a person sees in the approvals list, and ``emit`` refuses field names
that would carry more (``_FORBIDDEN_FIELDS``).

The wire format is the hosted Loomal's: ``X-Loomal-Signature: sha256=<hex of
HMAC-SHA256(secret, raw body)>``, ``X-Loomal-Event`` and
``X-Loomal-Idempotency-Key`` (see docs/approvals.md, "Webhooks").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec

from loomal.core.access_request_models import AccessRequest, request_url
from loomal.core.approvals import approval_url
from loomal.core.audit import AuditLog
from loomal.core.outbox_store import OUTBOX_STATES, OutboxRow, OutboxStore
from loomal.core.ports import AuditEvent
from loomal.core.rows import IdentityRow
from loomal.core.rules_store import ApprovalRow
from loomal.core.timestamps import from_micros, to_micros
from loomal.errors import NotFoundError, ValidationError

__all__ = [
    "EVENT_KINDS",
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "SIGNATURE_HEADER",
    "ApprovalCreated",
    "Notifications",
    "RequestCreated",
    "WebhookEvent",
    "sign_payload",
]

EVENT_KINDS = ("approval.created", "request.created")

SIGNATURE_HEADER = "X-Loomal-Signature"
EVENT_HEADER = "X-Loomal-Event"
IDEMPOTENCY_HEADER = "X-Loomal-Idempotency-Key"

RETRY_DELAYS = (30, 60, 120, 240, 480, 960, 1920)
"""Seconds to wait after each failed attempt: doubling from 30 s, about 1 h in all."""

MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
"""Attempts before an event is dead (8): kept, counted in /metrics, audited."""

LEASE_SECONDS = 120
"""How long a claimed event is left to its deliverer (one attempt is bounded by
the sender's timeout, 10 s): past it, a deliverer that died mid-attempt loses
the event to another, which sends it again with the same idempotency id."""

DELIVERED_KEPT_SECONDS = 7 * 86400
"""Delivered events are pruned after a week (dead ones are kept for a person)."""

_FORBIDDEN_FIELDS = frozenset(
    {"data", "secret", "secrets", "body", "query", "password", "token", "apikey", "key"}
)
"""Field names an event's data may not use, at any depth: what could carry a secret,
a request's body or its query string."""


def sign_payload(secret: bytes, payload: bytes) -> str:
    """The ``X-Loomal-Signature`` value for ``payload``: over the raw bytes sent."""
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def webhook_headers(secret: bytes, row: OutboxRow) -> dict[str, str]:
    """The headers every attempt of ``row`` carries (the same on each retry)."""
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER.lower(): sign_payload(secret, row.payload),
        EVENT_HEADER.lower(): row.kind,
        IDEMPOTENCY_HEADER.lower(): row.event_id,
    }


class ApprovalCreated(msgspec.Struct, rename="camel", kw_only=True):
    """``approval.created``'s data: what a person needs to decide, never a secret,
    body or query."""

    id: str
    identity: str
    credential_name: str
    method: str
    host: str
    path: str
    body_size: int
    approval_url: str
    expires_at: datetime


class RequestCreated(msgspec.Struct, rename="camel", kw_only=True):
    """``request.created``'s data: what an agent asked for and where a person
    answers; never a secret. The reason is the agent's words: show them as text."""

    id: str
    identity: str
    name: str
    type: str
    reason: str
    allowed_hosts: list[str] | None
    requested_by: str
    url: str
    expires_at: datetime


class WebhookEvent(msgspec.Struct, rename="camel", kw_only=True):
    """The body of every webhook POST."""

    id: str
    """The idempotency id, also sent as ``X-Loomal-Idempotency-Key``."""
    type: str
    created_at: datetime
    data: Any


class _Store(OutboxStore, Protocol):
    async def get_identity_by_id(self, *, identity_id: str) -> IdentityRow | None: ...


def _check_fields(value: Any, where: str = "data") -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if str(key).lower() in _FORBIDDEN_FIELDS:
                raise ValueError(f"A webhook event may not carry {where}.{key}.")
            _check_fields(inner, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for inner in value:
            _check_fields(inner, where)


class Notifications:
    """The outbox's rules; ``enabled`` when a webhook URL is configured (else events
    are not written at all, so nothing piles up)."""

    def __init__(
        self,
        store: _Store,
        audit: AuditLog,
        *,
        enabled: bool,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._audit = audit
        self.enabled = enabled
        self._public_url = public_url
        self._clock = clock

    async def emit(self, kind: str, data: Any, *, identity_id: str | None) -> str | None:
        """Write an event to the outbox (its own statement); its id, or None when
        webhooks are off. ``data``: a msgspec Struct or a mapping, never a secret."""
        row = self.notice(kind, data, identity_id=identity_id)
        if row is None:
            return None
        await self._store.add_outbox_event(event=row)
        return row.event_id

    def notice(self, kind: str, data: Any, *, identity_id: str | None) -> OutboxRow | None:
        """The outbox row of an event, for a store call that writes it in the same
        transaction as what it tells of; None when webhooks are off."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"Unknown webhook event {kind!r}.")
        if not self.enabled:
            return None
        plain = msgspec.to_builtins(data)
        _check_fields(plain)
        now = to_micros(self._clock())
        event_id = "evt_" + secrets.token_urlsafe(18)
        event = WebhookEvent(id=event_id, type=kind, created_at=from_micros(now), data=plain)
        return OutboxRow(
            event_id=event_id,
            identity_id=identity_id,
            kind=kind,
            payload=msgspec.json.encode(event),
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )

    async def approval_created(self, row: ApprovalRow) -> OutboxRow | None:
        """The ``approval.created`` notice of a new approval (see :meth:`notice`)."""
        if not self.enabled:
            return None
        identity = await self._store.get_identity_by_id(identity_id=row.identity_id)
        data = ApprovalCreated(
            id=row.approval_id,
            identity=identity.name if identity is not None else row.identity_id,
            credential_name=row.credential_name,
            method=row.method,
            host=row.host,
            path=row.path,
            body_size=row.body_size,
            approval_url=approval_url(self._public_url, row.approval_id),
            expires_at=from_micros(row.expires_at),
        )
        return self.notice("approval.created", data, identity_id=row.identity_id)

    async def request_created(self, request: AccessRequest, identity_id: str) -> None:
        """Write the ``request.created`` event of a new access request (its own
        statement, after the request's: a failure here never undoes the request)."""
        if not self.enabled:
            return
        identity = await self._store.get_identity_by_id(identity_id=identity_id)
        data = RequestCreated(
            id=request.request_id,
            identity=identity.name if identity is not None else identity_id,
            name=request.name,
            type=request.type,
            reason=request.reason,
            allowed_hosts=request.allowed_hosts,
            requested_by=request.requested_by,
            url=request_url(self._public_url, request.request_id),
            expires_at=request.expires_at,
        )
        await self.emit("request.created", data, identity_id=identity_id)

    async def claim_due(self, owner: str, *, limit: int = 20) -> list[OutboxRow]:
        """Events due now, leased to ``owner`` (no other deliverer takes them while
        the lease runs), each with this attempt counted."""
        now = to_micros(self._clock())
        return await self._store.claim_outbox_events(
            owner=owner, now=now, lease_until=now + LEASE_SECONDS * 1_000_000, limit=limit
        )

    async def settle(self, row: OutboxRow, owner: str, failure: str | None) -> str:
        """Record an attempt of a claimed ``row``: ``failure`` None when the receiver
        answered 2xx, else why not (``status_500``, ``timeout``...). The state it
        is left in: delivered, pending (retried after ``RETRY_DELAYS``) or dead."""
        now = to_micros(self._clock())
        if failure is None:
            state, due = "delivered", row.next_attempt_at
        elif row.attempts >= MAX_ATTEMPTS:
            state, due = "dead", row.next_attempt_at
        else:
            state = "pending"
            due = now + RETRY_DELAYS[max(row.attempts, 1) - 1] * 1_000_000
        settled = await self._store.settle_outbox_event(
            event_id=row.event_id,
            owner=owner,
            state=state,
            next_attempt_at=due,
            last_error=failure,
            now=now,
        )
        if settled and state == "dead":
            await self._audit.append([self._dead_event(row, failure or "", now)])
        return state

    def _dead_event(self, row: OutboxRow, failure: str, now: int) -> AuditEvent:
        return AuditEvent(
            at=now,
            identity_id=row.identity_id,
            actor_identity_id=None,
            key_prefix=None,
            action="webhook_dead",
            credential_name=None,
            outcome=failure[:64] or "failed",
            client=None,
            detail=f"{row.kind} {row.event_id} after {row.attempts} attempts",
        )

    async def list_events(self, *, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """The outbox, newest first (``loomal admin webhooks``)."""
        if state is not None and state not in OUTBOX_STATES:
            raise ValidationError(f"state must be one of {', '.join(OUTBOX_STATES)}.")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000.")
        return await self._store.list_outbox_events(state=state, limit=limit)

    async def retry(self, event_id: str) -> None:
        """Give a dead event its attempts again, due now (once the receiver is fixed)."""
        if not await self._store.retry_outbox_event(
            event_id=event_id, now=to_micros(self._clock())
        ):
            raise NotFoundError(f"No dead webhook event {event_id!r}.")

    async def prune(self) -> int:
        """Forget delivered events older than ``DELIVERED_KEPT_SECONDS``."""
        before = to_micros(self._clock() - DELIVERED_KEPT_SECONDS)
        return await self._store.prune_outbox_events(finished_before=before)
