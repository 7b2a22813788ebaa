"""The single-flight refresh behind the core's ``LiveTokens`` port: one refresh at
a time per credential, across the tasks of a worker, the workers of a server and
the servers of a database.

How (and why each step):

1. A token that is not due (more than ``REFRESH_SKEW_SECONDS`` left) is handed
   out as stored: no lock, no query beyond the read that found it.
2. Within a process, callers of one credential share one in-flight refresh (an
   ``asyncio`` task), so a burst of agents costs one attempt.
3. Across processes, a lease row (``oauth_leases``) is taken by one upsert that
   succeeds only over a lapsed lease. Its holder re-reads the credential *after*
   taking it (another holder may have written a new version meanwhile: its
   refresh token is the only one the provider still accepts), calls the provider
   with no database transaction open, and writes the new tokens in one
   check-and-set write of the next version. The lease lasts the refresh timeout
   plus a margin, so a server that dies holding it blocks nobody for longer.
4. Everyone else waits for the new version; while the stored token is still
   valid (inside the skew window) they are handed that one at once.
5. Failures: ``invalid_grant`` marks the credential ``needs_reauth``; a 5xx or
   timeout leaves the lease in state ``unavailable`` for ``retry_after``
   seconds (so other servers answer 503 at once instead of hammering the
   provider) and serves the still-valid token if there is one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from loomal.core.identity import Principal
from loomal.core.oauth_store import OAuthStore
from loomal.core.oauth_tokens import (
    NEEDS_REAUTH,
    OAuthRows,
    access_token_expiry,
    is_refreshable,
    needs_reauth_error,
    refresh_due,
    stored_metadata,
)
from loomal.core.store import CredentialRow
from loomal.core.timestamps import to_micros
from loomal.errors import (
    BadGatewayError,
    BadRequestError,
    NotFoundError,
    PreconditionFailedError,
    ServiceUnavailableError,
)
from loomal.oauth.presets import client_config
from loomal.oauth.token_client import GrantRefused, ProviderUnavailable, TokenClient

__all__ = ["TokenRefresher"]

log = logging.getLogger("loomal.oauth")

LEASE_MARGIN_SECONDS = 5.0
RETRY_AFTER_SECONDS = 5


def holder_name() -> str:
    """Who holds a lease: host, process and a random tag (two vaults in one process differ)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class TokenRefresher:
    def __init__(
        self,
        rows: OAuthRows,
        leases: OAuthStore,
        client: TokenClient,
        *,
        clock: Callable[[], float],
        holder: str | None = None,
        poll_seconds: float = 0.02,
    ) -> None:
        self._rows, self._leases, self._client, self._clock = rows, leases, client, clock
        self.holder = holder or holder_name()
        self._poll = poll_seconds
        self._flights: dict[str, asyncio.Task[CredentialRow]] = {}
        self.provider_calls = 0
        """Refresh requests this process sent (metrics and tests)."""

    @property
    def lease_seconds(self) -> float:
        return self._client.timeout + LEASE_MARGIN_SECONDS

    async def live(
        self, principal: Principal, row: CredentialRow, *, force: bool = False
    ) -> CredentialRow:
        if not is_refreshable(row):
            if force:
                raise BadRequestError(
                    f"{row.name!r} is not a refreshable OAUTH credential (no metadata.oauth).",
                    reason="not_refreshable",
                )
            return row
        if not force and not refresh_due(stored_metadata(row), self._clock()):
            return row
        flight = self._flights.get(row.credential_id)
        if flight is None or flight.done():
            flight = asyncio.create_task(self._refreshed(principal, row, force=force))
            self._flights[row.credential_id] = flight
            flight.add_done_callback(lambda done: self._forget(row.credential_id, done))
        return await asyncio.shield(flight)

    def _forget(self, credential_id: str, done: asyncio.Task[CredentialRow]) -> None:
        if self._flights.get(credential_id) is done:
            del self._flights[credential_id]
        if not done.cancelled():
            done.exception()  # retrieved: a flight nobody awaits any more logs nothing

    async def _refreshed(
        self, principal: Principal, seen: CredentialRow, *, force: bool
    ) -> CredentialRow:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 2 * self.lease_seconds  # a wall-clock bound on waiting
        while True:
            current = await self._current(seen)
            metadata = stored_metadata(current)
            newer = current.version != seen.version
            now = self._clock()
            if newer and not refresh_due(metadata, now):
                return current
            valid = _still_valid(metadata, now)
            if metadata.get("oauthStatus") == NEEDS_REAUTH and (newer or not force):
                if valid and not force:
                    return current
                raise needs_reauth_error(current.name)
            taken = await self._leases.take_oauth_lease(
                credential_id=current.credential_id,
                holder=self.holder,
                now=to_micros(now),
                until=to_micros(now + self.lease_seconds),
                state="refreshing",
            )
            if taken:
                return await self._refresh_holding(principal, current, force=force and not newer)
            if valid and not force:
                return current  # due but still valid: the holder's refresh is on its way
            lease = await self._leases.oauth_lease(credential_id=current.credential_id)
            if lease is not None and lease.state == "unavailable" and not newer:
                # a failing provider's cool-down; a forced refresh (a person asking)
                # takes it over, if it is still that very lease (compare on ``until``)
                if force and await self._leases.take_oauth_lease(
                    credential_id=current.credential_id,
                    holder=self.holder,
                    now=lease.until,
                    until=to_micros(now + self.lease_seconds),
                    state="refreshing",
                ):
                    return await self._refresh_holding(principal, current, force=True)
                raise _unavailable(current.name, lease.until / 1_000_000 - now)
            if loop.time() > give_up:
                raise _unavailable(current.name, RETRY_AFTER_SECONDS)
            await asyncio.sleep(self._poll)

    async def _refresh_holding(
        self, principal: Principal, seen: CredentialRow, *, force: bool
    ) -> CredentialRow:
        credential_id = seen.credential_id
        keep_lease = False
        try:
            current = await self._current(seen)  # after the lease: the newest refresh token
            if current.version != seen.version and not (
                force or refresh_due(stored_metadata(current), self._clock())
            ):
                return current
            try:
                return await self._call_provider(principal, current)
            except ProviderUnavailable as failure:
                log.warning(
                    "oauth refresh of %s: provider unavailable (%s)", credential_id, failure.why
                )
                now = self._clock()
                await self._leases.set_oauth_lease(
                    credential_id=credential_id,
                    holder=self.holder,
                    until=to_micros(now + RETRY_AFTER_SECONDS),
                    state="unavailable",
                )
                keep_lease = True
                if _still_valid(stored_metadata(current), now):
                    return current
                raise _unavailable(current.name, RETRY_AFTER_SECONDS) from None
        finally:
            if not keep_lease:
                await self._leases.release_oauth_lease(
                    credential_id=credential_id, holder=self.holder
                )

    async def _call_provider(self, principal: Principal, current: CredentialRow) -> CredentialRow:
        data = self._rows.open(current)
        config = client_config(stored_metadata(current), data)
        refresh_token = data.get("refreshToken")
        if config is None or not isinstance(refresh_token, str) or not refresh_token:
            await self._rows.mark_needs_reauth(principal, current)
            raise needs_reauth_error(current.name)
        self.provider_calls += 1
        try:
            tokens = await self._client.refresh(config, refresh_token)
        except GrantRefused as refused:
            if refused.code in ("invalid_grant", ""):
                log.warning("oauth refresh of %s: refresh token refused", current.credential_id)
                await self._rows.mark_needs_reauth(principal, current)
                raise needs_reauth_error(current.name) from None
            raise BadGatewayError(
                f"The token endpoint of {current.name!r} refused the refresh "
                f"({refused.code}): check metadata.oauth and data.clientSecret.",
                reason="oauth_refused",
            ) from None
        try:
            return await self._rows.save_refreshed(principal, current, tokens)
        except PreconditionFailedError:
            # Someone stored the credential while the provider answered: theirs wins,
            # and these tokens are dropped (never logged).
            log.warning("oauth refresh of %s: credential changed meanwhile", current.credential_id)
            return await self._current(current)

    async def _current(self, row: CredentialRow) -> CredentialRow:
        current = await self._rows.current(row)
        if current is None or current.credential_id != row.credential_id:
            raise NotFoundError(f"No credential named {row.name!r}.")
        return current


def _still_valid(metadata: dict[str, Any], now: float) -> bool:
    expiry = access_token_expiry(metadata)
    return expiry is None or expiry > now


def _unavailable(name: str, retry_after: float) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"The OAuth provider of {name!r} did not answer and its access token has expired; "
        "retry later.",
        reason="provider_unavailable",
        retry_after=max(1, round(retry_after)),
    )
