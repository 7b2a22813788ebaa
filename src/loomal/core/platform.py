"""The platform API's rules: platform keys (``lopk-...``) and what they may do to
identities (create, list, read, rename, re-scope, rotate a key, delete).

A platform key is stored as an identity key is (its SHA-256 only), is
authenticated through the same kind of short cache, shares the failed-
authentication throttle and the per-key rate limit of identity keys, and every
change it makes is audited (in the changed identity's log, with the platform
key's prefix). It never reads a credential: no method here opens one.

An identity's scopes are, as the hosted API shows them, those of its live keys
(their union); changing them changes every live key's scopes. Rotating replaces
every key with one new key holding the same scopes; the old ones stop within
the auth-cache bound (at once in this process).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable

import msgspec

from loomal.core.audit import AuditLog
from loomal.core.identities import IdentityService
from loomal.core.models import ApiKeyInfo
from loomal.core.platform_models import (
    PLATFORM_KEY_PREFIX,
    CreateIdentityRequest,
    CreateIdentityResponse,
    IdentityDetail,
    IdentityList,
    IdentitySummary,
    RotateKeyResponse,
    UpdateIdentityRequest,
)
from loomal.core.platform_store import PlatformKeyRow
from loomal.core.ports import ApiKeyRow, AuditEvent, IdentityRow, Store
from loomal.core.principals import Scope, hash_api_key, parse_scopes
from loomal.core.slugs import readable_slug
from loomal.core.timestamps import from_micros, to_micros
from loomal.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

__all__ = ["PlatformPrincipal", "PlatformService", "check_display_name"]

DEFAULT_PAGE = 50
MAX_PAGE = 100
_DISPLAY_CHARS = 8
_CACHE_LIMIT = 1_000
_KNOWN_SCOPES = frozenset(s.value for s in Scope)


class PlatformPrincipal(msgspec.Struct, frozen=True):
    """A request made with a platform key."""

    key_prefix: str
    name: str
    client: str = ""


def check_display_name(name: str) -> None:
    """An identity's name on the platform API: 1-128 printable characters, no
    surrounding spaces, not shaped like a key (``loomal identity revoke`` takes a key
    prefix where a name may stand)."""
    if not 1 <= len(name) <= 128 or not name.isprintable() or name != name.strip():
        raise ValidationError(
            "name: 1-128 printable characters, without leading or trailing spaces."
        )
    if name.startswith(("loid-", PLATFORM_KEY_PREFIX)):
        raise ValidationError("name: must not start like an API key (loid-, lopk-).")


class PlatformService:
    def __init__(
        self,
        store: Store,
        identities: IdentityService,
        *,
        audit: AuditLog,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = 2.0,
    ) -> None:
        self._store = store
        self._identities = identities
        self._audit = audit
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, PlatformPrincipal]] = {}

    # -- platform keys (made on the server host) ---------------------------------

    async def create_key(self, name: str) -> tuple[str, PlatformKeyRow]:
        """A new platform key named ``name``; the key is returned only here."""
        if not 1 <= len(name) <= 128 or not name.isprintable():
            raise ValidationError("name: 1-128 printable characters.")
        key = PLATFORM_KEY_PREFIX + secrets.token_urlsafe(32)
        row = PlatformKeyRow(
            key_hash=hash_api_key(key),
            name=name,
            prefix=key[: len(PLATFORM_KEY_PREFIX) + _DISPLAY_CHARS],
            created_at=to_micros(self._clock()),
            revoked_at=None,
        )
        await self._store.create_platform_key(key=row)
        return key, row

    async def list_keys(self) -> list[PlatformKeyRow]:
        return await self._store.list_platform_keys()

    async def revoke_keys(self, target: str) -> int:
        """Revoke by a whole key, a display prefix (``lopk-`` and 8 characters), or a
        name (every key of that name)."""
        now = to_micros(self._clock())
        if target.startswith(PLATFORM_KEY_PREFIX):
            target = target.removesuffix("…").removesuffix("...")
            if len(target) > len(PLATFORM_KEY_PREFIX) + _DISPLAY_CHARS:
                found = await self._store.find_platform_key(key_hash=hash_api_key(target))
                if found is None:
                    raise NotFoundError("No such platform key.")
                target = found.prefix
            count = await self._store.revoke_platform_keys(prefix=target, at=now)
        else:
            count = await self._store.revoke_platform_keys(name=target, at=now)
        self._cache.clear()
        if count == 0:
            raise NotFoundError("No live platform key matches.")
        return count

    # -- authentication ------------------------------------------------------------

    async def authenticate(
        self, authorization: str | None, *, client: str = ""
    ) -> PlatformPrincipal:
        """The principal of ``Authorization: Bearer lopk-...``. An identity key gets 403
        (it is a valid kind of key, for the vault); a missing, unknown or revoked key 401,
        counted by the same failed-authentication throttle as identity keys."""
        try:
            principal = await self._principal_for(authorization)
        except AuthenticationError as error:
            self._identities.refuse_throttled(client)
            self._identities.record_refusal(client, error)
            raise
        self._identities.limit_rate(principal.key_prefix)
        return msgspec.structs.replace(principal, client=client) if client else principal

    async def _principal_for(self, authorization: str | None) -> PlatformPrincipal:
        if not authorization:
            raise AuthenticationError(
                "Missing platform key: send Authorization: Bearer lopk-...",
                reason="missing_api_key",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token.startswith("loid-"):
            raise PermissionDeniedError(
                "This is an identity's key: provisioning identities needs a platform key "
                "(lopk-..., made with `loomal platform-key create`).",
                reason="platform_key_required",
            )
        if scheme.lower() != "bearer" or not token.startswith(PLATFORM_KEY_PREFIX):
            raise _invalid_key()
        return await self.principal_for_key_hash(hash_api_key(token))

    async def principal_for_key_hash(self, presented: bytes) -> PlatformPrincipal:
        """The principal of a live platform key, by its hash (a console session keeps
        the hash of the key it was opened with, never the key)."""
        now = self._clock()
        cached = self._cache.get(presented)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self._store.find_platform_key(key_hash=presented)
        if row is None or not hmac.compare_digest(row.key_hash, presented) or row.revoked_at:
            self._cache.pop(presented, None)
            raise _invalid_key()
        principal = PlatformPrincipal(key_prefix=row.prefix, name=row.name)
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[presented] = (now + self._cache_seconds, principal)
        return principal

    # -- identities ---------------------------------------------------------------

    async def create(
        self,
        principal: PlatformPrincipal,
        request: CreateIdentityRequest,
        *,
        label: str | None = None,
    ) -> CreateIdentityResponse:
        """A new identity and its first key (labelled ``label``: the console asks for one;
        the hosted shapes have no field for it). Every field is optional: no name, a
        fresh readable slug; no scopes, vault:read and vault:write. ``emailName`` is
        ignored."""
        scopes = request.scopes if request.scopes is not None else [Scope.READ, Scope.WRITE]
        parse_scopes(scopes)  # unknown ones named in a 422
        purpose = request.purpose or "BUYER"
        for attempt in range(5):
            name = request.name if request.name is not None else readable_slug()
            try:
                created = await self._identities.create_identity(
                    name,
                    scopes=scopes,
                    purpose=purpose,
                    check_name=check_display_name,
                    label=label,
                )
                break
            except ConflictError:
                if request.name is not None or attempt == 4:
                    raise
        row = await self._identity(created.identity_id)
        self._record(principal, "identity_create", row.identity_id, f"name={name}")
        return CreateIdentityResponse(
            identity_id=row.identity_id,
            name=row.name,
            type="AGENT",
            purpose=purpose,
            scopes=created.scopes,
            api_key_prefix=created.api_key[: len("loid-") + _DISPLAY_CHARS],
            raw_key=created.api_key,
            created_at=from_micros(row.created_at),
        )

    async def list_identities(
        self, principal: PlatformPrincipal, *, limit: int | None, page_token: str | None
    ) -> IdentityList:
        """One page, oldest first; ``next_page_token`` when there are more."""
        size = DEFAULT_PAGE if limit is None else limit
        if not 1 <= size <= MAX_PAGE:
            raise ValidationError(f"limit: must be 1 to {MAX_PAGE}.")
        after = _decode_token(page_token)
        rows = await self._store.page_identities(after=after, limit=size + 1)
        page = [await self._summary(row) for row in rows[:size]]
        token = _encode_token(rows[size - 1]) if len(rows) > size else None
        return IdentityList(identities=page, count=len(page), next_page_token=token)

    async def get(self, principal: PlatformPrincipal, identity_id: str) -> IdentityDetail:
        row = await self._identity(identity_id)
        summary = await self._summary(row)
        keys = await self._live_keys(identity_id)
        newest: str = max(keys, key=lambda k: k.created_at).prefix if keys else ""
        return IdentityDetail(**msgspec.structs.asdict(summary), api_key_prefix=newest)

    async def update(
        self, principal: PlatformPrincipal, identity_id: str, request: UpdateIdentityRequest
    ) -> IdentitySummary:
        """Rename and/or change the scopes of every live key. Scopes to add must be this
        server's (422 names the others); scopes to remove that it does not know are
        ignored (no key holds them); at least one scope must remain."""
        row = await self._identity(identity_id)
        changes: list[str] = []
        if request.name is not None and request.name != row.name:
            check_display_name(request.name)
            if not await self._store.rename_identity(identity_id=identity_id, name=request.name):
                raise _no_identity()
            changes.append(f"name={request.name}")
        if request.add_scopes or request.remove_scopes:
            current = {s.value for s in await self._identities.live_scopes(identity_id)}
            added = (
                {s.value for s in parse_scopes(request.add_scopes)} if request.add_scopes else set()
            )
            removed = set(request.remove_scopes or ()) & _KNOWN_SCOPES
            wanted = (current | added) - removed
            if not wanted:
                raise ValidationError("scopes: an identity keeps at least one scope.")
            if wanted != current:
                scopes = " ".join(sorted(wanted))
                await self._store.set_api_key_scopes(identity_id=identity_id, scopes=scopes)
                changes.append(f"scopes={scopes}")
        self._identities.forget_cached_keys()
        if changes:
            self._record(principal, "identity_update", identity_id, " ".join(changes))
        return await self._summary(await self._identity(identity_id))

    async def rotate_key(self, principal: PlatformPrincipal, identity_id: str) -> RotateKeyResponse:
        """A new key with the identity's scopes; every other key stops at once."""
        row = await self._identity(identity_id)
        scopes = await self._identities.live_scopes(identity_id)
        rotated = await self._identities.rotate_key(
            row.name, scopes=scopes or [Scope.READ, Scope.WRITE]
        )
        self._record(principal, "identity_rotate_key", identity_id, None)
        return RotateKeyResponse(
            raw_key=rotated.api_key, api_key_prefix=rotated.api_key[: len("loid-") + _DISPLAY_CHARS]
        )

    async def keys(self, principal: PlatformPrincipal, identity_id: str) -> list[ApiKeyInfo]:
        """The identity's live keys, oldest first: prefixes, labels, scopes; never a key."""
        await self._identity(identity_id)
        return [
            ApiKeyInfo(
                prefix=k.prefix,
                scopes=k.scopes.split(),
                created_at=from_micros(k.created_at),
                expires_at=None if k.expires_at is None else from_micros(k.expires_at),
                revoked_at=None,
                label=k.label,
            )
            for k in sorted(await self._live_keys(identity_id), key=lambda k: k.created_at)
        ]

    async def credential_count(self, principal: PlatformPrincipal, identity_id: str) -> int:
        """How many credentials deleting the identity deletes with it (it opens none)."""
        await self._identity(identity_id)
        return await self._store.count_credentials(identity_id=identity_id)

    async def delete(self, principal: PlatformPrincipal, identity_id: str) -> None:
        """The identity, its keys and its credentials, in one transaction; its audit
        trail stays."""
        await self._identity(identity_id)
        credentials = await self._store.count_credentials(identity_id=identity_id)
        if not await self._store.delete_identity(identity_id=identity_id):
            raise _no_identity()
        self._identities.forget_cached_keys()
        self._record(principal, "identity_delete", identity_id, f"credentials={credentials}")

    # -- helpers --------------------------------------------------------------------

    async def _identity(self, identity_id: str) -> IdentityRow:
        row = await self._store.get_identity_by_id(identity_id=identity_id)
        if row is None:
            raise _no_identity()
        return row

    async def _live_keys(self, identity_id: str) -> list[ApiKeyRow]:
        now = to_micros(self._clock())
        return [
            k
            for k in await self._store.list_api_keys(identity_id=identity_id)
            if k.revoked_at is None and (k.expires_at is None or k.expires_at > now)
        ]

    async def _summary(self, row: IdentityRow) -> IdentitySummary:
        scopes = await self._identities.live_scopes(row.identity_id)
        return IdentitySummary(
            identity_id=row.identity_id,
            name=row.name,
            type="AGENT",
            purpose="SELLER" if row.purpose == "SELLER" else "BUYER",
            scopes=sorted(s.value for s in scopes),
            usage_count=row.usage_count,
            last_used_at=None if row.last_used_at is None else from_micros(row.last_used_at),
            created_at=from_micros(row.created_at),
        )

    def _record(
        self, principal: PlatformPrincipal, action: str, identity_id: str, detail: str | None
    ) -> None:
        self._audit.note(
            AuditEvent(
                at=to_micros(self._clock()),
                identity_id=identity_id,
                actor_identity_id=None,
                key_prefix=principal.key_prefix,
                action=action,
                credential_name=None,
                outcome="ok",
                client=principal.client or None,
                detail=detail,
                key_label=principal.name,
            )
        )


def _invalid_key() -> AuthenticationError:
    return AuthenticationError("Invalid platform key.", reason="invalid_api_key")


def _no_identity() -> NotFoundError:
    return NotFoundError("No identity with this id.")


def _encode_token(row: IdentityRow) -> str:
    raw = f"{row.created_at}.{row.identity_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None) -> tuple[int, str] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, _, identity_id = raw.partition(".")
        if not identity_id:
            raise ValueError
        return int(created), identity_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("pageToken: not a token this server gave.") from None
