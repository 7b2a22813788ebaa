"""Where MCP tools send their calls: the core service (``/mcp`` inside the
server) or the SDK (``loomal mcp`` over stdio). Either way the vault's rules
run once, in the core: these classes only forward. The platform tools
(``identities_*``, with a platform key) have a backend of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from msgspec.structs import replace

from loomal.client import AsyncLoomal, AsyncLoomalPlatform
from loomal.core.access_request_models import AccessRequestCreate, AccessRequestCreated
from loomal.core.identities import IdentityService
from loomal.core.models import (
    Credential,
    CredentialList,
    FetchRequest,
    FetchResponse,
    IdentityResponse,
    StoreRequest,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.platform_models import (
    CreateIdentityRequest,
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
    UpdateIdentityRequest,
)
from loomal.core.principals import Principal
from loomal.core.service import VaultService
from loomal.errors import ApprovalPendingError

if TYPE_CHECKING:  # the stdio server (SdkBackend) never loads the broker
    from loomal.broker.service import BrokerService
    from loomal.core.access_requests import AccessRequestService

__all__ = [
    "PlatformBackend",
    "SdkBackend",
    "SdkPlatformBackend",
    "ServiceBackend",
    "VaultBackend",
]


class VaultBackend(Protocol):
    async def list(self, limit: int, cursor: str | None) -> CredentialList: ...
    async def get(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> Credential: ...
    async def totp(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> TotpResponse: ...
    async def totp_use_backup(self, name: str) -> TotpBackupResponse: ...
    async def store(self, name: str, request: StoreRequest) -> StoreResponse: ...
    async def delete(self, name: str) -> None: ...
    async def fetch(self, name: str, request: FetchRequest) -> FetchResponse: ...
    async def request(self, ask: AccessRequestCreate) -> AccessRequestCreated: ...
    async def whoami(self) -> IdentityResponse: ...


class ServiceBackend:
    """Calls the core services as ``principal`` (authenticated from the MCP request)."""

    def __init__(
        self,
        service: VaultService,
        identities: IdentityService,
        broker: BrokerService,
        principal: Principal,
        origin: str = "",
        *,
        requests: AccessRequestService,
    ) -> None:
        """``origin``: ``scheme://host`` the MCP request came to, on which a relative
        approvalUrl (no ``--public-url``) is made absolute for the model to relay."""
        self._service = service
        self._identities = identities
        self._broker = broker
        self._principal = principal
        self._origin = origin
        self._requests = requests

    @contextmanager
    def _absolute_urls(self) -> Iterator[None]:
        try:
            yield
        except ApprovalPendingError as held:
            if held.approval_url.startswith("/"):
                held.approval_url = self._origin + held.approval_url
            raise

    async def list(self, limit: int, cursor: str | None) -> CredentialList:
        return await self._service.list_credentials(self._principal, limit=limit, cursor=cursor)

    async def get(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> Credential:
        with self._absolute_urls():
            return await self._service.get_credential(
                self._principal, name, approval_id=approval_id, reason=reason
            )

    async def totp(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> TotpResponse:
        with self._absolute_urls():
            return await self._service.totp(
                self._principal, name, approval_id=approval_id, reason=reason
            )

    async def totp_use_backup(self, name: str) -> TotpBackupResponse:
        return await self._service.totp_use_backup(self._principal, name)

    async def store(self, name: str, request: StoreRequest) -> StoreResponse:
        stored, _ = await self._service.store_credential(self._principal, name, request)
        return stored

    async def delete(self, name: str) -> None:
        await self._service.delete_credential(self._principal, name)

    async def fetch(self, name: str, request: FetchRequest) -> FetchResponse:
        with self._absolute_urls():
            return await self._broker.fetch(self._principal, name, request)

    async def request(self, ask: AccessRequestCreate) -> AccessRequestCreated:
        created = await self._requests.create(self._principal, ask)
        if created.url.startswith("/"):  # no --public-url: on the origin, for the model
            created = replace(created, url=self._origin + created.url)
        return created

    async def whoami(self) -> IdentityResponse:
        return await self._identities.whoami(self._principal)


class SdkBackend:
    """Calls a running vault server through the async SDK."""

    def __init__(self, client: AsyncLoomal) -> None:
        self._client = client
        self._vault = client.vault
        self._identity = client.identity

    async def list(self, limit: int, cursor: str | None) -> CredentialList:
        return await self._vault.list(limit=limit, cursor=cursor)

    async def get(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> Credential:
        return await self._vault.get(name, approval_id=approval_id, reason=reason)

    async def totp(
        self, name: str, approval_id: str | None = None, reason: str | None = None
    ) -> TotpResponse:
        return await self._vault.totp(name, approval_id=approval_id, reason=reason)

    async def totp_use_backup(self, name: str) -> TotpBackupResponse:
        return await self._vault.totp_use_backup(name)

    async def store(self, name: str, request: StoreRequest) -> StoreResponse:
        extra: dict[str, Any] = {}
        if request.metadata is not None:
            extra["metadata"] = request.metadata
        if request.expires_at is not None:
            extra["expires_at"] = request.expires_at
        return await self._vault.store(name, request.type, request.data, **extra)

    async def delete(self, name: str) -> None:
        await self._vault.delete(name)

    async def fetch(self, name: str, request: FetchRequest) -> FetchResponse:
        return await self._vault.fetch(
            name,
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=request.body,
            approval_id=request.approval_id,
            reason=request.reason,
        )

    async def request(self, ask: AccessRequestCreate) -> AccessRequestCreated:
        return await self._client.requests.create(
            ask.name, ask.type, ask.reason, allowed_hosts=ask.allowed_hosts
        )

    async def whoami(self) -> IdentityResponse:
        return await self._identity.whoami()


class PlatformBackend(Protocol):
    async def create(self, request: CreateIdentityRequest) -> CreateIdentityResponse: ...
    async def list(self, limit: int | None, page_token: str | None) -> IdentityList: ...
    async def get(self, identity_id: str) -> IdentityDetail: ...
    async def update(self, identity_id: str, request: UpdateIdentityRequest) -> IdentitySummary: ...
    async def delete(self, identity_id: str) -> None: ...
    async def rotate_key(self, identity_id: str) -> RotateKeyResponse: ...


class SdkPlatformBackend:
    """Calls a running vault server's platform API through the async SDK."""

    def __init__(self, client: AsyncLoomalPlatform) -> None:
        self._identities = client.identities

    async def create(self, request: CreateIdentityRequest) -> CreateIdentityResponse:
        return await self._identities.create(
            purpose=request.purpose,
            name=request.name,
            email_name=request.email_name,
            scopes=request.scopes,
        )

    async def list(self, limit: int | None, page_token: str | None) -> IdentityList:
        return await self._identities.list(limit, page_token)

    async def get(self, identity_id: str) -> IdentityDetail:
        return await self._identities.get(identity_id)

    async def update(self, identity_id: str, request: UpdateIdentityRequest) -> IdentitySummary:
        return await self._identities.update(
            identity_id,
            name=request.name,
            add_scopes=request.add_scopes,
            remove_scopes=request.remove_scopes,
        )

    async def delete(self, identity_id: str) -> None:
        await self._identities.delete(identity_id)

    async def rotate_key(self, identity_id: str) -> RotateKeyResponse:
        return await self._identities.rotate_key(identity_id)
