"""Wire shapes, defined once as msgspec Structs.

The server encodes them, Litestar derives the OpenAPI document from them, the
MCP tools use them as output schemas, and the SDK decodes responses into them.
Field names are snake_case in Python and camelCase on the wire. Structs that
hold secret values mask them in ``repr``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = [
    "ApiKeyInfo",
    "AuditEntry",
    "AuditPage",
    "BackupCode",
    "Credential",
    "CredentialPage",
    "CredentialSummary",
    "DeleteResult",
    "ErrorBody",
    "ErrorDetail",
    "IdentityCreated",
    "IdentityInfo",
    "StoreRequest",
    "StoreResponse",
    "TotpCodeResponse",
]


class _CamelAliases:
    """Lets SDK users read ``credential.credentialId`` as well as ``credential_id``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
        if snake != name:
            return getattr(self, snake)
        raise AttributeError(name)


def _masked_data(data: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: '***'" for k in data) + "}"


class StoreRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    type: Annotated[
        str,
        Meta(
            description="One of: LOGIN, API_KEY, OAUTH, TOTP, SSH_KEY, DATABASE, SMTP, AWS, "
            "CERTIFICATE, CUSTOM"
        ),
    ]
    data: Annotated[dict[str, Any], Meta(description="Secret fields (encrypted at rest)")]
    metadata: Annotated[
        dict[str, Any] | None,
        Meta(description="Non-secret fields (stored as plaintext for display)"),
    ] = None
    expires_at: Annotated[str | None, Meta(description="Expiry date (ISO 8601)")] = None

    def __repr__(self) -> str:
        return f"StoreRequest(type={self.type!r}, data={_masked_data(self.data)})"


class StoreResponse(_CamelAliases, msgspec.Struct, rename="camel"):
    credential_id: str
    type: str
    name: str
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CredentialSummary(_CamelAliases, msgspec.Struct, rename="camel"):
    credential_id: str
    name: str
    type: str
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    expired: bool


class Credential(_CamelAliases, msgspec.Struct, rename="camel"):
    credential_id: str
    name: str
    type: str
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    expired: bool
    data: Annotated[
        dict[str, Any],
        Meta(description="Decrypted secret fields; a TOTP secret reads as [REDACTED]"),
    ]

    def __repr__(self) -> str:
        return (
            f"Credential(name={self.name!r}, type={self.type!r}, "
            f"credential_id={self.credential_id!r}, data={_masked_data(self.data)})"
        )


class CredentialPage(_CamelAliases, msgspec.Struct, rename="camel"):
    credentials: list[CredentialSummary]
    next_cursor: str | None


class TotpCodeResponse(_CamelAliases, msgspec.Struct, rename="camel"):
    code: str
    backup_codes_remaining: int
    period: int
    expires_at: datetime
    seconds_remaining: int

    def __repr__(self) -> str:
        return f"TotpCode(code='***', seconds_remaining={self.seconds_remaining})"


class BackupCode(_CamelAliases, msgspec.Struct, rename="camel"):
    code: str
    backup_codes_remaining: int

    def __repr__(self) -> str:
        return f"BackupCode(code='***', backup_codes_remaining={self.backup_codes_remaining})"


class DeleteResult(msgspec.Struct):
    """What ``vault.delete`` (MCP) answers; HTTP answers 204 with no body."""

    name: str
    deleted: bool


class AuditEntry(_CamelAliases, msgspec.Struct, rename="camel"):
    """One audit event as the API shows it: never a secret or a request body."""

    event_id: int
    at: datetime
    action: Annotated[
        str, Meta(description="store, get, list, totp, totp_backup, delete or authenticate")
    ]
    credential_name: str | None
    outcome: Annotated[str, Meta(description="ok, or the error code the caller got")]
    identity_id: str | None
    actor_identity_id: str | None
    key_prefix: str | None
    client: str | None


class AuditPage(_CamelAliases, msgspec.Struct, rename="camel"):
    events: list[AuditEntry]
    next_cursor: str | None


class ErrorDetail(msgspec.Struct):
    code: Annotated[str, Meta(pattern="^[a-z][a-z0-9_]*$")]
    message: str


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class ApiKeyInfo(_CamelAliases, msgspec.Struct, rename="camel"):
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class IdentityInfo(_CamelAliases, msgspec.Struct, rename="camel"):
    identity_id: str
    name: str
    created_at: datetime
    keys: list[ApiKeyInfo]


class IdentityCreated(msgspec.Struct, rename="camel"):
    identity_id: str
    name: str
    api_key: str
    scopes: list[str]

    def __repr__(self) -> str:
        return f"IdentityCreated(name={self.name!r}, api_key='loid-***')"
