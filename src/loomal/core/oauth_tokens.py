"""OAUTH credentials that stay alive: the rules the core owns and the port it asks.

The core decides *when* an access token must be refreshed (expired, or expiring
within :data:`REFRESH_SKEW_SECONDS`), *what* a refresh writes (the new access
token, the rotated refresh token and ``metadata.expiresAt`` in one check-and-set
write of the next version, or nothing), and how a credential is marked when its
refresh token is refused (``metadata.oauthStatus: "needs_reauth"``). It does no
network I/O: it asks a :class:`LiveTokens` port (``loomal.oauth.refresh``, wired
in ``runtime.py``) for a live row, and that port calls the provider and comes
back here, to :class:`OAuthRows`, to write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from loomal.core.audit import AuditLog
from loomal.core.identity import Principal
from loomal.core.keys import KeyManager
from loomal.core.models import OAuthState
from loomal.core.store import CredentialRow, Store
from loomal.core.timestamps import from_micros, parse_iso8601, to_micros
from loomal.core.version_store import VersionNote
from loomal.errors import ConflictError, PreconditionFailedError, ValidationError

__all__ = [
    "NEEDS_REAUTH",
    "REFRESH_SKEW_SECONDS",
    "VAULT_HELD_FIELDS",
    "LiveTokens",
    "OAuthRows",
    "RefreshedTokens",
    "access_token_expiry",
    "is_refreshable",
    "needs_reauth_error",
    "oauth_state",
    "refresh_due",
]

REFRESH_SKEW_SECONDS = 60
"""A token expiring within this many seconds is refreshed before it is handed out,
so an agent never receives one that dies on its way to the provider."""

NEEDS_REAUTH = "needs_reauth"
"""``metadata.oauthStatus`` of a credential whose refresh token the provider refused."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class RefreshedTokens:
    """What a provider's token endpoint answered: masked in repr."""

    access_token: str
    refresh_token: str | None
    """None: the provider does not rotate; the stored one is kept."""
    expires_in: float | None

    def __repr__(self) -> str:
        return f"RefreshedTokens(access_token='***', expires_in={self.expires_in})"


class LiveTokens(Protocol):
    """The port: ``row`` with a live access token (refreshed first when due, or
    always with ``force``). Raises ConflictError ``needs_reauth`` when the provider
    refused the refresh token, ServiceUnavailableError when it could not answer and
    no valid token is left."""

    async def live(
        self, principal: Principal, row: CredentialRow, *, force: bool = False
    ) -> CredentialRow: ...


def stored_metadata(row: CredentialRow) -> dict[str, Any]:
    try:
        return _decode(row.metadata_json)
    except msgspec.DecodeError:
        return {}


def is_refreshable(row: CredentialRow) -> bool:
    """An OAUTH credential that names how to refresh it (``metadata.oauth``)."""
    return row.type == "OAUTH" and b'"oauth"' in row.metadata_json


def access_token_expiry(metadata: Mapping[str, Any]) -> float | None:
    """``metadata.expiresAt`` in seconds; None when absent (a token with no stated
    end is used until the provider refuses it)."""
    value = metadata.get("expiresAt")
    if not isinstance(value, str):
        return None
    try:
        return parse_iso8601(value, field="metadata.expiresAt") / 1_000_000
    except ValidationError:
        return 0.0  # unreadable: treat as expired, a refresh writes a good one


def refresh_due(metadata: Mapping[str, Any], now: float) -> bool:
    expiry = access_token_expiry(metadata)
    return expiry is not None and expiry - REFRESH_SKEW_SECONDS <= now


def needs_reauth_error(name: str) -> ConflictError:
    return ConflictError(
        f"{name!r}: the provider refused its refresh token (revoked, expired or reused); "
        "a person must connect it again (`loomal vault oauth connect`, or Connect in the "
        "console).",
        code=NEEDS_REAUTH,
        reason="invalid_grant",
    )


