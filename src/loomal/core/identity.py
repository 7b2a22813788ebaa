"""API keys, scopes and the authenticated principal.

A key is ``loid-`` followed by 43 URL-safe characters (256 random bits). Only
its SHA-256 is stored: for a random 256-bit key a fast hash is the right choice
(nothing to brute-force), and it lets a key be found by an index lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from loomal.errors import PermissionDeniedError, ValidationError

__all__ = [
    "KEY_PREFIX",
    "Principal",
    "Scope",
    "generate_api_key",
    "hash_api_key",
    "key_display_prefix",
    "keys_match",
    "parse_scopes",
]

KEY_PREFIX = "loid-"
_DISPLAY_CHARS = 8


class Scope(StrEnum):
    READ = "vault:read"
    WRITE = "vault:write"


def parse_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    result: set[Scope] = set()
    for raw in scopes:
        item = raw.strip()
        if not item:
            continue
        try:
            result.add(Scope(item))
        except ValueError:
            raise ValidationError(
                f"scopes: unknown scope {item!r}; use vault:read and/or vault:write."
            ) from None
    if not result:
        raise ValidationError("scopes: at least one of vault:read, vault:write is required.")
    return frozenset(result)


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).digest()


def keys_match(stored_hash: bytes, presented_hash: bytes) -> bool:
    """Constant-time comparison, so response time says nothing about the key."""
    return hmac.compare_digest(stored_hash, presented_hash)


def key_display_prefix(api_key: str) -> str:
    """What lists and logs show of a key: enough to tell keys apart, useless to an attacker."""
    return api_key[: len(KEY_PREFIX) + _DISPLAY_CHARS]


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a request acts as, and what its key may do."""

    identity_id: str
    key_prefix: str
    scopes: frozenset[Scope]
    key_expires_at: int | None = None
    client: str = ""
    """The caller's address, for the audit log."""

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise PermissionDeniedError(f"This API key lacks the {scope.value} scope.")
