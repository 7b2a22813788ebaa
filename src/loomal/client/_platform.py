"""The platform API's endpoints as data (no I/O): what ``LoomalPlatform`` and
``AsyncLoomalPlatform`` send, built once for both. Arguments and bodies are the
official SDK's (``loomal-sdk`` 0.6.2, ``platform_identities``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from loomal.client._base import Call
from loomal.core.platform_models import (
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
)

__all__ = ["platform_calls"]

_IDENTITIES = "/v0/platform/identities"


def _identity_path(identity_id: str, suffix: str = "") -> str:
    return f"{_IDENTITIES}/{quote(identity_id, safe='')}{suffix}"


class platform_calls:
    """Each docstring names its verb and path."""

    @staticmethod
    def create(
        *,
        purpose: str | None = None,
        name: str | None = None,
        email_name: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Call[CreateIdentityResponse]:
        """POST /v0/platform/identities. Never retried: a repeat would make a second
        identity (and the first one's key would never be seen)."""
        body: dict[str, Any] = {}
        if purpose is not None:
            body["purpose"] = purpose
        if name is not None:
            body["name"] = name
        if email_name is not None:
            body["emailName"] = email_name
        if scopes is not None:
            body["scopes"] = list(scopes)
        return Call("POST", _IDENTITIES, CreateIdentityResponse, json=body, idempotent=False)

    @staticmethod
    def list(limit: int | None = None, page_token: str | None = None) -> Call[IdentityList]:
        """GET /v0/platform/identities?limit=&pageToken="""
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = limit
        if page_token:
            params["pageToken"] = page_token
        return Call("GET", _IDENTITIES, IdentityList, params=params)

    @staticmethod
    def get(identity_id: str) -> Call[IdentityDetail]:
        """GET /v0/platform/identities/{identityId}"""
        return Call("GET", _identity_path(identity_id), IdentityDetail)

    @staticmethod
    def update(
        identity_id: str,
        *,
        name: str | None = None,
        add_scopes: Sequence[str] | None = None,
        remove_scopes: Sequence[str] | None = None,
    ) -> Call[IdentitySummary]:
        """PATCH /v0/platform/identities/{identityId}: rename, add or remove scopes
        (the same body twice leaves the same identity, so it is retried)."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if add_scopes:
            body["addScopes"] = list(add_scopes)
        if remove_scopes:
            body["removeScopes"] = list(remove_scopes)
        return Call("PATCH", _identity_path(identity_id), IdentitySummary, json=body)

    @staticmethod
    def delete(identity_id: str) -> Call[None]:
        """DELETE /v0/platform/identities/{identityId}: the identity, its keys and its
        credentials."""
        return Call("DELETE", _identity_path(identity_id), None)

    @staticmethod
    def rotate_key(identity_id: str) -> Call[RotateKeyResponse]:
        """POST /v0/platform/identities/{identityId}/rotate-key. Never retried: a repeat
        would revoke the key the first call made before anyone saw it."""
        return Call(
            "POST",
            _identity_path(identity_id, "/rotate-key"),
            RotateKeyResponse,
            idempotent=False,
        )
