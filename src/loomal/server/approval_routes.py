"""HTTP routes of ``/v0/approvals``: the person's side of request rules. Parse,
call :class:`loomal.core.approvals.ApprovalService`, return its model; every rule
(who may decide, once, never the key that asked) is the core's.

Registered behind the same ``before_request`` authentication as the vault routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter, QueryParameter
from msgspec.structs import replace

from loomal.core.approval_models import Approval, ApprovalDecision, ApprovalList
from loomal.core.approvals import ApprovalService
from loomal.core.models import ErrorBody
from loomal.server.routes import principal

__all__ = ["APPROVAL_ROUTES"]

_ERROR_TEXT = {
    400: "bad_request: malformed JSON",
    401: "Missing, unknown, revoked or expired API key",
    403: "insufficient_scope (deciding needs vault:approve or vault:write) or own_request "
    "(the key that asked never decides)",
    404: "No approval of this identity has that id",
    409: "approval_decided: already approved or denied",
    410: "approval_expired",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
}
_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ApprovalIdParam = Annotated[
    str, Parameter(description="The approval's id (apr_...)", max_length=200)
]


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_ERROR_TEXT[status])
        for status in sorted({400, 401, 422, 429, *statuses})
    }


def _approvals(request: Request[Any, Any, Any]) -> ApprovalService:
    approvals: ApprovalService = request.app.state.vault.approvals
    return approvals


def _absolute(request: Request[Any, Any, Any], approval: Approval) -> Approval:
    """A relative approvalUrl (no ``--public-url``) on the request's own origin."""
    if not approval.approval_url.startswith("/"):
        return approval
    return replace(approval, approval_url=str(request.base_url).rstrip("/") + approval.approval_url)


@get(
    "/v0/approvals",
    summary="List the identity's approvals, pending first",
    responses=_errors(),
    security=_SECURITY,
)
async def list_approvals(
    request: Request[Any, Any, Any],
    status: Annotated[
        str | None,
        QueryParameter(description="pending, approved, denied, used or expired"),
    ] = None,
    limit: Annotated[int, QueryParameter(description="At most this many (1..500)")] = 100,
) -> ApprovalList:
    listed = await _approvals(request).list_approvals(
        principal(request), status=status, limit=limit
    )
    return ApprovalList([_absolute(request, a) for a in listed.approvals], listed.count)


@get(
    "/v0/approvals/{approval_id:str}",
    summary="One approval: what would be sent, who asked, its status",
    responses=_errors(404),
    security=_SECURITY,
)
async def get_approval(request: Request[Any, Any, Any], approval_id: ApprovalIdParam) -> Approval:
    return _absolute(
        request, await _approvals(request).get_approval(principal(request), approval_id)
    )


@post(
    "/v0/approvals/{approval_id:str}/approve",
    summary="Approve a held request (vault:approve or vault:write; never the key that asked)",
    status_code=200,
    responses=_errors(403, 404, 409, 410),
    security=_SECURITY,
)
async def approve(
    request: Request[Any, Any, Any],
    approval_id: ApprovalIdParam,
    data: JSONBody[ApprovalDecision | None] = None,
) -> Approval:
    window = None if data is None else data.window_seconds
    approved = await _approvals(request).approve(
        principal(request), approval_id, window_seconds=window
    )
    return _absolute(request, approved)


@post(
    "/v0/approvals/{approval_id:str}/deny",
    summary="Deny a held request (vault:approve or vault:write; never the key that asked)",
    status_code=200,
    responses=_errors(403, 404, 409, 410),
    security=_SECURITY,
)
async def deny(request: Request[Any, Any, Any], approval_id: ApprovalIdParam) -> Approval:
    return _absolute(request, await _approvals(request).deny(principal(request), approval_id))


APPROVAL_ROUTES = [list_approvals, get_approval, approve, deny]
