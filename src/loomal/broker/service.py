"""BrokerService: the two brokered use cases, ``fetch`` and the pass-through
``proxy``. Each is one audited call (action ``fetch`` / ``proxy``, detail: method,
host, path, status, duration) that reads the credential for use, plans the
request from it (:mod:`loomal.broker.injection`), shapes what goes out
(:mod:`loomal.broker.outbound`) and runs the exchange over the transport port.

Every refusal is raised before the transport is called, inside the audited
call, so it is a 4xx in the error shape and an audit event, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import unquote

from loomal.broker.addresses import EgressPolicy
from loomal.broker.exchange import Answer, Limits, Trace, exchange
from loomal.broker.hops import Hop
from loomal.broker.injection import BrokerPlan, plan_broker
from loomal.broker.outbound import (
    check_caller_headers,
    check_method,
    check_no_vault_key,
    encode_request_body,
    proxied_headers,
    proxy_target,
)
from loomal.broker.request_gate import RequestGate
from loomal.broker.transport import Transport
from loomal.broker.urls import parse_url
from loomal.core.audit import AuditLog
from loomal.core.models import FetchRequest, FetchResponse
from loomal.core.principals import Principal
from loomal.core.request_rules import check_reason
from loomal.core.service import UsableCredential
from loomal.errors import BadGatewayError, PayloadTooLargeError, ValidationError

__all__ = ["BrokerService", "CredentialsForUse"]


class CredentialsForUse(Protocol):
    """What the broker needs of the vault (``VaultService`` is one)."""

    async def open_for_use(self, principal: Principal, name: str) -> UsableCredential:
        """The decrypted credential, for a principal with vault:use; 404/410 else."""
        ...

    def note_use(self, credential: UsableCredential) -> None:
        """Record that the credential was used (``lastUsedAt``)."""
        ...


class BrokerService:
    def __init__(
        self,
        credentials: CredentialsForUse,
        audit: AuditLog,
        transport: Transport,
        *,
        policy: EgressPolicy | None = None,
        guard: Callable[[], object] | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        gate: RequestGate | None = None,
    ) -> None:
        """``guard``: runs first in every call, refusing it (the vault's "not while
        sealed"); ``clock``: monotonic seconds, for the durations the audit keeps;
        ``gate``: the credentials' request rules, budgets and approvals (without
        one, rules are not enforced: tests of the exchange alone)."""
        self._credentials = credentials
        self._audit = audit
        self._transport = transport
        self._policy = policy or EgressPolicy()
        self._guard = guard
        self._limits = limits or Limits()
        self._clock = clock
        self._gate = gate

    async def fetch(self, principal: Principal, name: str, request: FetchRequest) -> FetchResponse:
        """Make ``request`` with the credential injected and return the answer,
        every recognisable form of the secret replaced by ``[REDACTED]``. Needs
        vault:use; only to the credential's ``metadata.allowedHosts``."""
        trace = Trace(clock=self._clock)
        async with self._audit.call(
            principal, "fetch", name, detail=trace.__str__, guard=self._guard
        ):
            method = check_method(request.method)
            target = parse_url(request.url)
            trace.method, trace.host, trace.path = method, target.host, target.path
            plan, credential = await self._plan(principal, name)
            check_no_vault_key("URL", unquote(f"{target.path}?{target.query}"))
            body, content_type = encode_request_body(request.body, request.body_encoding)
            reason = check_reason(request.reason)
            if self._gate is not None:
                target = await self._gate.admit(
                    principal, credential, name, method, target, body, request.approval_id, reason
                )
                trace.path = target.path
            headers = check_caller_headers(request.headers, plan.injection.header_names)
            if content_type and not any(k == "content-type" for k, _ in headers):
                headers.append(("content-type", content_type))
            first = Hop(0, method, target, tuple(headers), body)
            async with exchange(
                self._transport, self._policy, plan, name, first, trace, limits=self._limits
            ) as answer:
                return await answer.fetch_response()

    @asynccontextmanager
    async def proxy(
        self,
        principal: Principal,
        name: str,
        *,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> AsyncIterator[Answer]:
        """The pass-through proxy: forward an unmodified client's request to the
        credential's ``metadata.baseUrl`` (or https on its first allowed host), its
        own key replaced by the injected credential; yields the answer to stream
        back (``status``, ``headers``, ``chunks()``). The same rules, limits,
        scrubbing and audit as :meth:`fetch`."""
        trace = Trace(clock=self._clock)
        async with self._audit.call(
            principal, "proxy", name, detail=trace.__str__, guard=self._guard
        ):
            method = check_method(method)
            trace.method = method
            plan, credential = await self._plan(principal, name)
            target = proxy_target(plan, name, path, query)
            headers, approval_id, reason = _without_loomal_headers(headers)
            forwarded = proxied_headers(headers, plan.injection.header_names)
            if body is not None and len(body) > self._limits.max_body_bytes:
                raise PayloadTooLargeError("A brokered request's body may be at most 1 MiB.")
            check_no_vault_key("body", body)
            if self._gate is not None:
                target = await self._gate.admit(
                    principal, credential, name, method, target, body, approval_id, reason
                )
            first = Hop(0, method, target, tuple(forwarded), body)
            try:
                async with exchange(
                    self._transport,
                    self._policy,
                    plan,
                    name,
                    first,
                    trace,
                    limits=self._limits,
                    proxied=True,
                ) as answer:
                    yield answer
            except BadGatewayError as error:
                if plan.base_url is None and error.reason == "connect_failed":
                    error.message = (
                        f"{error.message} {name!r} has no metadata.baseUrl, so the proxy "
                        "used https on the first exact host of its allowedHosts; store a "
                        "baseUrl to send it elsewhere."
                    )
                    error.args = (error.message,)
                raise

    async def _plan(self, principal: Principal, name: str) -> tuple[BrokerPlan, UsableCredential]:
        credential = await self._credentials.open_for_use(principal, name)
        plan = plan_broker(name, credential.type, credential.metadata, credential.data)
        self._credentials.note_use(credential)
        return plan, credential


APPROVAL_HEADER = b"loomal-approval"
"""The proxy's way to name an approval (the fetch body has ``approvalId``); never forwarded."""
REASON_HEADER = b"loomal-reason"
"""The proxy's way to say why (the fetch body has ``reason``); never forwarded."""


def _without_loomal_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], str | None, str | None]:
    """The headers to forward, and the approval id and reason addressed to the vault."""
    kept: list[tuple[bytes, bytes]] = []
    approval_id: str | None = None
    reason: str | None = None
    for key, value in headers:
        lowered = key.lower()
        if lowered == APPROVAL_HEADER:
            approval_id = value.decode("latin-1").strip() or None
        elif lowered == REASON_HEADER:
            try:
                reason = check_reason(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValidationError("The Loomal-Reason header must be UTF-8 text.") from None
        else:
            kept.append((key, value))
    return kept, approval_id, reason
