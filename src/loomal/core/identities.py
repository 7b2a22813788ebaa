"""Identities and their API keys: creation, listing, revocation, authentication.

Authentication caches a key's principal for ``cache_seconds`` so that the hot
read path does not query the database on every request. That cache is the
*only* delay between a revocation (made by any process) and its effect; its
bound is documented in docs/security.md. Unknown keys are never cached, so a
freshly created key works at once on every server.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable

from msgspec.structs import replace

from loomal.core.audit import AuditLog
from loomal.core.limits import FailureThrottle, KeyRateLimiter
from loomal.core.models import ApiKeyInfo, IdentityCreated, IdentityInfo, IdentityResponse
from loomal.core.platform_models import PLATFORM_KEY_PREFIX
from loomal.core.ports import ApiKeyRow, AuditEvent, IdentityRow, IdentityStore
from loomal.core.principals import (
    KEY_PREFIX,
    Principal,
    Scope,
    check_key_label,
    generate_api_key,
    hash_api_key,
    key_display_prefix,
    keys_match,
    parse_scopes,
)
from loomal.core.timestamps import from_micros, to_micros
from loomal.core.types import validate_credential_name
from loomal.core.write_behind import WriteBehind
from loomal.errors import (
    AuthenticationError,
    ConflictError,
    LoomalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)

__all__ = ["IdentityService"]

log = logging.getLogger("loomal.auth")

_CACHE_LIMIT = 10_000
_MAX_REFUSAL_KEYS = 1_000
"""Addresses whose refusals are counted apart; beyond, they share one row (client null)."""


class IdentityService:
    def __init__(
        self,
        store: IdentityStore,
        *,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = 2.0,
        failure_throttle: FailureThrottle | None = None,
        key_rate_limiter: KeyRateLimiter | None = None,
        audit: AuditLog,
        refusal_window: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._throttle = failure_throttle or FailureThrottle(limit=0)
        self._key_limiter = key_rate_limiter or KeyRateLimiter(rate=0)
        self._audit = audit
        self.usage: WriteBehind[str, tuple[int, int]] = WriteBehind(
            _add_usage, lambda usage: store.record_identity_usage(usage=usage)
        )
        """Authenticated requests not yet written: identity id -> (count, last at)."""
        self.refusals: WriteBehind[tuple[str | None, str], tuple[int, int]] = WriteBehind(
            _add_counts, self._write_refusals, due=self._refusal_due
        )
        """Refused authentications not yet written: (client, outcome) -> (first at,
        count), written once their window is over. The runtime flushes both."""
        self._refusal_window = refusal_window

    async def authenticate(self, authorization: str | None, *, client: str = "") -> Principal:
        """Resolve an ``Authorization: Bearer loid-...`` header to a principal.

        Unknown, revoked and expired keys get the same answer. The key is
        checked first: a valid key is served whatever other requests from its
        address did (on loopback every local agent shares 127.0.0.1). Only a
        refusal is throttled: after repeated failures, ``client`` (the
        caller's address) gets 429 instead of 401 until the window ends.
        """
        try:
            principal = await self._principal_for(authorization)
        except AuthenticationError as error:
            self.refuse_throttled(client)
            self.record_refusal(client, error)
            raise
        self._key_limiter.take(principal.key_prefix)
        self.usage.note(principal.identity_id, (1, to_micros(self._clock())))
        return replace(principal, client=client) if client else principal

    def limit_rate(self, key_prefix: str) -> None:
        """Count one request against a key's rate limit (RateLimitError beyond it): the
        identity keys' limiter, which platform keys share."""
        self._key_limiter.take(key_prefix)

    def forget_cached_keys(self) -> None:
        """Drop every cached principal, so that a change to keys or identities made here
        applies at once in this process (other processes: within the cache bound)."""
        self._cache.clear()

    @property
    def audit_backlog(self) -> int:
        """Audit events held in memory: batched events and refusal counts (metrics)."""
        return self._audit.pending + len(self.refusals)

    async def whoami(self, principal: Principal) -> IdentityResponse:
        """The caller's identity as ``GET /v0/whoami`` shows it (any valid key)."""
        row = await self._store.get_identity_by_id(identity_id=principal.identity_id)
        if row is None:  # deleted since the key was cached
            raise _invalid_key()
        pending, pending_at = self.usage.get(row.identity_id) or (0, 0)
        last_used = max(row.last_used_at or 0, pending_at) or None
        return IdentityResponse(
            identity_id=row.identity_id,
            name=row.name,
            email=None,
            display_name=row.name,
            type="AGENT",
            purpose="BUYER",
            scopes=sorted(s.value for s in principal.scopes),
            usage_count=row.usage_count + pending,
            last_used_at=None if last_used is None else from_micros(last_used),
            created_at=from_micros(row.created_at),
        )

    def _note_refusal(self, error: LoomalError, client: str) -> None:
        """Refused authentications are audited without any part of the presented
        key, and aggregated: one event per address and outcome per window, with
        a count, so a flood of keyless requests adds a row a minute, not a row
        a request."""
        key = (client or None, error.code)
        if key not in self.refusals and len(self.refusals) >= _MAX_REFUSAL_KEYS:
            key = (None, error.code)  # many addresses: one shared row
        self.refusals.note(key, (to_micros(self._clock()), 1))

    def _refusal_due(self, held: tuple[int, int]) -> bool:
        return held[0] <= to_micros(self._clock() - self._refusal_window)

    async def _write_refusals(self, taken: dict[tuple[str | None, str], tuple[int, int]]) -> None:
        await self._audit.append(
            [
                AuditEvent(
                    at=at,
                    identity_id=None,
                    actor_identity_id=None,
                    key_prefix=None,
                    action="authenticate",
                    credential_name=None,
                    outcome=outcome,
                    client=client,
                    count=count,
                )
                for (client, outcome), (at, count) in taken.items()
            ]
        )

    async def _principal_for(self, authorization: str | None) -> Principal:
        return await self.principal_for_key_hash(hash_api_key(_bearer_token(authorization)))

    async def principal_for_key_hash(self, presented: bytes) -> Principal:
        """The principal of a live key, by its hash (the console's sessions keep the
        hash of the key they were opened with, never the key)."""
        now = self._clock()
        cached = self._cache.get(presented)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            principal = await self._load_principal(presented, now)
        if principal.key_expires_at is not None and principal.key_expires_at <= to_micros(now):
            raise _invalid_key()
        return principal

    async def _load_principal(self, presented: bytes, now: float) -> Principal:
        row = await self._store.find_api_key(key_hash=presented)
        if row is None or not keys_match(row.key_hash, presented) or row.revoked_at is not None:
            self._cache.pop(presented, None)
            raise _invalid_key()
        principal = Principal(
            identity_id=row.identity_id,
            key_prefix=row.prefix,
            scopes=parse_scopes(row.scopes.split()),
            key_expires_at=row.expires_at,
            key_label=row.label,
        )
        if self._cache_seconds > 0:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[presented] = (now + self._cache_seconds, principal)
        return principal

    # -- refusals: an API call's bad key, a console sign-in's bad key or link ------

    def refuse_throttled(self, client: str) -> None:
        """Raise RateLimitError (audited) while ``client`` is over the
        failed-authentication limit."""
        try:
            self._throttle.check(client)
        except RateLimitError as limited:
            self._note_refusal(limited, client)
            raise limited from None

    def record_refusal(self, client: str, error: LoomalError) -> None:
        """Count a refused authentication against ``client`` and audit it."""
        self._throttle.record_failure(client)
        self._note_refusal(error, client)

    async def live_scopes(self, identity_id: str) -> frozenset[Scope]:
        """The union of the scopes of the identity's live (unrevoked, unexpired) keys."""
        now = to_micros(self._clock())
        scopes: set[Scope] = set()
        for key in await self._store.list_api_keys(identity_id=identity_id):
            if key.revoked_at is None and (key.expires_at is None or key.expires_at > now):
                scopes |= parse_scopes(key.scopes.split())
        return frozenset(scopes)

    async def create_identity(
        self,
        name: str,
        *,
        scopes: Iterable[str],
        expires_at: int | None = None,
        purpose: str = "BUYER",
        check_name: Callable[[str], object] = validate_credential_name,
        label: str | None = None,
    ) -> IdentityCreated:
        """Create an identity with its first API key; the key is returned only here.
        ``check_name``: the rule the name must meet (the platform API allows display
        names); ``label``: the key's."""
        check_name(name)
        parsed = parse_scopes(scopes)
        now = to_micros(self._clock())
        identity = IdentityRow(
            identity_id="id_" + secrets.token_hex(12), name=name, created_at=now, purpose=purpose
        )
        api_key, key_row = self._new_key(identity.identity_id, parsed, now, expires_at, label)
        await self._store.create_identity(identity=identity, api_key=key_row)
        return _created(identity.identity_id, name, api_key, key_row)

    async def add_key(
        self,
        name: str,
        *,
        scopes: Iterable[str],
        expires_at: int | None = None,
        label: str | None = None,
    ) -> IdentityCreated:
        """Issue another key for an existing identity (for rotation without downtime)."""
        identity = await self._store.get_identity(name=name)
        if identity is None:
            raise NotFoundError(f"No identity named {name!r}.")
        parsed = parse_scopes(scopes)
        api_key, key_row = self._new_key(
            identity.identity_id, parsed, to_micros(self._clock()), expires_at, label
        )
        await self._store.add_api_key(api_key=key_row)
        return _created(identity.identity_id, name, api_key, key_row)

    async def rotate_key(
        self,
        name: str,
        *,
        scopes: Iterable[str],
        grace_seconds: float = 0,
        label: str | None = None,
    ) -> IdentityCreated:
        """Issue a new key; the identity's other live keys stop working after
        ``grace_seconds`` (0: at once), so agents can switch without downtime. The new
        key keeps the label of the newest live key unless ``label`` is given."""
        if label is None:
            label = await self._newest_live_label(name)
        created = await self.add_key(name, scopes=scopes, label=label)
        await self._store.expire_api_keys(
            identity_id=created.identity_id,
            at=to_micros(self._clock() + max(0.0, grace_seconds)),
            keep=hash_api_key(created.api_key),
        )
        self._cache.clear()
        return created

    async def _newest_live_label(self, name: str) -> str | None:
        identity = await self._store.get_identity(name=name)
        if identity is None:
            return None
        now = to_micros(self._clock())
        live = [
            k
            for k in await self._store.list_api_keys(identity_id=identity.identity_id)
            if k.revoked_at is None and (k.expires_at is None or k.expires_at > now)
        ]
        return max(live, key=lambda k: k.created_at).label if live else None

    def _new_key(
        self,
        identity_id: str,
        scopes: frozenset[Scope],
        now: int,
        expires_at: int | None,
        label: str | None,
    ) -> tuple[str, ApiKeyRow]:
        if expires_at is not None and expires_at <= now:
            raise ValidationError("expiresAt must be in the future.")
        if label is not None:
            check_key_label(label)
        api_key = generate_api_key()
        row = ApiKeyRow(
            key_hash=hash_api_key(api_key),
            identity_id=identity_id,
            prefix=key_display_prefix(api_key),
            scopes=" ".join(sorted(s.value for s in scopes)),
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            label=label,
        )
        return api_key, row

    async def list_identities(self) -> list[IdentityInfo]:
        return [
            IdentityInfo(
                identity_id=identity.identity_id,
                name=identity.name,
                created_at=from_micros(identity.created_at),
                keys=[
                    ApiKeyInfo(
                        prefix=k.prefix,
                        scopes=k.scopes.split(),
                        created_at=from_micros(k.created_at),
                        expires_at=None if k.expires_at is None else from_micros(k.expires_at),
                        revoked_at=None if k.revoked_at is None else from_micros(k.revoked_at),
                        label=k.label,
                    )
                    for k in keys
                ],
            )
            for identity, keys in await self._store.list_identities()
        ]

    async def revoke(self, target: str) -> int:
        """Revoke by identity name (all its keys), by key prefix, or by the full key."""
        now = to_micros(self._clock())
        if target.startswith(KEY_PREFIX):
            if len(target) > len(key_display_prefix(target)):
                found = await self._store.find_api_key(key_hash=hash_api_key(target))
                if found is None:
                    raise NotFoundError("No such API key.")
                target = found.prefix
            count = await self._store.revoke_api_keys(prefix=target, at=now)
        else:
            identity = await self._store.get_identity(name=target)
            if identity is None:
                raise NotFoundError(f"No identity or key prefix {target!r}.")
            count = await self._store.revoke_api_keys(identity_id=identity.identity_id, at=now)
        self._cache.clear()
        if count == 0:
            raise NotFoundError(f"No live API key matches {target!r}.")
        log.info("revoked %d API key(s) matching %s", count, target[:13])
        return count

    async def ensure_first_identity(self, name: str = "default") -> IdentityCreated | None:
        """On an empty store, create a first identity with both scopes; None if the
        store has one already. Servers started together on one empty database all
        see it empty, and all but one then find the name taken: they lost the race
        to a server that holds (and prints) the key, so they start without one."""
        if await self._store.count_identities() > 0:
            return None
        try:
            return await self.create_identity(name, scopes=[Scope.READ, Scope.WRITE])
        except ConflictError:
            if await self._store.get_identity(name=name) is None:
                raise
            return None


def _created(identity_id: str, name: str, api_key: str, key: ApiKeyRow) -> IdentityCreated:
    return IdentityCreated(
        identity_id=identity_id,
        name=name,
        api_key=api_key,
        scopes=key.scopes.split(),
        label=key.label,
    )


def _add_usage(held: tuple[int, int], noted: tuple[int, int]) -> tuple[int, int]:
    return held[0] + noted[0], max(held[1], noted[1])


def _invalid_key() -> AuthenticationError:
    """One answer for an unknown, revoked, expired or malformed key: which it was
    would tell a caller which keys exist."""
    return AuthenticationError("Invalid API key.", reason="invalid_api_key")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError(
            "Missing API key: send Authorization: Bearer loid-...", reason="missing_api_key"
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(PLATFORM_KEY_PREFIX):
        raise PermissionDeniedError(
            "This is a platform key: it provisions identities (/v0/platform/identities) and "
            "never reads a credential; the vault needs an identity's key (loid-...).",
            reason="identity_key_required",
        )
    if scheme.lower() != "bearer" or not token.startswith(KEY_PREFIX):
        raise _invalid_key()
    return token


def _add_counts(held: tuple[int, int], noted: tuple[int, int]) -> tuple[int, int]:
    """(first at, count) of one aggregated refusal row."""
    return min(held[0], noted[0]), held[1] + noted[1]
