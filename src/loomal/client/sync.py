"""The synchronous client: ``Loomal(api_key=..., base_url=...)``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Self, TypeVar

import httpx

from loomal.client._base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    BaseClient,
    Call,
    FetchBody,
    calls,
)
from loomal.client.approvals import Approvals
from loomal.client.requests import Requests
from loomal.core.models import (
    ConnectRequest,
    ConnectStarted,
    Credential,
    CredentialList,
    CredentialSummary,
    FetchResponse,
    IdentityResponse,
    OAuthState,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.version_models import DeletedList, VersionList

__all__ = ["Loomal", "SyncClient"]

T = TypeVar("T")


class SyncClient(BaseClient):
    """Sends calls one at a time, retrying when the policy of :class:`BaseClient` says so.
    ``Loomal`` and ``LoomalPlatform`` are this with their resources."""

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
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Loomal(SyncClient):
    """A Loomal Vault client. ``api_key`` and ``base_url`` default to
    ``LOOMAL_API_KEY`` and ``LOOMAL_API_URL`` (or its alias ``LOOMAL_BASE_URL``; else
    http://127.0.0.1:8470)."""

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
        self.vault = Vault(self)
        self.identity = Identity(self)
        self.approvals = Approvals(self)
        self.requests = Requests(self)


class Vault:
    """``loomal.vault``: the vault endpoints, with the official SDK's signatures."""

    def __init__(self, client: Loomal) -> None:
        self._client = client

    def store(
        self,
        name: str,
        type: str,  # noqa: A002 - the seed's spelling
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
        *,
        if_match: int | str | None = None,
        if_none_match: Literal["*"] | None = None,
    ) -> StoreResponse:
        """Create or overwrite a credential (PUT /v0/vault/{name}). ``if_none_match="*"``
        only creates; ``if_match=3`` only replaces version 3 (``"*"``: any version).
        Otherwise :class:`~loomal.PreconditionFailedError` (412), nothing written."""
        call = calls.store(
            name, type, data, metadata, expires_at, if_match=if_match, if_none_match=if_none_match
        )
        return self._client.send(call)

    def store_api_key(
        self,
        name: str,
        secret_or_pair: str | Mapping[str, str],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> StoreResponse:
        """Store an API_KEY: a key string, or ``{"clientId": ..., "secret": ...}``."""
        return self._client.send(calls.store_api_key(name, secret_or_pair, metadata, expires_at))

    def store_card(
        self,
        name: str,
        card: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> StoreResponse:
        """Store a CARD (encrypted at rest; metadata gets ``last4``)."""
        return self._client.send(calls.store_card(name, card, metadata, expires_at))

    def store_shipping_address(
        self,
        name: str,
        address: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> StoreResponse:
        """Store a SHIPPING_ADDRESS (every field encrypted at rest)."""
        return self._client.send(calls.store_shipping_address(name, address, metadata, expires_at))

    def get(
        self,
        name: str,
        *,
        version: int | None = None,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> Credential:
        """The credential with its decrypted data (GET /v0/vault/{name}); ``version``:
        a kept version instead (``?version=N``, see :meth:`versions`). A credential
        marked ``reveal: "approval"`` raises :class:`~loomal.ApprovalPendingError` for
        an agent's key; repeat with ``approval_id=`` once a person approved."""
        return self._client.send(calls.get(name, version, approval_id, reason))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> CredentialList:
        """Every credential's summary, no secrets (GET /v0/vault); with ``limit``, one
        page and ``next_cursor``. Index it like the official SDK's dict:
        ``result["credentials"]``, ``result["count"]``."""
        return self._client.send(calls.list(limit, cursor))

    def iter(self, *, page_size: int = 100) -> Iterator[CredentialSummary]:
        """Every credential's summary, one page of ``page_size`` at a time."""
        cursor: str | None = None
        while True:
            page = self.list(limit=page_size, cursor=cursor)
            yield from page.credentials
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def delete(self, name: str, *, destroy: bool = False) -> None:
        """Delete a credential (DELETE /v0/vault/{name}): recoverable with
        :meth:`undelete` for the server's retention period; ``destroy=True`` removes
        it and every version now."""
        self._client.send(calls.delete(name, destroy))

    def versions(self, name: str) -> VersionList:
        """Its kept versions, newest first, no secrets (GET /v0/vault/{name}/versions)."""
        return self._client.send(calls.versions(name))

    def restore(self, name: str, version: int) -> StoreResponse:
        """Make kept ``version`` current again, as a new version
        (POST /v0/vault/{name}/versions/{version}/restore). Never retried."""
        return self._client.send(calls.restore(name, version))

    def undelete(self, name: str, *, as_name: str | None = None) -> StoreResponse:
        """Bring back a deleted credential (POST /v0/vault/{name}/undelete); ``as_name``
        when its name holds another credential now (else ConflictError, name_in_use)."""
        return self._client.send(calls.undelete(name, as_name))

    def deleted(self) -> DeletedList:
        """Deleted credentials that can still be undeleted (GET /v0/vault?deleted=true)."""
        return self._client.send(calls.deleted())

    def totp(
        self, name: str, *, approval_id: str | None = None, reason: str | None = None
    ) -> TotpResponse:
        """The current TOTP code, ``remaining`` seconds (GET /v0/vault/{name}/totp);
        ``approval_id``/``reason`` as for :meth:`get` (``reveal: "approval"``)."""
        return self._client.send(calls.totp(name, approval_id, reason))

    def oauth_refresh(self, name: str) -> OAuthState:
        """Refresh an OAUTH credential's access token now (POST
        /v0/vault/{name}/oauth/refresh); answers its state, never a token. ``get``
        already hands out a live token: this is for a token the provider revoked early."""
        return self._client.send(calls.oauth_refresh(name))

    def oauth_status(self, name: str) -> OAuthState:
        """Whether its token is live, expired or needs a person (GET /v0/vault/{name}/oauth)."""
        return self._client.send(calls.oauth_status(name))

    def oauth_connect(self, name: str, **settings: Any) -> ConnectStarted:
        """Start the connect flow (POST /v0/vault/{name}/oauth/connect): open
        ``authorize_url`` in a browser. ``settings``: provider, client_id,
        client_secret, token_url, authorize_url, auth_method, scopes, resource."""
        return self._client.send(calls.oauth_connect(name, ConnectRequest(**settings)))

    def totp_use_backup(self, name: str) -> TotpBackupResponse:
        """Consume one backup code atomically (POST /v0/vault/{name}/totp/backup);
        ``remaining`` is the number of unused codes left. Never retried."""
        return self._client.send(calls.totp_use_backup(name))

    def fetch(
        self,
        name: str,
        *,
        method: str = "GET",
        url: str,
        headers: Mapping[str, str] | None = None,
        body: FetchBody = None,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> FetchResponse:
        """Make an HTTP request with credential ``name`` injected, without ever receiving
        the secret (POST /v0/vault/{name}/fetch; needs vault:use). Only to the
        credential's ``metadata.allowedHosts``; the answer's ``status``, ``headers`` and
        ``body`` come back with the secret replaced by ``[REDACTED]`` (``.json()``,
        ``.content()`` to read the body). Never retried. When a rule holds the request
        for a person: :class:`~loomal.ApprovalPendingError` (its ``approval_id``,
        ``approval_url``); repeat with ``approval_id=`` once approved. ``reason``: why,
        in a sentence the person asked to approve reads (plain text, ≤ 500 chars)."""
        return self._client.send(calls.fetch(name, method, url, headers, body, approval_id, reason))


class Identity:
    """``loomal.identity``."""

    def __init__(self, client: Loomal) -> None:
        self._client = client

    def whoami(self) -> IdentityResponse:
        """The identity this client's key belongs to (GET /v0/whoami)."""
        return self._client.send(calls.whoami())
