"""``reveal: "approval"`` on a credential: an agent's read of its secret waits for a
person (SPEC "Request rules, approvals"), the same way a brokered request a rule
holds does — a 202 with a pending approval of kind ``reveal``, bound to the
credential and to what is read (the current data, a kept version, the current
TOTP code), used once.

Who is held: a key without ``vault:write``. A person at the console, or a key
that may rewrite the credential anyway, is not (a person is already in the loop,
and vault:write could drop the flag). The flag is metadata, which is bound into
the ciphertext, so a database writer cannot remove it.

Cost: the reads this guards are the vault's fast path. :func:`holds_reveal` decides
from the row already in hand — a substring test on its metadata JSON, parsed only
when the word is there — so a credential without ``reveal`` pays no query and no
parse.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import msgspec

from loomal.core.approval_desk import ApprovalDesk, Held
from loomal.core.notifications import Notifications
from loomal.core.principals import Principal, Scope
from loomal.core.request_rules import check_reason
from loomal.core.rules_store import RulesStore

__all__ = ["REVEAL_FINGERPRINT", "Reveals", "holds_reveal"]

REVEAL_FINGERPRINT = "reveal"
"""The ``rule_fingerprint`` of reveal approvals: they grant no window, so it only
keeps them apart from any request rule's."""

_decode = msgspec.json.Decoder(dict[str, Any]).decode


def holds_reveal(metadata_json: bytes | None) -> bool:
    """Whether a credential's stored metadata says ``reveal: "approval"``."""
    if not metadata_json or b'"reveal"' not in metadata_json:
        return False
    return _decode(metadata_json).get("reveal") == "approval"


def _bound(credential_id: str, what: str) -> bytes:
    digest = hashlib.sha256(b"loomal-reveal\0")
    for part in (credential_id.encode(), what.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


class Reveals:
    def __init__(
        self,
        store: RulesStore,
        *,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        notifications: Notifications | None = None,
    ) -> None:
        """``notifications``: where a held read is told to a person (the webhook)."""
        self._desk = ApprovalDesk(
            store, public_url=public_url, clock=clock, notifications=notifications
        )

    async def admit(
        self,
        principal: Principal,
        *,
        credential_id: str,
        name: str,
        what: str,
        path: str,
        approval_id: str | None,
        reason: str | None,
    ) -> None:
        """Return when ``principal`` may read ``what`` of a credential marked
        ``reveal: "approval"`` now (spending its approval); else raise the 202 of a
        new pending approval, or why ``approval_id`` cannot be used. Call it inside
        the read's audited call, before anything is decrypted."""
        if principal.person or Scope.WRITE in principal.scopes:
            return
        bound = _bound(credential_id, what)
        if approval_id is None:
            held = Held(
                kind="reveal",
                credential_id=credential_id,
                credential_name=name,
                rule_fingerprint=REVEAL_FINGERPRINT,
                rule_window=0,
                method="GET",
                host="",
                path=path,
                body_size=0,
                request_hash=bound,
                reason=check_reason(reason),
            )
            await self._desk.ask(principal, held)
        await self._desk.use(principal.identity_id, approval_id, bound)
