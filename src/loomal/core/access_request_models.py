"""Wire shapes of access requests (SPEC "Request rules, approvals, access
requests"), defined once: an agent's ask for a credential it lacks, the 202 it
gets back, a request as ``GET /v0/requests/{id}`` shows it (never a secret), a
page of them, and a person's fulfilment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "ACCESS_REQUEST_STATUSES",
    "MAX_REASON_CHARS",
    "AccessRequest",
    "AccessRequestCreate",
    "AccessRequestCreated",
    "AccessRequestFulfill",
    "AccessRequestList",
    "request_url",
]

MAX_REASON_CHARS = 500
ACCESS_REQUEST_STATUSES = ("pending", "fulfilled", "declined", "expired")

AccessRequestStatus = Literal["pending", "fulfilled", "declined", "expired"]


class AccessRequestCreate(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """``POST /v0/requests``: what the agent lacks and why."""

    name: Annotated[str, Meta(description="The credential's name (the names' rules)")]
    type: Annotated[str, Meta(description="One of the twelve credential types")]
    reason: Annotated[
        str,
        Meta(description=f"Why the agent needs it: plain text, at most {MAX_REASON_CHARS} chars"),
    ]
    allowed_hosts: (
        Annotated[
            list[str],
            Meta(description="Hosts the credential may be sent to (pre-fills metadata)"),
        ]
        | None
    ) = None


class AccessRequestCreated(msgspec.Struct, rename="camel"):
    """202 of ``POST /v0/requests``: where a person answers it."""

    request_id: str
    status: Literal["pending"]
    url: Annotated[str, Meta(description="The console page where a person fulfils or declines it")]
    expires_at: datetime


class AccessRequest(msgspec.Struct, rename="camel"):
    """One access request: who asked, for what, why, and who answered. Never a secret."""

    request_id: str
    status: AccessRequestStatus
    name: str
    type: str
    reason: Annotated[str, Meta(description="The agent's words: show them as plain text")]
    allowed_hosts: list[str] | None
    requested_by: Annotated[str, Meta(description="Display prefix of the key that asked")]
    requested_by_label: str | None
    created_at: datetime
    expires_at: datetime
    url: str
    answered_at: datetime | None = None
    answered_by: Annotated[
        str | None, Meta(description="Display prefix of the key that fulfilled or declined it")
    ] = None


class AccessRequestList(msgspec.Struct, rename="camel"):
    requests: list[AccessRequest]
    count: int


class AccessRequestFulfill(
    msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True
):
    """``POST /v0/requests/{id}/fulfill``: the credential's secret fields (and metadata);
    its name and type are the request's."""

    data: dict[str, Any]
    metadata: dict[str, Any] | None = None
    expires_at: str | None = None

    def __repr__(self) -> str:
        return "AccessRequestFulfill(data='***')"


def request_url(public_url: str | None, request_id: str) -> str:
    """The console page where a person answers (relative when the server's public
    URL is not set: the HTTP adapter then makes it absolute on the request's origin,
    as :func:`loomal.core.approvals.approval_url`)."""
    return f"{public_url or ''}/requests/{request_id}"
