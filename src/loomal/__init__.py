"""Loomal Vault: an encrypted credential vault for AI agents.

The names below are the SDK's public surface (see docs/sdk.md)::

    from loomal import Loomal, AsyncLoomal
    from loomal import LoomalPlatform, AsyncLoomalPlatform   # provisioning, with a lopk- key
"""

from __future__ import annotations

from loomal._version import __version__
from loomal.client import AsyncLoomal, AsyncLoomalPlatform, Loomal, LoomalPlatform
from loomal.core.access_request_models import (
    AccessRequest,
    AccessRequestCreated,
    AccessRequestList,
)
from loomal.core.approval_models import Approval, ApprovalList
from loomal.core.models import (
    Credential,
    CredentialList,
    CredentialSummary,
    FetchResponse,
    IdentityResponse,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.platform_models import (
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
)
from loomal.errors import (
    ApprovalPendingError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
    ConnectionError,  # noqa: A004 - the SDK's documented name
    ExpiredError,
    IntegrityError,
    LoomalError,
    MissingApiKeyError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    SealedError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)

# The official SDK's names for the same results, so type annotations written
# for it import unchanged.
CredentialMetadata = CredentialSummary
CredentialWithData = Credential

__all__ = [
    "AccessRequest",
    "AccessRequestCreated",
    "AccessRequestList",
    "Approval",
    "ApprovalList",
    "ApprovalPendingError",
    "AsyncLoomal",
    "AsyncLoomalPlatform",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "ConnectionError",
    "CreateIdentityResponse",
    "Credential",
    "CredentialList",
    "CredentialMetadata",
    "CredentialSummary",
    "CredentialWithData",
    "ExpiredError",
    "FetchResponse",
    "IdentityDetail",
    "IdentityList",
    "IdentityResponse",
    "IdentitySummary",
    "IntegrityError",
    "Loomal",
    "LoomalError",
    "LoomalPlatform",
    "MissingApiKeyError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "RotateKeyResponse",
    "SealedError",
    "ServerError",
    "ServiceUnavailableError",
    "StoreResponse",
    "TotpBackupResponse",
    "TotpResponse",
    "ValidationError",
    "__version__",
]
