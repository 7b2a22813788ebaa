"""Wire shapes of approvals (SPEC "Request rules, approvals"), defined once: the
202 a brokered request answers while it waits for a person, an approval as
``GET /v0/approvals/{id}`` shows it, a page of them, and a decision's body."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "MAX_REASON_CHARS",
    "Approval",
    "ApprovalDecision",
    "ApprovalList",
    "ApprovalPending",
]

ApprovalStatus = Literal["pending", "approved", "denied", "used", "expired"]
ApprovalKind = Literal["request", "reveal"]

MAX_REASON_CHARS = 500
"""An agent's stated reason is a sentence for a person, not a document."""


class ApprovalPending(msgspec.Struct, rename="camel"):
    """202 from a brokered request a rule holds for a person; nothing was sent."""

    approval_id: str
    status: Literal["pending"]
    approval_url: Annotated[str, Meta(description="Where a person approves or denies it")]
    expires_at: datetime


class Approval(msgspec.Struct, rename="camel"):
    """One request that needed a person: what would be sent (never the body, only
    its size), who asked, and what was decided. Never a secret."""

    approval_id: str
    status: ApprovalStatus
    credential_name: str
    method: str
    host: str
    path: Annotated[str, Meta(description="The path as it will be sent (no query string)")]
    body_size: int
    requested_by: Annotated[str, Meta(description="Display prefix of the key that asked")]
    created_at: datetime
    expires_at: datetime
    approval_url: str
    decided_at: datetime | None = None
    decided_by: Annotated[
        str | None, Meta(description="Display prefix of the key that decided")
    ] = None
    window_until: Annotated[
        datetime | None,
        Meta(description="Until when the same rule needs no new approval"),
    ] = None
    used_at: datetime | None = None
    reason: Annotated[
        str | None,
        Meta(description="What the agent said it needs this for: its own words, plain text"),
    ] = None
    kind: Annotated[
        ApprovalKind,
        Meta(
            description="request: a brokered request (fetch, proxy); reveal: a GET of the "
            "credential's secret (metadata.reveal is approval)"
        ),
    ] = "request"
    requested_label: Annotated[
        str | None, Meta(description="The label of the key that asked, if it has one")
    ] = None


class ApprovalList(msgspec.Struct, rename="camel"):
    approvals: list[Approval]
    count: int


class ApprovalDecision(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """``POST /v0/approvals/{id}/approve``'s optional body."""

    window_seconds: (
        Annotated[
            int,
            Meta(
                ge=0,
                le=30 * 86400,
                description="Let the same rule through for this long without asking again "
                "(default: the rule's approval.windowSeconds; 0: this request only)",
            ),
        ]
        | None
    ) = None