class OAuthRows:
    """The core's side of a refresh: open a row, write what the provider answered
    as the next version (only if the row is still the version the refresh started
    from), mark a credential as needing a person."""

    def __init__(
        self, store: Store, keys: KeyManager, audit: AuditLog, clock: Callable[[], float]
    ) -> None:
        self._store, self._keys, self._audit, self._clock = store, keys, audit, clock
        self.version_note: Callable[[Principal, str], VersionNote] | None = None
        """How a refresh enters the credential's history (the service's rule, set in
        ``runtime.py``): a refresh is a version like any write, kind ``oauth_refresh``."""

    def open(self, row: CredentialRow) -> dict[str, Any]:
        return _decode(self._keys.open(row.sealed(), row.binding()))

    async def current(self, row: CredentialRow) -> CredentialRow | None:
        return await self._store.get_credential(identity_id=row.identity_id, name=row.name)

    async def save_refreshed(
        self, principal: Principal, row: CredentialRow, tokens: RefreshedTokens
    ) -> CredentialRow:
        """The next version with the new tokens and ``expiresAt``, written only if
        ``row`` is still current: all three fields together, or nothing
        (PreconditionFailedError if another writer got there first)."""

        def change(data: dict[str, Any], metadata: dict[str, Any], now: float) -> None:
            data["accessToken"] = tokens.access_token
            if tokens.refresh_token:
                data["refreshToken"] = tokens.refresh_token
            if tokens.expires_in is None:
                metadata.pop("expiresAt", None)
            else:
                expiry = to_micros(now + tokens.expires_in)
                metadata["expiresAt"] = f"{from_micros(expiry):%Y-%m-%dT%H:%M:%SZ}"
            metadata.pop("oauthStatus", None)

        return await self._write(principal, row, change, rotated=True, kind="oauth_refresh")

    async def mark_needs_reauth(self, principal: Principal, row: CredentialRow) -> None:
        def change(data: dict[str, Any], metadata: dict[str, Any], now: float) -> None:
            metadata["oauthStatus"] = NEEDS_REAUTH

        # changed meanwhile (reconnected, or refreshed elsewhere): its state wins
        with contextlib.suppress(PreconditionFailedError):
            await self._write(principal, row, change, rotated=False, kind="oauth_needs_reauth")

    async def _write(
        self,
        principal: Principal,
        row: CredentialRow,
        change: Callable[[dict[str, Any], dict[str, Any], float], None],
        *,
        rotated: bool,
        kind: str,
    ) -> CredentialRow:
        async with self._audit.call(principal, "oauth_refresh", row.name, durable=True) as event:

            def modify(existing: CredentialRow | None) -> tuple[CredentialRow, CredentialRow]:
                if existing is None or existing.version != row.version:
                    raise PreconditionFailedError(
                        f"{row.name!r} changed while it was refreshed.", reason="changed"
                    )
                now = self._clock()
                data, metadata = self.open(existing), stored_metadata(existing)
                change(data, metadata, now)
                binding = msgspec.structs.replace(
                    existing.binding(),
                    version=existing.version + 1,
                    metadata_json=_encode(metadata),
                )
                new = CredentialRow.from_sealed(
                    self._keys.seal(_encode(data), binding),
                    binding,
                    created_at=existing.created_at,
                    updated_at=to_micros(now),
                    last_used_at=existing.last_used_at,
                    last_rotated_at=to_micros(now) if rotated else existing.last_rotated_at,
                )
                return new, new

            note = None if self.version_note is None else self.version_note(principal, kind)
            return await self._store.modify_credential(
                identity_id=row.identity_id,
                name=row.name,
                change=modify,
                audit=event,
                version_note=note,
            )


def oauth_state(row: CredentialRow, now: float) -> OAuthState:
    """What a status or forced refresh answers of ``row``: never a token."""
    metadata = stored_metadata(row)
    expiry = access_token_expiry(metadata)
    status = "live" if expiry is None or expiry > now else "expired"
    if metadata.get("oauthStatus") == NEEDS_REAUTH:
        status = NEEDS_REAUTH
    expires_at = metadata.get("expiresAt")
    return OAuthState(
        name=row.name,
        refreshable=is_refreshable(row),
        oauth_status=status,
        expires_at=expires_at if isinstance(expires_at, str) else None,
        version=row.version,
    )


VAULT_HELD_FIELDS = ("clientSecret", "refreshToken")
"""Fields of a refreshable credential that only the vault uses: never handed out, so
no agent can refresh on its own (and race the vault into a revoked family)."""
