"""``loomal.requests``: agents ask for the credentials they lack, people answer
(``/v0/requests``), sync and async. Each method only sends a
:class:`~loomal.client._base.Call` built in ``_base.calls``, so nothing is
written twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loomal.client._base import calls
from loomal.core.access_request_models import (
    AccessRequest,
    AccessRequestCreated,
    AccessRequestList,
)

if TYPE_CHECKING:
    from loomal.client.async_ import AsyncClient
    from loomal.client.sync import SyncClient

__all__ = ["AsyncRequests", "Requests"]


class Requests:
    """``loomal.requests``."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    def create(
        self,
        name: str,
        type: str,  # noqa: A002 (the wire's name)
        reason: str,
        *,
        allowed_hosts: Sequence[str] | None = None,
    ) -> AccessRequestCreated:
        """Ask a person for a credential this identity lacks (POST /v0/requests): the
        answer's ``url`` is where they fill it in; poll :meth:`get` for the outcome."""
        return self._client.send(calls.create_request(name, type, reason, allowed_hosts))

    def get(self, request_id: str) -> AccessRequest:
        """One request and its status (GET /v0/requests/{id}): pending, fulfilled,
        declined or expired; never a secret."""
        return self._client.send(calls.get_request(request_id))

    def list(self, *, status: str | None = None, limit: int | None = None) -> AccessRequestList:
        """The identity's requests, pending first (GET /v0/requests)."""
        return self._client.send(calls.list_requests(status, limit))

    def fulfill(
        self,
        request_id: str,
        data: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
        replace_version: int | None = None,
    ) -> AccessRequest:
        """Store the requested credential (POST /v0/requests/{id}/fulfill; vault:write).
        Create-only unless ``replace_version`` names the held version it replaces."""
        return self._client.send(
            calls.fulfill_request(request_id, data, metadata, expires_at, replace_version)
        )

    def decline(self, request_id: str) -> AccessRequest:
        """Decline a request (POST /v0/requests/{id}/decline; vault:write or vault:approve)."""
        return self._client.send(calls.decline_request(request_id))


class AsyncRequests:
    """``loomal.requests`` of :class:`~loomal.AsyncLoomal`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        name: str,
        type: str,  # noqa: A002 (the wire's name)
        reason: str,
        *,
        allowed_hosts: Sequence[str] | None = None,
    ) -> AccessRequestCreated:
        """Ask a person for a credential this identity lacks (POST /v0/requests)."""
        return await self._client.send(calls.create_request(name, type, reason, allowed_hosts))

    async def get(self, request_id: str) -> AccessRequest:
        """One request and its status (GET /v0/requests/{id})."""
        return await self._client.send(calls.get_request(request_id))

    async def list(
        self, *, status: str | None = None, limit: int | None = None
    ) -> AccessRequestList:
        """The identity's requests, pending first (GET /v0/requests)."""
        return await self._client.send(calls.list_requests(status, limit))

    async def fulfill(
        self,
        request_id: str,
        data: Mapping[str, Any],
        *,
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
        replace_version: int | None = None,
    ) -> AccessRequest:
        """Store the requested credential (POST /v0/requests/{id}/fulfill)."""
        return await self._client.send(
            calls.fulfill_request(request_id, data, metadata, expires_at, replace_version)
        )

    async def decline(self, request_id: str) -> AccessRequest:
        """Decline a request (POST /v0/requests/{id}/decline)."""
        return await self._client.send(calls.decline_request(request_id))
