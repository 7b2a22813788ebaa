"""HTTP routes of ``/v0/approvals``: the person's side of request rules. Parse,
call :class:`loomal.core.approvals.ApprovalService`, return its model; every rule
(who may decide, once, never the key that asked) is the core's.

Declared in ``server/endpoints.py``; the edge authenticates them like the vault routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import JSONBody, Parameter, QueryParameter
from msgspec.structs import replace

from loomal.core.approval_models import Approval, ApprovalDecision, ApprovalList
from loomal.core.approvals import ApprovalService
from loomal.server.routes import principal

__all__ = ["approve", "deny", "get_approval", "list_approvals"]

ApprovalIdParam = Annotated[
    str, Parameter(description="The approval's id (apr_...)", max_length=200)
]


def _approvals(request: Request[Any, Any, Any]) -> ApprovalService:
    approvals: ApprovalService = request.app.state.vault.approvals
    return approvals


def _absolute(request: Request[Any, Any, Any], approval: Approval) -> Approval:
    """A relative approvalUrl (no ``--public-url``) on the request's own origin."""
    if not approval.approval_url.startswith("/"):
        return approval
    return replace(approval, approval_url=str(request.base_url).rstrip("/") + approval.approval_url)


async def list_approvals(
    request: Request[Any, Any, Any],
    status: Annotated[
        str | None,
        QueryParameter(description="pending, approved, denied, used or expired"),
    ] = None,
    limit: Annotated[int, QueryParameter(description="At most this many (1..500)")] = 100,
) -> ApprovalList:
    listed = await _approvals(request).list_approvals(
        await principal(request), status=status, limit=limit
    )
    return ApprovalList([_absolute(request, a) for a in listed.approvals], listed.count)


async def get_approval(request: Request[Any, Any, Any], approval_id: ApprovalIdParam) -> Approval:
    return _absolute(
        request, await _approvals(request).get_approval(await principal(request), approval_id)
    )


async def approve(
    request: Request[Any, Any, Any],
    approval_id: ApprovalIdParam,
    data: JSONBody[ApprovalDecision | None] = None,
) -> Approval:
    window = None if data is None else data.window_seconds
    approved = await _approvals(request).approve(
        await principal(request), approval_id, window_seconds=window
    )
    return _absolute(request, approved)


async def deny(request: Request[Any, Any, Any], approval_id: ApprovalIdParam) -> Approval:
    return _absolute(request, await _approvals(request).deny(await principal(request), approval_id))
