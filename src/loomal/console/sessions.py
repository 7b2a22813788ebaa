"""Console sessions and one-time sign-in links: their rules, in one place.

A session is a random 256-bit id in an ``HttpOnly`` cookie; the store keeps
only its SHA-256 (so a copied database opens no session), with the identity,
an absolute expiry and the time it was last used (the idle timeout). Sessions
live in the store, so every worker and every server sharing PostgreSQL knows
them, and signing out deletes the row: the cookie is then worthless everywhere.

A session never has more rights than the keys behind it, and never outlives
them. Its rights are worked out again on every request:

- opened with an API key: that key's scopes, while the key is live (revoking
  or expiring the key ends the session at once, within the auth-cache bound);
- opened with a sign-in link: the union of the scopes of the identity's live
  keys, narrowed by the link's ``scopes`` if it named some (to those the live
  keys grant, by the API's rule: vault:read grants vault:use). When the
  identity's live keys grant nothing the link named, the session is refused.

A session opened with a platform key (``lopk-...``) is kept apart (its own
table): it manages identities through :class:`PlatformService` and nothing else,
lives while its key is live, and an identity's session never resumes as one,
nor it as an identity's.

Failed sign-ins (a wrong key, an unknown, used or expired link) count toward
the same per-address throttle as failed API calls, under the API's rule: the
key or link is checked first, a valid one signs in whatever its address did
before, and only a refusal is throttled (429 instead of 401).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from loomal.core.identities import IdentityService
from loomal.core.platform import PlatformPrincipal, PlatformService
from loomal.core.platform_models import PLATFORM_KEY_PREFIX
from loomal.core.platform_store import PlatformSessionRow
from loomal.core.ports import ConsoleSessionRow, LoginLinkRow, Store
from loomal.core.principals import Principal, Scope, hash_api_key, parse_scopes
from loomal.core.timestamps import to_micros
from loomal.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)

__all__ = [
    "ABSOLUTE_TIMEOUT",
    "IDLE_TIMEOUT",
    "LOGIN_LINK_TTL",
    "AnySession",
    "ConsoleSession",
    "ConsoleSessions",
    "PlatformConsoleSession",
    "binding_for",
    "csrf_token_for",
    "is_platform_key",
]

IDLE_TIMEOUT = 30 * 60.0
ABSOLUTE_TIMEOUT = 12 * 3600.0
LOGIN_LINK_TTL = 5 * 60.0
_TOUCH_EVERY = 60.0  # last_seen_at is written at most once a minute per session
LOGIN_TOKEN_PREFIX = "lcl-"


def is_platform_key(key: str) -> bool:
    """Whether a sign-in form's key is a platform key (it opens a platform session)."""
    return key.strip().startswith(PLATFORM_KEY_PREFIX)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def csrf_token_for(session_id: str) -> str:
    """The CSRF token of a session, derived from its (HttpOnly) id: a page from
    this origin can carry it, another site can neither read nor compute it."""
    digest = hashlib.sha256(b"loomal-console-csrf\0" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def binding_for(session_id: str) -> str:
    """The binding of a session: handed to the tab that signed in (kept in its
    ``localStorage``, per origin) and sent back with every state-changing POST, so a
    session cookie tossed in by another port or host, without it, changes nothing."""
    digest = hashlib.sha256(b"loomal-console-binding\0" + session_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _granted(live: frozenset[Scope], wanted: Iterable[Scope]) -> frozenset[Scope]:
    """Those of ``wanted`` that keys holding ``live`` may act with, by the API's own
    rule (``Principal.require``: vault:read implies vault:use)."""
    holder = Principal(identity_id="", key_prefix="", scopes=live)
    granted = set()
    for scope in wanted:
        try:
            holder.require(scope)
        except PermissionDeniedError:
            continue
        granted.add(scope)
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: who it acts as, with which rights, and its CSRF token."""

    principal: Principal
    identity_name: str
    csrf_token: str
    binding: str
    pending_approvals: int | None = None
    """The header's badge (approvals waiting for a person), counted for pages only;
    None: not counted for this request (a POST, a script's call)."""

    def can(self, scope: Scope) -> bool:
        return scope in self.principal.scopes

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.csrf_token.encode()
        )

    def binding_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.binding.encode()
        )


@dataclass(frozen=True, slots=True)
class PlatformConsoleSession:
    """A browser signed in with a platform key: it manages identities, nothing else."""

    principal: PlatformPrincipal
    csrf_token: str
    binding: str

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.csrf_token.encode()
        )

    def binding_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.binding.encode()
        )


