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
from enum import StrEnum

import msgspec

from loomal.errors import PermissionDeniedError, ValidationError

__all__ = [
    "KEY_PREFIX",
    "Principal",
    "Scope",
    "check_key_label",
    "generate_api_key",
    "hash_api_key",
    "key_display_prefix",
    "keys_match",
    "parse_scopes",
    "scopes_allow",
]

KEY_PREFIX = "loid-"
_DISPLAY_CHARS = 8


class Scope(StrEnum):
    READ = "vault:read"
    """Everything USE allows, plus the secret fields themselves."""
    WRITE = "vault:write"
    USE = "vault:use"
    """Use a credential without receiving its secret fields: list, TOTP codes,
    brokered requests (``POST /v0/vault/{name}/fetch``, ``/v0/proxy/{name}/...``)."""
    APPROVE = "vault:approve"
    """Approve or deny the identity's brokered requests that wait for a person
    (``vault:write`` may too); never a request its own key asked for."""


_SCOPE_NAMES = "vault:read, vault:write, vault:use, vault:approve"


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
                f"scopes: unknown scope {item!r}; use one or more of {_SCOPE_NAMES}."
            ) from None
    if not result:
        raise ValidationError(f"scopes: at least one of {_SCOPE_NAMES} is required.")
    return frozenset(result)


def scopes_allow(held: frozenset[Scope], needed: Scope) -> bool:
    """Whether a key holding ``held`` may do what needs ``needed`` (``vault:read``
    implies ``vault:use``): the one statement of that rule."""
    return needed in held or (needed is Scope.USE and Scope.READ in held)


def generate_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).digest()


def keys_match(stored_hash: bytes, presented_hash: bytes) -> bool:
    """Constant-time comparison, so response time says nothing about the key."""
    return hmac.compare_digest(stored_hash, presented_hash)


def check_key_label(label: str) -> str:
    """A key's label says who holds it ("billing-bot"): 1-64 printable characters,
    without surrounding spaces, not shaped like a key (it is shown beside one)."""
    if not 1 <= len(label) <= 64 or not label.isprintable() or label != label.strip():
        raise ValidationError(
            "label: 1-64 printable characters, without leading or trailing spaces."
        )
    if label.startswith((KEY_PREFIX, "lopk-")):
        raise ValidationError("label: must not start like an API key (loid-, lopk-).")
    return label


def key_display_prefix(api_key: str) -> str:
    """What lists and logs show of a key: enough to tell keys apart, useless to an attacker."""
    return api_key[: len(KEY_PREFIX) + _DISPLAY_CHARS]


class Principal(msgspec.Struct, frozen=True):
    """The identity a request acts as, and what its key may do."""

    identity_id: str
    key_prefix: str
    scopes: frozenset[Scope]
    key_expires_at: int | None = None
    client: str = ""
    """The caller's address, for the audit log."""
    key_label: str | None = None
    """The key's label, for the audit log."""
    person: bool = False
    """A person at the console (a signed-in browser session), not a program holding
    a key: a credential's ``reveal: "approval"`` does not hold a person's own read."""

    def require(self, scope: Scope) -> None:
        """Refuse unless the key holds ``scope`` (``vault:read`` implies ``vault:use``).

        A ``vault:use`` key asking for secret fields is told the way it may use them.
        """
        if scopes_allow(self.scopes, scope):
            return
        if scope is Scope.READ and Scope.USE in self.scopes:
            raise PermissionDeniedError(
                "This API key has vault:use, which never returns secret fields: make the "
                "request through the vault instead (POST /v0/vault/{name}/fetch, the vault_fetch "
                "tool, `loomal vault fetch`, or the /v0/proxy/{name}/... pass-through).",
                reason="insufficient_scope",
            )
        implied = " (vault:read includes it)" if scope is Scope.USE else ""
        raise PermissionDeniedError(
            f"This API key lacks the {scope.value} scope{implied}.", reason="insufficient_scope"
        )
