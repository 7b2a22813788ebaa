"""Wire shapes of the platform API (``/v0/platform/identities``), defined once.

The hosted Loomal API's shapes, as its official SDKs read them (the class names
are theirs: ``IdentitySummary``, ``IdentityDetail``, ``CreateIdentityResponse``,
``RotateKeyResponse``). The server will encode them, the SDK decodes into them,
the MCP ``identities_*`` tools use them as output schemas. Conventions as in
:mod:`loomal.core.models`: snake_case fields, camelCase on the wire and as
read-only properties; a raw key is masked in ``repr``.

The official Python SDK returns plain dicts from ``identities.list()`` and
``identities.update()``; the structs here answer ``result["..."]`` with the
keys it used, so code written for it indexes ours unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "PLATFORM_KEY_PREFIX",
    "CreateIdentityRequest",
    "CreateIdentityResponse",
    "IdentityDeleted",
    "IdentityDetail",
    "IdentityList",
    "IdentityPurpose",
    "IdentitySummary",
    "RotateKeyResponse",
    "UpdateIdentityRequest",
]

PLATFORM_KEY_PREFIX = "lopk-"
"""How a platform key starts (an identity's key starts ``loid-``)."""

IdentityPurpose = Literal["BUYER", "SELLER"]


def _wire_item(struct: msgspec.Struct, key: str, extra: dict[str, str] | None = None) -> Any:
    """``struct[key]`` for a wire (camelCase) field name, or one of ``extra``'s aliases."""
    for field in msgspec.structs.fields(struct):
        if key == field.encode_name:
            return getattr(struct, field.name)
    if extra and key in extra:
        return getattr(struct, extra[key])
    raise KeyError(key)


class CreateIdentityRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``POST /v0/platform/identities``: every field optional."""

    name: Annotated[
        str | None, Meta(description="Display name; without it a fresh readable slug")
    ] = None
    scopes: Annotated[list[str] | None, Meta(description="Default: vault:read, vault:write")] = None
    purpose: Annotated[
        IdentityPurpose | None, Meta(description="BUYER (the default) or SELLER; stored")
    ] = None
    email_name: Annotated[
        str | None, Meta(description="Accepted and ignored: this server has no mail")
    ] = None


class UpdateIdentityRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``PATCH /v0/platform/identities/{identityId}``."""

    name: str | None = None
    add_scopes: list[str] | None = None
    remove_scopes: list[str] | None = None


class IdentitySummary(msgspec.Struct, rename="camel", kw_only=True):
    """An identity as the platform API lists it."""

    identity_id: str
    name: str
    type: Annotated[str, Meta(description="AGENT for every identity of a self-hosted vault")]
    purpose: IdentityPurpose
    email: Annotated[str | None, Meta(description="Always null: no mail here")] = None
    scopes: Annotated[list[str], Meta(description="The scopes of the identity's live keys")]
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime

    def __getitem__(self, key: str) -> Any:
        """``result["scopes"]``: the official SDK's ``update()`` returns the JSON as a dict."""
        return _wire_item(self, key)

    # The API's camelCase names, read-only.
    @property
    def identityId(self) -> str:
        return self.identity_id

    @property
    def usageCount(self) -> int:
        return self.usage_count

    @property
    def lastUsedAt(self) -> datetime | None:
        return self.last_used_at

    @property
    def createdAt(self) -> datetime:
        return self.created_at


class IdentityDetail(IdentitySummary, kw_only=True):
    """``GET /v0/platform/identities/{identityId}``: the summary and its key's prefix."""

    api_key_prefix: Annotated[str, Meta(description="The newest live key's display prefix")]

    @property
    def apiKeyPrefix(self) -> str:
        return self.api_key_prefix


class IdentityList(msgspec.Struct, rename="camel", omit_defaults=True):
    """``GET /v0/platform/identities``: one page, and the token of the next."""

    identities: list[IdentitySummary]
    count: Annotated[int, Meta(description="How many identities this page holds")]
    next_page_token: Annotated[
        str | None, Meta(description="Pass as pageToken for the next page; absent on the last")
    ] = None

    def __getitem__(self, key: str) -> Any:
        """``page["identities"]``, ``page["count"]`` and ``page["next_page_token"]``: the
        official SDK's ``list()`` returns that dict."""
        return _wire_item(self, key, {"next_page_token": "next_page_token"})

    @property
    def nextPageToken(self) -> str | None:
        return self.next_page_token


class CreateIdentityResponse(msgspec.Struct, rename="camel", kw_only=True):
    """What creating an identity answers, its key shown this once."""

    identity_id: str
    name: str
    type: str
    purpose: IdentityPurpose
    email_address: Annotated[str | None, Meta(description="Always null: no mail here")] = None
    scopes: list[str]
    api_key_prefix: str
    raw_key: Annotated[str, Meta(description="The identity's API key (loid-...), shown once")]
    created_at: datetime

    def __repr__(self) -> str:
        return (
            f"CreateIdentityResponse(identity_id={self.identity_id!r}, name={self.name!r}, "
            f"scopes={self.scopes!r}, api_key_prefix={self.api_key_prefix!r}, raw_key='***')"
        )

    @property
    def identityId(self) -> str:
        return self.identity_id

    @property
    def emailAddress(self) -> str | None:
        return self.email_address

    @property
    def apiKeyPrefix(self) -> str:
        return self.api_key_prefix

    @property
    def rawKey(self) -> str:
        return self.raw_key

    @property
    def createdAt(self) -> datetime:
        return self.created_at


class RotateKeyResponse(msgspec.Struct, rename="camel"):
    """``POST /v0/platform/identities/{identityId}/rotate-key``: the new key, shown once."""

    raw_key: str
    api_key_prefix: str

    def __repr__(self) -> str:
        return f"RotateKeyResponse(api_key_prefix={self.api_key_prefix!r}, raw_key='***')"

    @property
    def rawKey(self) -> str:
        return self.raw_key

    @property
    def apiKeyPrefix(self) -> str:
        return self.api_key_prefix


class IdentityDeleted(msgspec.Struct, rename="camel"):
    """What the ``identities_delete`` MCP tool answers; HTTP answers 204 with no body."""

    identity_id: str
    deleted: bool
