"""``GET /v0/health``: for load balancers and orchestrators (liveness and readiness).

No key, no rate limit, no audit. 200 ``{"status": "serving", ...}`` when this
worker can serve: keys unsealed and the store answering a ``SELECT 1`` within
``timeout`` seconds; else 503 with ``status`` ``sealed``, ``store_unreachable``
or ``starting``. The answer is kept for ``cache_seconds``, so a flood of probes
costs one query a second, never one per request. The body names no credential,
identity, key or version.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from loomal.runtime import Vault

__all__ = ["HEALTH_PATH", "Health"]

HEALTH_PATH = "/v0/health"


class HealthBody(msgspec.Struct):
    status: str
    sealed: bool
    store: str


_encode = msgspec.json.Encoder().encode


class Health:
    def __init__(self, *, cache_seconds: float = 1.0, timeout: float = 2.0) -> None:
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._cached: tuple[float, int, bytes] | None = None
        self._lock = asyncio.Lock()

    async def answer(self, vault: Vault | None) -> tuple[int, bytes]:
        """Status code and JSON body."""
        now = time.monotonic()
        cached = self._cached
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        async with self._lock:  # probes arriving together share one store query
            cached = self._cached
            if cached is not None and cached[0] > time.monotonic():
                return cached[1], cached[2]
            status, body, sealed = await self._check(vault)
            # A sealed answer is not kept: the next probe asks the keys again, so an
            # unseal shows at once (the key source throttles those checks itself).
            if not sealed:
                self._cached = (time.monotonic() + self._cache_seconds, status, body)
            return status, body

    async def _check(self, vault: Vault | None) -> tuple[int, bytes, bool]:
        if vault is None:
            body = _encode(HealthBody(status="starting", sealed=False, store="unknown"))
            return 503, body, True  # not kept either: the vault is about to open
        sealed = vault.service.sealed_now()
        try:
            await asyncio.wait_for(vault.store.ping(), self._timeout)
            store = "ok"
        except Exception:  # timeout, refused connection, closed pool: all "unreachable"
            store = "unreachable"
        status = "store_unreachable" if store != "ok" else "sealed" if sealed else "serving"
        code = 200 if status == "serving" else 503
        return code, _encode(HealthBody(status=status, sealed=sealed, store=store)), sealed
