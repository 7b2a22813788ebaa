"""The synchronous client: ``Loomal(api_key=..., base_url=...)``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
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

__all__ = ["Loomal"]

T = TypeVar("T")


class Loomal(BaseClient):
    """A Loomal Vault client. ``api_key`` and ``base_url`` default to
    ``LOOMAL_API_KEY`` and ``LOOMAL_BASE_URL`` (else http://127.0.0.1:8470)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self.vault = Vault(self)

    def send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.send(self.build_request(self._http, call))
            except httpx.TransportError as exc:
                delay = self.retry_delay(call, attempt, None)
                if delay is None:
                    raise self.connection_error(exc) from None
            else:
                delay = self.retry_delay(call, attempt, response)
                if delay is None:
                    return self.parse(call, response)
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Loomal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Vault:
    """``loomal.vault``: the vault endpoints."""

    def __init__(self, client: Loomal) -> None:
        self._client = client

    def store(
        self,
        name: str,
        *,
        type: str,  # noqa: A002 - the seed's spelling
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> StoreResponse:
        """Create or overwrite a credential (PUT /v0/vault/{name})."""
        return self._client.send(
            calls.store(name, type=type, data=data, metadata=metadata, expires_at=expires_at)
        )

    def get(self, name: str) -> Credential:
        """The credential with its decrypted data (GET /v0/vault/{name})."""
        return self._client.send(calls.get(name))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> CredentialPage:
        """One page of summaries, no secrets (GET /v0/vault)."""
        return self._client.send(calls.list(limit, cursor))

    def iter(self, *, page_size: int = 100) -> Iterator[CredentialSummary]:
        """Every credential's summary, following ``nextCursor`` page after page."""
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page.credentials
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def delete(self, name: str) -> None:
        """Delete a credential (DELETE /v0/vault/{name})."""
        self._client.send(calls.delete(name))

    def totp(self, name: str) -> TotpCodeResponse:
        """The current TOTP code and how long it stays valid (GET /v0/vault/{name}/totp)."""
        return self._client.send(calls.totp(name))

    def totp_use_backup(self, name: str) -> BackupCode:
        """Consume one backup code atomically (POST /v0/vault/{name}/totp/backup)."""
        return self._client.send(calls.totp_use_backup(name))
