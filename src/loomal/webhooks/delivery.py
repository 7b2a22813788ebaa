"""The webhook deliverer of one server process: claim the events due (a lease,
so of several workers and servers on one store each event is sent by one at a
time), POST them at once, settle each (``core/notifications.py`` decides
delivered, retry or dead). At least once: an event whose deliverer dies
mid-attempt is claimed again when its lease runs out and sent with the same
idempotency id, so receivers de-duplicate on ``X-Loomal-Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from loomal.core.notifications import Notifications, webhook_headers
from loomal.core.outbox_store import OutboxRow
from loomal.webhooks.sender import WebhookSender

__all__ = ["POLL_SECONDS", "WebhookDelivery"]

log = logging.getLogger("loomal.webhooks")

POLL_SECONDS = 2.0
"""How often a server looks for due events: the delay before a person hears of a
new approval (an index lookup per tick when nothing is due)."""

_PRUNE_EVERY = 1800
"""Ticks between prunes of delivered events (about an hour)."""


class WebhookDelivery:
    def __init__(self, notifications: Notifications, sender: WebhookSender, secret: bytes):
        self._notifications = notifications
        self._sender = sender
        self._secret = secret
        self.owner = "dlv_" + secrets.token_hex(8)
        """This deliverer's name on the leases it takes."""

    def __repr__(self) -> str:
        return f"WebhookDelivery({self.owner}, to {self._sender.host}, secret '***')"

    async def deliver_due(self) -> int:
        """One pass: every due event claimed, POSTed (all at once, each bounded by the
        sender's timeout, so a pass ends well within a lease) and settled. How many
        were attempted."""
        claimed = await self._notifications.claim_due(self.owner)
        outcomes = await asyncio.gather(
            *(self._attempt(row) for row in claimed), return_exceptions=True
        )
        for outcome in outcomes:  # every attempt settled that could be; then the first failure
            if isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    async def _attempt(self, row: OutboxRow) -> None:
        failure = await self._sender.post(webhook_headers(self._secret, row), row.payload)
        state = await self._notifications.settle(row, self.owner, failure)
        if failure is not None:
            log.warning(
                "webhook %s (%s) to %s: attempt %d failed (%s); %s",
                row.event_id,
                row.kind,
                self._sender.host,
                row.attempts,
                failure,
                "given up (dead)" if state == "dead" else "will retry",
            )

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """Deliver until cancelled: a failed pass (the store down) is logged and the
        next one retries; nothing is lost, the events wait in the store."""
        ticks = 0
        while True:
            try:
                await self.deliver_due()
                if ticks % _PRUNE_EVERY == 0:
                    await self._notifications.prune()
            except Exception as exc:  # keep delivering; the next pass retries
                log.error("could not deliver webhooks: %s", type(exc).__name__)
            ticks += 1
            await asyncio.sleep(interval)
