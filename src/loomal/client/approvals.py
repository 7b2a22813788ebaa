"""``loomal.approvals``: the person's side of request rules (``/v0/approvals``),
sync and async. Each method only sends a :class:`~loomal.client._base.Call` built
in ``_base.calls``, so nothing is written twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loomal.client._base import calls
from loomal.core.approval_models import Approval, ApprovalList

if TYPE_CHECKING:
    from loomal.client.async_ import AsyncClient
    from loomal.client.sync import SyncClient

__all__ = ["Approvals", "AsyncApprovals"]


class Approvals:
    """``loomal.approvals``."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    def list(self, *, status: str | None = None, limit: int | None = None) -> ApprovalList:
        """The identity's approvals, pending first (GET /v0/approvals); ``status``:
        pending, approved, denied, used or expired."""
        return self._client.send(calls.list_approvals(status, limit))

    def get(self, approval_id: str) -> Approval:
        """One approval and its status (GET /v0/approvals/{id}): an agent polls this."""
        return self._client.send(calls.get_approval(approval_id))

    def approve(self, approval_id: str, *, window_seconds: int | None = None) -> Approval:
        """Approve a held request (POST /v0/approvals/{id}/approve; vault:approve or
        vault:write, never the key that asked). ``window_seconds``: let the same rule
        through for that long (default: the rule's)."""
        return self._client.send(calls.approve(approval_id, window_seconds))

    def deny(self, approval_id: str) -> Approval:
        """Deny a held request (POST /v0/approvals/{id}/deny)."""
        return self._client.send(calls.deny(approval_id))


class AsyncApprovals:
    """``loomal.approvals`` of :class:`~loomal.AsyncLoomal`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, status: str | None = None, limit: int | None = None) -> ApprovalList:
        """The identity's approvals, pending first (GET /v0/approvals)."""
        return await self._client.send(calls.list_approvals(status, limit))

    async def get(self, approval_id: str) -> Approval:
        """One approval and its status (GET /v0/approvals/{id})."""
        return await self._client.send(calls.get_approval(approval_id))

    async def approve(self, approval_id: str, *, window_seconds: int | None = None) -> Approval:
        """Approve a held request (POST /v0/approvals/{id}/approve)."""
        return await self._client.send(calls.approve(approval_id, window_seconds))

    async def deny(self, approval_id: str) -> Approval:
        """Deny a held request (POST /v0/approvals/{id}/deny)."""
        return await self._client.send(calls.deny(approval_id))
