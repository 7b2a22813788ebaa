"""Access requests: an agent asks for a credential it lacks, a person fills it in
or declines (SPEC "Request rules, approvals, access requests", docs/approvals.md).

Who may do what:

- **Ask**: any key of the identity that may use the vault (``vault:use``,
  ``vault:read`` or ``vault:write``): an agent that can only use credentials is the
  one that most needs to ask. At most :data:`MAX_PENDING` open requests per
  identity; each expires after :data:`REQUEST_SECONDS`.
- **Look**: any key of the identity (a request never holds a secret).
- **Fulfil**: a key with ``vault:write`` (it stores a credential). The credential
  goes through :meth:`VaultService.store_credential`, the one store path: the same
  validation, versions, audit and credential limit.
- **Decline**: ``vault:write`` or ``vault:approve`` (the scope that decides).

A request may name a credential that exists (an agent whose key was revoked
upstream asks for a new one): it is a proposal to replace it. A fulfilment is
create-only unless the person names the version it replaces (the console's
*Replace* box, the API's ``If-Match``), so nothing is replaced unasked.

Exactly once: answering is one conditional UPDATE (pending → ``fulfilling`` or
``declined``), so of two people at once one wins and the other gets 409
``request_answered``. A fulfilment then stores the credential and marks the
request ``fulfilled``; a store that is refused (validation, limit, a name taken
meanwhile) gives the request back, pending, so nothing is lost.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from loomal.core.access_request_models import (
    ACCESS_REQUEST_STATUSES,
    MAX_REASON_CHARS,
    AccessRequest,
    AccessRequestCreate,
    AccessRequestCreated,
    AccessRequestFulfill,
    AccessRequestList,
    request_url,
)
from loomal.core.access_request_store import AccessRequestRow, AccessRequestStore
from loomal.core.audit import AuditLog
from loomal.core.models import StoreRequest
from loomal.core.preconditions import WritePrecondition
from loomal.core.principals import Principal, Scope
from loomal.core.service import MetadataCheck, VaultService
from loomal.core.timestamps import from_micros, to_micros
from loomal.core.types import parse_credential_type, validate_credential_name
from loomal.errors import (
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)

__all__ = [
    "MAX_PENDING",
    "REQUEST_SECONDS",
    "AccessRequestService",
    "RequestCreatedHook",
    "no_notification",
    "request_url",
]

log = logging.getLogger("loomal.requests")

MAX_PENDING = 20
"""Open requests an identity may have at once; beyond, 429 too_many_pending_requests."""
REQUEST_SECONDS = 7 * 86400
"""How long a request waits for a person before it expires."""
_MAX_LIST = 500
_ASKING_SCOPES = frozenset({Scope.USE, Scope.READ, Scope.WRITE})
_DECIDING_SCOPES = frozenset({Scope.WRITE, Scope.APPROVE})

RequestCreatedHook = Callable[[AccessRequest, str], Awaitable[None]]
"""Told of every new request and its identity's id, after it is stored (the
request as ``GET`` shows it: never a secret). It does no network I/O itself (the
core does none): the webhook's writes the event to the outbox, which a deliverer
sends."""


async def no_notification(request: AccessRequest, identity_id: str) -> None:
    """THE place a "request created" notification goes: nothing, by default.
    ``runtime.open_vault`` hands :meth:`Notifications.request_created` (the
    ``request.created`` webhook, ``--webhook-url``) to :class:`AccessRequestService`
    as ``on_created`` instead of this."""


def check_reason(reason: str) -> str:
    """Plain text a person reads: 1-500 characters, printable (line breaks and tabs
    allowed), so no control or invisible formatting character (a bidi override)
    can disguise what is shown."""
    text = reason.strip()
    if not text:
        raise ValidationError("reason: say why the credential is needed (1-500 characters).")
    if len(text) > MAX_REASON_CHARS:
        raise ValidationError(f"reason: at most {MAX_REASON_CHARS} characters.")
    if not all(c.isprintable() or c in "\n\t" for c in text):
        raise ValidationError("reason: plain text only (no control or formatting characters).")
    return text


def _at(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def shown_status(row: AccessRequestRow, now: int) -> str:
    """The status callers see: a claim under way is still ``pending``; an open
    request past its expiry is ``expired`` (the row is never rewritten for that)."""
    if row.status in ("pending", "fulfilling"):
        return "expired" if row.expires_at <= now else "pending"
    return row.status


class AccessRequestService:
    def __init__(
        self,
        store: AccessRequestStore,
        vault: VaultService,
        audit: AuditLog,
        *,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        metadata_checks: Sequence[MetadataCheck] = (),
        on_created: RequestCreatedHook = no_notification,
    ) -> None:
        self._store = store
        self._vault = vault
        self._audit = audit
        self._public_url = public_url
        self._clock = clock
        self._metadata_checks = tuple(metadata_checks)
        """The broker's metadata rule (``allowedHosts``), as the vault runs it on a store."""
        self.on_created = on_created

    async def create(self, principal: Principal, ask: AccessRequestCreate) -> AccessRequestCreated:
        request_id = "req_" + secrets.token_urlsafe(18)
        detail = f"{request_id} {ask.type}"[:80]
        async with self._audit.call(principal, "request_create", ask.name, detail=lambda: detail):
            if not principal.scopes & _ASKING_SCOPES:
                raise PermissionDeniedError(
                    "Asking for a credential needs a key that may use the vault "
                    "(vault:use, vault:read or vault:write).",
                    reason="insufficient_scope",
                )
            validate_credential_name(ask.name)
            ctype = parse_credential_type(ask.type)
            reason = check_reason(ask.reason)
            hosts = self._hosts(ask.allowed_hosts)
            now = to_micros(self._clock())
            row = AccessRequestRow(
                request_id=request_id,
                identity_id=principal.identity_id,
                name=ask.name,
                type=ctype.value,
                reason=reason,
                allowed_hosts=None if hosts is None else json.dumps(hosts),
                requested_by=principal.key_prefix,
                requested_by_label=principal.key_label,
                status="pending",
                created_at=now,
                expires_at=now + REQUEST_SECONDS * 1_000_000,
            )
            if not await self._store.create_access_request(request=row, max_pending=MAX_PENDING):
                raise RateLimitError(
                    f"This identity has {MAX_PENDING} requests waiting for a person. Wait for "
                    "them to be answered or to expire (7 days).",
                    reason="too_many_pending_requests",
                    retry_after=3600,
                )
        public = self._public(row, now)
        try:
            await self.on_created(public, principal.identity_id)
        except Exception:  # a notification never undoes the request
            log.exception("the request-created notification failed for %s", request_id)
        return AccessRequestCreated(
            request_id=request_id, status="pending", url=public.url, expires_at=public.expires_at
        )

    async def list_requests(
        self, principal: Principal, *, status: str | None = None, limit: int = 100
    ) -> AccessRequestList:
        """The identity's requests, pending first, then newest first."""
        if status is not None and status not in ACCESS_REQUEST_STATUSES:
            raise ValidationError(f"status must be one of {', '.join(ACCESS_REQUEST_STATUSES)}.")
        if not 1 <= limit <= _MAX_LIST:
            raise ValidationError(f"limit must be between 1 and {_MAX_LIST}.")
        now = to_micros(self._clock())
        rows = await self._store.list_access_requests(
            identity_id=principal.identity_id, limit=_MAX_LIST
        )
        shown = [self._public(r, now) for r in rows]
        if status is not None:
            shown = [r for r in shown if r.status == status]
        shown.sort(key=lambda r: (r.status != "pending", -r.created_at.timestamp()))
        return AccessRequestList(requests=shown[:limit], count=len(shown[:limit]))

    async def get_request(self, principal: Principal, request_id: str) -> AccessRequest:
        return self._public(await self._row(principal, request_id), to_micros(self._clock()))

    async def fulfill(
        self,
        principal: Principal,
        request_id: str,
        answer: AccessRequestFulfill,
        precondition: WritePrecondition | None = None,
    ) -> AccessRequest:
        """Store the credential the request asks for and mark it fulfilled, once.
        Create-only unless ``precondition`` names what it replaces. ``allowedHosts``
        the agent asked for are used when ``answer.metadata`` does not set them."""
        row = await self._row(principal, request_id)
        detail = f"{request_id} {row.type}"
        async with self._audit.call(principal, "request_fulfill", row.name, detail=lambda: detail):
            principal.require(Scope.WRITE)
            metadata = dict(answer.metadata or {})
            if row.allowed_hosts is not None and "allowedHosts" not in metadata:
                metadata["allowedHosts"] = json.loads(row.allowed_hosts)
            store = StoreRequest(
                type=row.type,
                data=answer.data,
                metadata=metadata or None,
                expires_at=answer.expires_at,
            )
            claimed_at = await self._claim(principal, row, "fulfilling")
            try:
                await self._vault.store_credential(
                    principal,
                    row.name,
                    store,
                    precondition or WritePrecondition(must_not_exist=True),
                )
            except BaseException:
                await self._store.finish_access_request(
                    identity_id=principal.identity_id,
                    request_id=request_id,
                    claimed_at=claimed_at,
                    fulfilled=False,
                )
                raise
            await self._store.finish_access_request(
                identity_id=principal.identity_id,
                request_id=request_id,
                claimed_at=claimed_at,
                fulfilled=True,
            )
        return await self.get_request(principal, request_id)

    async def decline(self, principal: Principal, request_id: str) -> AccessRequest:
        row = await self._row(principal, request_id)
        detail = f"{request_id} {row.type}"
        async with self._audit.call(principal, "request_decline", row.name, detail=lambda: detail):
            if not principal.scopes & _DECIDING_SCOPES:
                raise PermissionDeniedError(
                    "Declining needs a key with vault:write or vault:approve.",
                    reason="insufficient_scope",
                )
            await self._claim(principal, row, "declined")
        return await self.get_request(principal, request_id)

    async def _claim(self, principal: Principal, row: AccessRequestRow, status: str) -> int:
        """Take the request for this answer (one conditional UPDATE); when it is no
        longer open, say why: 410 expired, or 409 answered by someone else."""
        now = to_micros(self._clock())
        if await self._store.claim_access_request(
            identity_id=principal.identity_id,
            request_id=row.request_id,
            status=status,
            answered_by=principal.key_prefix,
            now=now,
        ):
            return now
        current = await self._row(principal, row.request_id)
        shown = shown_status(current, now)
        if shown == "expired":
            raise ExpiredError(
                "This request expired before it was answered; the agent may ask again.",
                reason="request_expired",
            )
        answer = "someone is answering it now" if shown == "pending" else shown
        raise ConflictError(
            f"This request was already answered ({answer}).",
            code="request_answered",
        )

    async def _row(self, principal: Principal, request_id: str) -> AccessRequestRow:
        row = await self._store.get_access_request(
            identity_id=principal.identity_id, request_id=request_id
        )
        if row is None:
            raise NotFoundError("No request of this identity has that id.")
        return row

    def _hosts(self, hosts: list[str] | None) -> list[str] | None:
        """``allowedHosts`` checked by the rule a stored credential's metadata meets."""
        if hosts is None:
            return None
        metadata: Mapping[str, Any] = {"allowedHosts": hosts}
        for check in self._metadata_checks:
            check(metadata, {})
        return hosts

    def _public(self, row: AccessRequestRow, now: int) -> AccessRequest:
        return AccessRequest(
            request_id=row.request_id,
            status=shown_status(row, now),  # type: ignore[arg-type]
            name=row.name,
            type=row.type,
            reason=row.reason,
            allowed_hosts=None if row.allowed_hosts is None else json.loads(row.allowed_hosts),
            requested_by=row.requested_by,
            requested_by_label=row.requested_by_label,
            created_at=from_micros(row.created_at),
            expires_at=from_micros(row.expires_at),
            url=request_url(self._public_url, row.request_id),
            answered_at=None if row.status == "fulfilling" else _at(row.answered_at),
            answered_by=None if row.status == "fulfilling" else row.answered_by,
        )
