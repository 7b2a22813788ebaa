"""The TOTP code of the current period, kept per stored row until the period ends.

Why: a code is a function of the seed and the period number, and an agent asks
for the same credential's code many times per period; decrypting the seed and
computing the HMAC made TOTP the one call slower than OpenBao's. Every ask
still reads the row and checks the key's scope, expiry and the seal, and is
audited and counted; only the decryption and the HMAC are skipped, and only
while the stored row is equal, field for field, to the one the code came from:
its ciphertext, nonce, wrapped key, key id and every value the ciphertext is
bound to. A flipped byte, a rewrap or an overwrite is a miss, and a miss
decrypts (and fails on a damaged row) as before.

What is held: codes that are handed out to callers anyway, for at most the rest
of their period, and how many backup codes remain. Never a seed.
"""

from __future__ import annotations

import math

from loomal.core.ports import CredentialRow

__all__ = ["CurrentCode", "CurrentCodes"]


class CurrentCode:
    __slots__ = ("backup_codes_remaining", "code", "expires_at", "period")

    def __init__(self, code: str, period: int, expires_at: int, backup_codes_remaining: int):
        self.code = code
        self.period = period
        self.expires_at = expires_at
        """Epoch second at which the code stops being current."""
        self.backup_codes_remaining = backup_codes_remaining

    def __repr__(self) -> str:
        return f"CurrentCode(code='***', expires_at={self.expires_at})"

    def current_at(self, at: float) -> bool:
        return self.expires_at - self.period <= at < self.expires_at

    def seconds_remaining(self, at: float) -> int:
        return max(1, self.expires_at - math.floor(at))


class CurrentCodes:
    def __init__(self, *, limit: int = 4096) -> None:
        self._limit = limit
        self._codes: dict[CredentialRow, CurrentCode] = {}

    def get(self, row: CredentialRow, at: float) -> CurrentCode | None:
        """The code computed from exactly this row, if it is still current at ``at``."""
        held = self._codes.get(row)
        return held if held is not None and held.current_at(at) else None

    def put(self, row: CredentialRow, code: CurrentCode) -> None:
        if len(self._codes) >= self._limit:
            self._codes.clear()
        self._codes[row] = code
