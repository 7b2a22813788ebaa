"""``LoomalPlatform`` and ``AsyncLoomalPlatform``: provisioning identities with a
platform key (``lopk-...``), as the official SDK's clients of the same names.

``api_key`` defaults to ``LOOMAL_PLATFORM_KEY``; ``base_url`` as for ``Loomal``
(``LOOMAL_API_URL``, its alias ``LOOMAL_BASE_URL``, else http://127.0.0.1:8470).
A platform key manages identities and never reads a credential: the identity
keys it hands out (``raw_key``) do that, with ``Loomal``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import ClassVar

import httpx

from loomal.client._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from loomal.client._platform import platform_calls
from loomal.client.async_ import AsyncClient
from loomal.client.sync import SyncClient
from loomal.core.platform_models import (
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
)

__all__ = [
    "AsyncLoomalPlatform",
    "AsyncPlatformIdentities",
    "LoomalPlatform",
    "PlatformIdentities",
]


class LoomalPlatform(SyncClient):
    """The platform client: ``LoomalPlatform(api_key="lopk-...").identities``."""

    key_env: ClassVar[str] = "LOOMAL_PLATFORM_KEY"
    key_name: ClassVar[str] = "platform key"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key, base_url, timeout, max_retries=max_retries, http_client=http_client
        )
        self.identities = PlatformIdentities(self)


class AsyncLoomalPlatform(AsyncClient):
    """The asynchronous platform client (``async with AsyncLoomalPlatform() as p``)."""

    key_env: ClassVar[str] = "LOOMAL_PLATFORM_KEY"
    key_name: ClassVar[str] = "platform key"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key, base_url, timeout, max_retries=max_retries, http_client=http_client
        )
        self.identities = AsyncPlatformIdentities(self)


class PlatformIdentities:
    """``platform.identities``, with the official SDK's signatures."""

    def __init__(self, client: LoomalPlatform) -> None:
        self._client = client

    def create(
        self,
        *,
        purpose: str | None = None,
        name: str | None = None,
        email_name: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> CreateIdentityResponse:
        """A new identity and its key, ``raw_key``, shown this once (POST
        /v0/platform/identities). Every argument is optional."""
        return self._client.send(
            platform_calls.create(purpose=purpose, name=name, email_name=email_name, scopes=scopes)
        )

    def list(self, limit: int | None = None, page_token: str | None = None) -> IdentityList:
        """One page of identities (GET /v0/platform/identities): ``.identities``,
        ``.count``, ``.next_page_token``; also indexable as the official SDK's dict."""
        return self._client.send(platform_calls.list(limit, page_token))

    def iter(self, *, page_size: int = 100) -> Iterator[IdentitySummary]:
        """Every identity, one page of ``page_size`` at a time."""
        token: str | None = None
        while True:
            page = self.list(page_size, token)
            yield from page.identities
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def get(self, identity_id: str) -> IdentityDetail:
        """One identity and its key's prefix (GET /v0/platform/identities/{identityId})."""
        return self._client.send(platform_calls.get(identity_id))

    def update(
        self,
        identity_id: str,
        *,
        name: str | None = None,
        add_scopes: Sequence[str] | None = None,
        remove_scopes: Sequence[str] | None = None,
    ) -> IdentitySummary:
        """Rename and/or change scopes (PATCH /v0/platform/identities/{identityId})."""
        return self._client.send(
            platform_calls.update(
                identity_id, name=name, add_scopes=add_scopes, remove_scopes=remove_scopes
            )
        )

    def update_scopes(
        self,
        identity_id: str,
        add_scopes: Sequence[str] | None = None,
        remove_scopes: Sequence[str] | None = None,
    ) -> IdentitySummary:
        """The official SDK's older name for ``update`` with scopes only."""
        return self.update(identity_id, add_scopes=add_scopes, remove_scopes=remove_scopes)

    def delete(self, identity_id: str) -> None:
        """Delete an identity, its keys and its credentials (DELETE ..., 204)."""
        self._client.send(platform_calls.delete(identity_id))

    def rotate_key(self, identity_id: str) -> RotateKeyResponse:
        """A new key for the identity; the old one stops working (POST .../rotate-key).
        Never retried."""
        return self._client.send(platform_calls.rotate_key(identity_id))


class AsyncPlatformIdentities:
    """``platform.identities`` of :class:`AsyncLoomalPlatform`: the same methods, awaited."""

    def __init__(self, client: AsyncLoomalPlatform) -> None:
        self._client = client

    async def create(
        self,
        *,
        purpose: str | None = None,
        name: str | None = None,
        email_name: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> CreateIdentityResponse:
        """A new identity and its key, ``raw_key``, shown this once (POST
        /v0/platform/identities). Every argument is optional."""
        return await self._client.send(
            platform_calls.create(purpose=purpose, name=name, email_name=email_name, scopes=scopes)
        )

    async def list(self, limit: int | None = None, page_token: str | None = None) -> IdentityList:
        """One page of identities (GET /v0/platform/identities)."""
        return await self._client.send(platform_calls.list(limit, page_token))

    async def iter(self, *, page_size: int = 100) -> AsyncIterator[IdentitySummary]:
        """Every identity, one page of ``page_size`` at a time."""
        token: str | None = None
        while True:
            page = await self.list(page_size, token)
            for identity in page.identities:
                yield identity
            if page.next_page_token is None:
                return
            token = page.next_page_token

    async def get(self, identity_id: str) -> IdentityDetail:
        """One identity and its key's prefix (GET /v0/platform/identities/{identityId})."""
        return await self._client.send(platform_calls.get(identity_id))

    async def update(
        self,
        identity_id: str,
        *,
        name: str | None = None,
        add_scopes: Sequence[str] | None = None,
        remove_scopes: Sequence[str] | None = None,
    ) -> IdentitySummary:
        """Rename and/or change scopes (PATCH /v0/platform/identities/{identityId})."""
        return await self._client.send(
            platform_calls.update(
                identity_id, name=name, add_scopes=add_scopes, remove_scopes=remove_scopes
            )
        )

    async def update_scopes(
        self,
        identity_id: str,
        add_scopes: Sequence[str] | None = None,
        remove_scopes: Sequence[str] | None = None,
    ) -> IdentitySummary:
        """The official SDK's older name for ``update`` with scopes only."""
        return await self.update(identity_id, add_scopes=add_scopes, remove_scopes=remove_scopes)

    async def delete(self, identity_id: str) -> None:
        """Delete an identity, its keys and its credentials (DELETE ..., 204)."""
        await self._client.send(platform_calls.delete(identity_id))

    async def rotate_key(self, identity_id: str) -> RotateKeyResponse:
        """A new key for the identity; the old one stops working. Never retried."""
        return await self._client.send(platform_calls.rotate_key(identity_id))
