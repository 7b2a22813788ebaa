"""Wire shapes, defined once as msgspec Structs.

The server encodes them, Litestar derives the OpenAPI document from them, the
MCP tools use them as output schemas, and the SDK decodes responses into them.
Field names are snake_case in Python and camelCase on the wire; the structs
the SDK returns also declare the wire's camelCase names as read-only properties
(``credential.credentialId``), so type checkers and editors see them. Properties
are not fields: they change nothing on the wire. Structs that hold secret values
mask them in ``repr``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "ApiKeyInfo",
    "AuditEntry",
    "AuditPage",
    "ConnectRequest",
    "ConnectStarted",
    "Credential",
    "CredentialList",
    "CredentialSummary",
    "DeleteResult",
    "ErrorBody",
    "FetchRequest",
    "FetchResponse",
    "IdentityCreated",
    "IdentityInfo",
    "IdentityResponse",
    "OAuthState",
    "StoreRequest",
    "StoreResponse",
    "TotpBackupResponse",
    "TotpResponse",
]


def _masked_data(data: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: '***'" for k in data) + "}"


_TYPES_DOC = (
    "One of: LOGIN, API_KEY, OAUTH, TOTP, SSH_KEY, DATABASE, SMTP, AWS, CERTIFICATE, CARD, "
    "SHIPPING_ADDRESS, CUSTOM"
)


class StoreRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    type: Annotated[str, Meta(description=_TYPES_DOC)]
    data: Annotated[dict[str, Any], Meta(description="Secret fields (encrypted at rest)")]
    metadata: Annotated[
        dict[str, Any] | None,
        Meta(description="Non-secret fields (stored as plaintext for display)"),
    ] = None
    expires_at: Annotated[str | None, Meta(description="Expiry date (ISO 8601)")] = None

    def __repr__(self) -> str:
        return f"StoreRequest(type={self.type!r}, data={_masked_data(self.data)})"


class StoreResponse(msgspec.Struct, rename="camel", kw_only=True):
    """What a store answers; the summary and the full credential extend it."""

    credential_id: str
    type: str
    name: str
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_rotated_at: Annotated[
        datetime | None, Meta(description="When an overwrite last changed data")
    ]
    version: Annotated[
        int, Meta(description="1 when created; every write adds one (an extra field)")
    ]

    # The API's camelCase names, read-only.
    @property
    def credentialId(self) -> str:
        return self.credential_id

    @property
    def expiresAt(self) -> datetime | None:
        return self.expires_at

    @property
    def createdAt(self) -> datetime:
        return self.created_at

    @property
    def updatedAt(self) -> datetime:
        return self.updated_at

    @property
    def lastRotatedAt(self) -> datetime | None:
        return self.last_rotated_at


class CredentialSummary(StoreResponse, kw_only=True):
    """A list item: never any field of ``data``."""

    last_used_at: datetime | None
    expired: bool

    # The API's camelCase names, read-only.
    @property
    def lastUsedAt(self) -> datetime | None:
        return self.last_used_at


class Credential(CredentialSummary, kw_only=True):
    has_totp: bool = msgspec.field(name="hasTOTP")
    data: Annotated[
        dict[str, Any],
        Meta(
            description="Decrypted secret fields; a TOTP seed (data.secret of a TOTP "
            "credential, data.totp of any other) reads as [use /v0/vault/:name/totp]"
        ),
    ]

    def __repr__(self) -> str:
        return (
            f"Credential(name={self.name!r}, type={self.type!r}, "
            f"credential_id={self.credential_id!r}, data={_masked_data(self.data)})"
        )

    # The API's camelCase names, read-only.
    @property
    def hasTotp(self) -> bool:
        return self.has_totp

    @property
    def hasTOTP(self) -> bool:
        return self.has_totp


_LIST_KEYS = {"credentials": "credentials", "count": "count", "nextCursor": "next_cursor"}


class CredentialList(msgspec.Struct, rename="camel", omit_defaults=True):
    """Every credential (no ``limit``), or one page of them and ``nextCursor``."""

    credentials: list[CredentialSummary]
    count: Annotated[int, Meta(description="How many credentials this answer holds")]
    next_cursor: Annotated[
        str | None, Meta(description="Pass as cursor for the next page; absent on the last")
    ] = None

    def __getitem__(self, key: str) -> Any:
        """``result["credentials"]`` and ``result["count"]``: the official SDK's
        ``vault.list()`` returns a dict, and code written for it indexes it."""
        try:
            return getattr(self, _LIST_KEYS[key])
        except KeyError:
            raise KeyError(key) from None

    # The API's camelCase names, read-only.
    @property
    def nextCursor(self) -> str | None:
        return self.next_cursor


class TotpResponse(msgspec.Struct, rename="camel"):
    code: str
    remaining: Annotated[int, Meta(description="Seconds this code stays valid")]
    backup_codes_remaining: int
    period: int
    expires_at: Annotated[datetime, Meta(description="When this code stops being current")]

    def __repr__(self) -> str:
        return f"TotpResponse(code='***', remaining={self.remaining})"

    # The API's camelCase names, read-only.
    @property
    def backupCodesRemaining(self) -> int:
        return self.backup_codes_remaining

    @property
    def expiresAt(self) -> datetime:
        return self.expires_at


class TotpBackupResponse(msgspec.Struct, rename="camel"):
    code: str
    remaining: Annotated[int, Meta(description="Unused backup codes left")]
    backup_codes_remaining: Annotated[int, Meta(description="The same number as remaining")]

    def __repr__(self) -> str:
        return f"TotpBackupResponse(code='***', remaining={self.remaining})"

    # The API's camelCase names, read-only.
    @property
    def backupCodesRemaining(self) -> int:
        return self.backup_codes_remaining


class IdentityResponse(msgspec.Struct, rename="camel"):
    """``GET /v0/whoami``: the caller's identity, with the fields the official SDK reads."""

    identity_id: str
    name: str
    email: str | None
    display_name: str
    type: Annotated[str, Meta(description="AGENT for every identity of a self-hosted vault")]
    purpose: Annotated[
        str, Meta(description="BUYER: the official SDK's default (no payments here)")
    ]
    scopes: Annotated[list[str], Meta(description="The scopes of the key that called")]
    usage_count: Annotated[int, Meta(description="Authenticated requests this identity made")]
    last_used_at: datetime | None
    created_at: datetime

    # The API's camelCase names, read-only.
    @property
    def identityId(self) -> str:
        return self.identity_id

    @property
    def displayName(self) -> str:
        return self.display_name

    @property
    def usageCount(self) -> int:
        return self.usage_count

    @property
    def lastUsedAt(self) -> datetime | None:
        return self.last_used_at

    @property
    def createdAt(self) -> datetime:
        return self.created_at


