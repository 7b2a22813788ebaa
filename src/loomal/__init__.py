"""Loomal Vault: an encrypted credential vault for AI agents.

The names below are the SDK's public surface (see docs/sdk.md)::

    from loomal import Loomal, AsyncLoomal
"""

from __future__ import annotations

__version__ = "0.1.0"

from loomal.client import AsyncLoomal, Loomal
from loomal.core.models import (
    BackupCode,
    Credential,
    CredentialPage,
    CredentialSummary,
    StoreResponse,
)
from loomal.core.models import TotpCodeResponse as TotpCode
from loomal.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionError,  # noqa: A004 - the SDK's documented name
    ExpiredError,
    IntegrityError,
    LoomalError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    SealedError,
    ServerError,
    ValidationError,
)

__all__ = [
    "AsyncLoomal",
    "AuthenticationError",
    "BackupCode",
    "BadRequestError",
    "ConflictError",
    "ConnectionError",
    "Credential",
    "CredentialPage",
    "CredentialSummary",
    "ExpiredError",
    "IntegrityError",
    "Loomal",
    "LoomalError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "SealedError",
    "ServerError",
    "StoreResponse",
    "TotpCode",
    "ValidationError",
    "__version__",
]