AnySession = ConsoleSession | PlatformConsoleSession


class ConsoleSessions:
    def __init__(
        self,
        store: Store,
        identities: IdentityService,
        *,
        platform: PlatformService | None = None,
        clock: Callable[[], float] = time.time,
        idle_timeout: float = IDLE_TIMEOUT,
        absolute_timeout: float = ABSOLUTE_TIMEOUT,
    ) -> None:
        self._store = store
        self._identities = identities
        self._platform = platform
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout

    # -- signing in -------------------------------------------------------------

    async def sign_in_with_key(self, api_key: str, *, client: str) -> str:
        """Check ``api_key`` as the API does (same throttle, same audit of failures)
        and open a session bound to it; returns the new session id."""
        principal = await self._identities.authenticate(f"Bearer {api_key.strip()}", client=client)
        key_hash = hash_api_key(api_key.strip())
        name = await self._identity_name(principal.identity_id)
        return await self._open(principal.identity_id, name, key_hash=key_hash, scopes=None)

    async def sign_in_with_link(self, token: str, *, client: str) -> str:
        """Exchange a sign-in link's token (once) for a session.

        The API's rule for keys: the link is checked first, so a valid link
        works whatever other requests from its address did; only a refusal is
        throttled (a throttled address gets RateLimitError instead).
        """
        now = to_micros(self.clock())
        link = None
        if token.startswith(LOGIN_TOKEN_PREFIX):
            link = await self._store.consume_login_link(token_hash=_hash(token), now=now)
        if link is None:
            self._identities.refuse_throttled(client)
            error = AuthenticationError("This sign-in link is not valid: used, expired or unknown.")
            self._identities.record_refusal(client, error)
            raise error
        return await self._open(
            link.identity_id, link.identity_name, key_hash=None, scopes=link.scopes
        )

    async def issue_login_link(
        self,
        identity_name: str,
        *,
        scopes: Iterable[str] | None = None,
        ttl: float = LOGIN_LINK_TTL,
    ) -> str:
        """A one-time sign-in token for ``identity_name`` (run on the server host);
        only its hash is stored."""
        if not 1 <= ttl <= 24 * 3600:
            raise ValidationError("A sign-in link lives between 1 second and 24 hours.")
        identity = await self._store.get_identity(name=identity_name)
        if identity is None:
            raise NotFoundError(f"No identity named {identity_name!r}.")
        live = await self._identities.live_scopes(identity.identity_id)
        if not live:
            raise ValidationError(f"Identity {identity_name!r} has no live API key to act with.")
        wanted = None if scopes is None else parse_scopes(scopes)
        if wanted is not None and (missing := wanted - _granted(live, wanted)):
            raise ValidationError(
                f"Identity {identity_name!r}'s live keys do not grant "
                f"{', '.join(sorted(s.value for s in missing))}."
            )
        token = LOGIN_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        await self._store.create_login_link(
            link=LoginLinkRow(
                token_hash=_hash(token),
                identity_id=identity.identity_id,
                identity_name=identity.name,
                scopes=None if wanted is None else " ".join(sorted(s.value for s in wanted)),
                created_at=to_micros(now),
                expires_at=to_micros(now + ttl),
            ),
            now=to_micros(now),
        )
        return token

    async def _open(
        self, identity_id: str, name: str, *, key_hash: bytes | None, scopes: str | None
    ) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        await self._store.create_console_session(
            session=ConsoleSessionRow(
                session_hash=_hash(session_id),
                identity_id=identity_id,
                identity_name=name,
                key_hash=key_hash,
                scopes=scopes,
                created_at=to_micros(now),
                last_seen_at=to_micros(now),
                expires_at=to_micros(now + self.absolute_timeout),
            ),
            now=to_micros(now),
        )
        return session_id

    async def _identity_name(self, identity_id: str) -> str:
        identity = await self._store.get_identity_by_id(identity_id=identity_id)
        if identity is None:
            raise AuthenticationError("Invalid API key.", reason="invalid_api_key")
        return identity.name

    # -- each request -----------------------------------------------------------

    async def resume(self, session_id: str | None, *, client: str) -> ConsoleSession | None:
        """The session behind a cookie, with its rights as of now; None when there is
        none, it timed out, or the keys behind it no longer grant anything."""
        if not session_id:
            return None
        session_hash = _hash(session_id)
        row = await self._store.get_console_session(session_hash=session_hash)
        now = self.clock()
        if row is None:
            return None
        if to_micros(now) >= row.expires_at or (
            to_micros(now) >= row.last_seen_at + to_micros(self.idle_timeout)
        ):
            await self._store.delete_console_session(session_hash=session_hash)
            return None
        principal = await self._principal(row, client)
        if principal is None:
            return None
        if to_micros(now) - row.last_seen_at >= to_micros(_TOUCH_EVERY):
            await self._store.touch_console_session(
                session_hash=session_hash, last_seen_at=to_micros(now)
            )
        return ConsoleSession(
            principal, row.identity_name, csrf_token_for(session_id), binding_for(session_id)
        )

    async def _principal(self, row: ConsoleSessionRow, client: str) -> Principal | None:
        if row.key_hash is not None:
            try:
                principal = await self._identities.principal_for_key_hash(row.key_hash)
            except (AuthenticationError, RateLimitError):
                return None
        else:
            scopes = await self._identities.live_scopes(row.identity_id)
            if row.scopes is not None:
                scopes = _granted(scopes, parse_scopes(row.scopes.split()))
            if not scopes:
                return None
            principal = Principal(
                identity_id=row.identity_id, key_prefix="console-link", scopes=scopes
            )
        return Principal(
            identity_id=principal.identity_id,
            key_prefix=principal.key_prefix,
            scopes=principal.scopes,
            key_expires_at=principal.key_expires_at,
            client=client,
            person=True,
        )

    async def sign_out(self, session_id: str | None) -> None:
        if session_id:
            await self._store.delete_console_session(session_hash=_hash(session_id))
            await self._store.delete_platform_session(session_hash=_hash(session_id))

    # -- platform keys ------------------------------------------------------------

    def _platform_service(self) -> PlatformService:
        if self._platform is None:
            raise AuthenticationError("Platform keys cannot sign in here.")
        return self._platform

    async def sign_in_with_platform_key(self, platform_key: str, *, client: str) -> str:
        """Check ``platform_key`` as the platform API does (same throttle, same audit
        of failures) and open a platform session bound to it; the new session id."""
        key = platform_key.strip()
        await self._platform_service().authenticate(f"Bearer {key}", client=client)
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        await self._store.create_platform_session(
            session=PlatformSessionRow(
                session_hash=_hash(session_id),
                key_hash=hash_api_key(key),
                created_at=to_micros(now),
                last_seen_at=to_micros(now),
                expires_at=to_micros(now + self.absolute_timeout),
            ),
            now=to_micros(now),
        )
        return session_id

    async def resume_platform(
        self, session_id: str | None, *, client: str
    ) -> PlatformConsoleSession | None:
        """The platform session behind a cookie; None when there is none, it timed
        out, or its key was revoked (within the platform auth-cache bound)."""
        if not session_id or self._platform is None:
            return None
        session_hash = _hash(session_id)
        row = await self._store.get_platform_session(session_hash=session_hash)
        if row is None:
            return None
        now = to_micros(self.clock())
        if now >= row.expires_at or now >= row.last_seen_at + to_micros(self.idle_timeout):
            await self._store.delete_platform_session(session_hash=session_hash)
            return None
        try:
            principal = await self._platform.principal_for_key_hash(row.key_hash)
        except AuthenticationError:
            return None
        if now - row.last_seen_at >= to_micros(_TOUCH_EVERY):
            await self._store.touch_platform_session(session_hash=session_hash, last_seen_at=now)
        return PlatformConsoleSession(
            PlatformPrincipal(key_prefix=principal.key_prefix, name=principal.name, client=client),
            csrf_token_for(session_id),
            binding_for(session_id),
        )