class DeleteResult(msgspec.Struct):
    """What ``vault.delete`` (MCP) answers; HTTP answers 204 with no body."""

    name: str
    deleted: bool


class AuditEntry(msgspec.Struct, rename="camel"):
    """One audit event as the API shows it: never a secret or a request body."""

    event_id: int
    at: datetime
    action: Annotated[
        str,
        Meta(
            description="store, get, list, totp, totp_use_backup, delete, fetch, proxy, "
            "approval_approve, approval_deny or authenticate"
        ),
    ]
    credential_name: str | None
    outcome: Annotated[str, Meta(description="ok, or the error code the caller got")]
    identity_id: str | None
    actor_identity_id: str | None
    key_prefix: str | None
    client: str | None
    detail: Annotated[
        str | None,
        Meta(description="fetch/proxy: method, host, path, upstream status, duration"),
    ] = None
    count: Annotated[
        int, Meta(description="Requests this event stands for (refusals are aggregated)")
    ] = 1
    key_label: Annotated[
        str | None,
        Meta(description="The label of the key that acted (a platform key's: its name)"),
    ] = None
    operator: Annotated[
        str | None,
        Meta(description="Server-host commands: the OS user who ran them (no key acted)"),
    ] = None

    # The API's camelCase names, read-only.
    @property
    def eventId(self) -> int:
        return self.event_id

    @property
    def credentialName(self) -> str | None:
        return self.credential_name

    @property
    def identityId(self) -> str | None:
        return self.identity_id

    @property
    def actorIdentityId(self) -> str | None:
        return self.actor_identity_id

    @property
    def keyPrefix(self) -> str | None:
        return self.key_prefix

    @property
    def keyLabel(self) -> str | None:
        return self.key_label


class AuditPage(msgspec.Struct, rename="camel"):
    events: list[AuditEntry]
    next_cursor: str | None

    # The API's camelCase names, read-only.
    @property
    def nextCursor(self) -> str | None:
        return self.next_cursor


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error, flat, as the hosted Loomal API and its SDK shape it."""

    error: Annotated[str, Meta(pattern="^[a-z][a-z0-9_]*$", description="Stable code")]
    message: str
    status: int
    reason: Annotated[
        str | None, Meta(description="A finer code, e.g. no_backup_codes, not_totp")
    ] = None


class ApiKeyInfo(msgspec.Struct, rename="camel"):
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    label: str | None = None

    # The API's camelCase names, read-only.
    @property
    def createdAt(self) -> datetime:
        return self.created_at

    @property
    def expiresAt(self) -> datetime | None:
        return self.expires_at

    @property
    def revokedAt(self) -> datetime | None:
        return self.revoked_at


class IdentityInfo(msgspec.Struct, rename="camel"):
    identity_id: str
    name: str
    created_at: datetime
    keys: list[ApiKeyInfo]

    # The API's camelCase names, read-only.
    @property
    def identityId(self) -> str:
        return self.identity_id

    @property
    def createdAt(self) -> datetime:
        return self.created_at


class IdentityCreated(msgspec.Struct, rename="camel"):
    identity_id: str
    name: str
    api_key: str
    scopes: list[str]
    label: str | None = None
    """The new key's label."""

    def __repr__(self) -> str:
        return f"IdentityCreated(name={self.name!r}, api_key='loid-***')"


