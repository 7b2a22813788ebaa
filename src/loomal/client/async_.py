"""The asynchronous client: ``AsyncLoomal``, the same methods as coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx

from loomal.client._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, BaseClient, Call, calls
from loomal.core.models import (
    BackupCode,
    Credential,
    CredentialPage,
    CredentialSummary,
    StoreResponse,
    TotpCodeResponse,
)

__all__ = ["AsyncLoomal"]

T = TypeVar("T")


class AsyncLoomal(BaseClient):
    """The asynchronous Loomal Vault client (``async with AsyncLoomal() as loomal``)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self.vault = AsyncVault(self)

    async def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.send(self.build_request(self._http, call))
            except httpx.TransportError as exc:
                delay = self.retry_delay(call, attempt, None)
                if delay is None:
                    raise self.connection_error(exc) from None
            else:
                delay = self.retry_delay(call, attempt, response)
                if delay is None:
                    return self.parse(call, response)
            await asyncio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncLoomal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncVault:
    """``loomal.vault`` of :class:`AsyncLoomal`."""

    def __init__(self, client: AsyncLoomal) -> None:
        self._client = client

    async def store(
        self,
        name: str,
        *,
        type: str,  # noqa: A002 - the seed's spelling
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> StoreResponse:
        """Create or overwrite a credential (PUT /v0/vault/{name})."""
        return await self._client.send(
            calls.store(name, type=type, data=data, metadata=metadata, expires_at=expires_at)
        )

    async def get(self, name: str) -> Credential:
        """The credential with its decrypted data (GET /v0/vault/{name})."""
        return await self._client.send(calls.get(name))

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> CredentialPage:
        """One page of summaries, no secrets (GET /v0/vault)."""
        return await self._client.send(calls.list(limit, cursor))

    async def iter(self, *, page_size: int = 100) -> AsyncIterator[CredentialSummary]:
        """Every credential's summary, following ``nextCursor`` page after page."""
        cursor: str | None = None
        while True:
            page = await self.list(limit=page_size, cursor=cursor)
            for item in page.credentials:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def delete(self, name: str) -> None:
        """Delete a credential (DELETE /v0/vault/{name})."""
        await self._client.send(calls.delete(name))

    async def totp(self, name: str) -> TotpCodeResponse:
        """The current TOTP code and how long it stays valid (GET /v0/vault/{name}/totp)."""
        return await self._client.send(calls.totp(name))

    async def totp_use_backup(self, name: str) -> BackupCode:
        """Consume one backup code atomically (POST /v0/vault/{name}/totp/backup)."""
        return await self._client.send(calls.totp_use_backup(name))