BodyEncoding = Literal["text", "base64"]


class FetchRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """``POST /v0/vault/{name}/fetch``: the request the vault makes with the credential.
    ``method`` defaults to GET, as it does in every SDK, the CLI and the MCP tool."""

    method: Annotated[
        str, Meta(description="GET (the default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS")
    ] = "GET"
    url: Annotated[
        str, Meta(description="https:// URL on a host in the credential's metadata.allowedHosts")
    ]
    headers: Annotated[
        dict[str, str] | None,
        Meta(description="Extra headers; never Authorization, Cookie, Host or the injected one"),
    ] = None
    body: Annotated[
        str | dict[str, Any] | list[Any] | None,
        Meta(
            description="Text (or base64 with bodyEncoding), or a JSON object/array sent as "
            "application/json; at most 1 MiB"
        ),
    ] = None
    body_encoding: Annotated[
        BodyEncoding, Meta(description="How body is written: text (UTF-8) or base64")
    ] = "text"
    approval_id: Annotated[
        str | None,
        Meta(
            description="The approval a person gave this exact request (after a 202 "
            "approval_pending); used once",
        ),
    ] = None
    reason: (
        Annotated[
            str,
            Meta(
                max_length=500,
                description="Why the agent makes this request, in its own words (plain text, at "
                "most 500 characters): shown to the person asked to approve it",
            ),
        ]
        | None
    ) = None


class FetchResponse(msgspec.Struct, rename="camel"):
    """What the upstream answered, with every recognisable form of the secret
    replaced by ``[REDACTED]``."""

    status: Annotated[int, Meta(description="The upstream's HTTP status")]
    headers: Annotated[
        dict[str, str], Meta(description="Lower-case names; repeated headers joined by ', '")
    ]
    body: Annotated[str, Meta(description="UTF-8 text, or base64 when bodyEncoding is base64")]
    body_encoding: Annotated[
        BodyEncoding, Meta(description="text when the body decodes as UTF-8, else base64")
    ]
    url: Annotated[
        str, Meta(description="The URL that answered (after redirects), without its query")
    ]

    def json(self) -> Any:
        """The body parsed as JSON (a text body only)."""
        if self.body_encoding != "text":
            raise ValueError("The body is binary (base64), not JSON.")
        return msgspec.json.decode(self.body)

    def content(self) -> bytes:
        """The body as bytes, whichever way it was encoded."""
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return self.body.encode()

    # The API's camelCase names, read-only.
    @property
    def bodyEncoding(self) -> BodyEncoding:
        return self.body_encoding


class OAuthState(msgspec.Struct, rename="camel"):
    """``GET /v0/vault/{name}/oauth`` and ``POST .../oauth/refresh``: the state of an
    OAUTH credential's access token, never a token."""

    name: str
    refreshable: bool
    oauth_status: Annotated[
        str,
        Meta(description="live, expired (a refresh is due and was not made) or needs_reauth"),
    ]
    expires_at: str | None
    version: int

    @property
    def oauthStatus(self) -> str:
        return self.oauth_status

    @property
    def expiresAt(self) -> str | None:
        return self.expires_at


class ConnectRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """``POST /v0/vault/{name}/oauth/connect``: the client settings, or nothing to
    reuse those of the stored credential. Masked in repr."""

    provider: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    authorize_url: str | None = None
    auth_method: str | None = None
    scopes: list[str] | str | None = None
    resource: str | None = None

    def __repr__(self) -> str:
        return f"ConnectRequest(provider={self.provider!r}, client_id={self.client_id!r}, '***')"


class ConnectStarted(msgspec.Struct, rename="camel"):
    authorize_url: Annotated[
        str, Meta(description="Open it in a browser: the provider asks, then calls back")
    ]
    redirect_uri: str
    expires_at: datetime

    @property
    def authorizeUrl(self) -> str:
        return self.authorize_url

    @property
    def redirectUri(self) -> str:
        return self.redirect_uri

    @property
    def expiresAt(self) -> datetime:
        return self.expires_at
