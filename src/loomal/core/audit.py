"""The audit log: every call that touches a credential, and every failed
authentication, as one event (time, identity, key prefix, action, credential
name, outcome, client address). Never a secret, never a request body.

Events of a change are written by the store in the same transaction as the
change. Everything else (reads, refusals, failures) is held here and written
in batches by :meth:`AuditLog.flush`: as soon as ``batch_size`` events wait
(small batches: one huge insert a second would stall the event loop for tens
of milliseconds), and at least every second with the usage flush, and on a
clean stop. So auditing puts no durable commit on the read path. At most
``max_pending`` events wait; beyond that new ones are dropped and counted in
the log (a flood of failed logins must not exhaust memory).

A refused attempt on a name other identities hold goes into their logs too, but
aggregated (one row per actor, key, action, name and outcome per window, with a
count), so that one identity cannot bury another's log under its refusals; and
each log numbers its own events (see the store's ``seq``), so that an identity's
ids say nothing of what went into other logs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime

from msgspec.structs import replace

from loomal.core.audit_actions import check_action
from loomal.core.models import AuditEntry, AuditPage
from loomal.core.ports import AuditEvent, AuditStore
from loomal.core.principals import Principal
from loomal.core.timestamps import from_micros, to_micros
from loomal.core.types import NAME_PATTERN
from loomal.core.write_behind import WriteBehind
from loomal.errors import LoomalError, ValidationError

__all__ = ["AuditLog", "AuditedCall", "prune_audit_events", "run_audit_retention"]

log = logging.getLogger("loomal.audit")

_SHOWN_TO_OWNERS = frozenset({"not_found", "insufficient_scope"})
_NAMES_PER_ACTOR = 20
"""Names one actor's refusals are counted apart under, per owner and window; beyond
that they share one row without a name."""


class AuditLog:
    def __init__(
        self,
        store: AuditStore,
        *,
        clock: Callable[[], float] = time.time,
        max_pending: int = 200_000,
        batch_size: int = 1000,
        copy_window: float = 60.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._pending: list[AuditEvent] = []
        self._dropped = 0
        self._flushing: asyncio.Task[int] | None = None
        self._copy_window = copy_window
        self.owner_copies: WriteBehind[AuditEvent, tuple[int, int]] = WriteBehind(
            _add_counts, self._write_copies, due=self._copy_due
        )
        """Refusals copied into the logs of the names' owners: the event (its time
        zeroed) -> (first at, count), written when their window is over."""
        self._copy_names: dict[tuple[str | None, str | None], set[str | None]] = {}

    def call(
        self,
        principal: Principal,
        action: str,
        name: str | None,
        *,
        durable: bool = False,
        detail: Callable[[], str] | None = None,
        guard: Callable[[], object] | None = None,
    ) -> AuditedCall:
        """Audit one call by ``principal`` (``async with``). Yields the ``ok`` event: a
        change hands it to the store (written in the change's transaction,
        ``durable=True``); otherwise it is batched on success. A refusal is batched
        with its error code, and a refused attempt on a name other identities hold
        goes into their logs too. A name that is not valid is not recorded
        (unchecked input). ``detail`` (brokered requests) is read when the call ends.
        ``guard`` runs first, and what it raises is audited like any refusal (the
        vault's "not while sealed").

        A plain class rather than ``@asynccontextmanager``: every read passes
        through here, and the generator machinery cost ~3 µs of it.
        """
        if name is not None and not NAME_PATTERN.fullmatch(name):
            name = None
        ok = AuditEvent(
            at=to_micros(self._clock()),
            identity_id=principal.identity_id,
            actor_identity_id=principal.identity_id,
            key_prefix=principal.key_prefix,
            action=action,
            credential_name=name,
            outcome="ok",
            client=principal.client or None,
            key_label=principal.key_label,
        )
        return AuditedCall(self, ok, durable, detail, guard)

    async def _refused(self, ok: AuditEvent, error: LoomalError) -> None:
        outcome = error.reason or error.code
        self.note(replace(ok, outcome=outcome))
        name = ok.credential_name
        if name is not None and outcome in _SHOWN_TO_OWNERS:
            for owner in await self._store.identities_owning(
                name=name, except_identity=ok.actor_identity_id or ""
            ):
                self._note_copy(replace(ok, identity_id=owner, outcome=outcome, detail=None))

    def _note_copy(self, event: AuditEvent) -> None:
        key = replace(event, at=0)
        if key not in self.owner_copies:
            names = self._copy_names.setdefault((event.identity_id, event.actor_identity_id), set())
            if event.credential_name not in names and len(names) >= _NAMES_PER_ACTOR:
                key = replace(key, credential_name=None, client=None)
            names.add(key.credential_name)
        self.owner_copies.note(key, (event.at, 1))

    def _copy_due(self, held: tuple[int, int]) -> bool:
        return held[0] <= to_micros(self._clock() - self._copy_window)

    async def _write_copies(self, taken: dict[AuditEvent, tuple[int, int]]) -> None:
        for key in taken:
            names = self._copy_names.get((key.identity_id, key.actor_identity_id))
            if names is not None:
                names.discard(key.credential_name)
                if not names:
                    del self._copy_names[(key.identity_id, key.actor_identity_id)]
        events = [replace(key, at=at, count=count) for key, (at, count) in taken.items()]
        await self._store.append_audit_events(events=events)

    async def append(self, events: list[AuditEvent]) -> None:
        """Write ``events`` now (aggregates whose window is over)."""
        await self._store.append_audit_events(events=events)

    @property
    def pending(self) -> int:
        """Events waiting for the next batch write."""
        return len(self._pending)

    def note(self, event: AuditEvent) -> None:
        if len(self._pending) >= self._max_pending:
            self._dropped += 1
            return
        self._pending.append(event)
        if len(self._pending) >= self._batch_size and self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> int:
        try:
            return await self.flush()
        except Exception as exc:  # the periodic flush retries
            log.error("audit: could not write events: %s", type(exc).__name__)
            return 0
        finally:
            self._flushing = None

    async def flush(self, *, final: bool = False) -> int:
        """Write the batched events (all of them: ``final`` is for the runtime's
        list of buffers, which holds ``owner_copies`` apart)."""
        if self._dropped:
            log.error(
                "audit: %d events dropped (more than %d waiting)", self._dropped, self._max_pending
            )
            self._dropped = 0
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        try:
            await self._store.append_audit_events(events=batch)
        except Exception:
            self._pending[:0] = batch
            raise
        return len(batch)

    async def page(
        self,
        *,
        identity_id: str | None,
        action: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AuditPage:
        """Newest events first (after writing what is pending, so a caller sees
        its own latest calls); ``action`` must be one the log knows; only events at
        or after ``since`` and before ``until``."""
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000.")
        check_action(action)
        before = _decode_cursor(cursor)
        await self.flush()
        if identity_id is not None:  # the owner's own copies: nobody else's page splits them
            await self.owner_copies.flush(
                final=True, only=lambda key: key.identity_id == identity_id
            )
        rows = await self._store.list_audit_events(
            identity_id=identity_id,
            action=action,
            before=before,
            limit=limit + 1,
            since=None if since is None else to_micros(since.timestamp()),
            until=None if until is None else to_micros(until.timestamp()),
        )
        entries = [
            AuditEntry(
                event_id=event_id,
                at=from_micros(event.at),
                action=event.action,
                credential_name=event.credential_name,
                outcome=event.outcome,
                identity_id=event.identity_id,
                actor_identity_id=event.actor_identity_id,
                key_prefix=event.key_prefix,
                client=event.client,
                detail=event.detail,
                count=event.count,
                key_label=event.key_label,
                operator=event.operator,
            )
            for event_id, event in rows[:limit]
        ]
        next_cursor = str(rows[limit - 1][0]) if len(rows) > limit else None
        return AuditPage(events=entries, next_cursor=next_cursor)


class AuditedCall:
    """One audited call (see :meth:`AuditLog.call`)."""

    __slots__ = ("_detail", "_durable", "_guard", "_log", "_ok")

    def __init__(
        self,
        log: AuditLog,
        ok: AuditEvent,
        durable: bool,
        detail: Callable[[], str] | None,
        guard: Callable[[], object] | None,
    ) -> None:
        self._log, self._ok, self._durable = log, ok, durable
        self._detail, self._guard = detail, guard

    async def __aenter__(self) -> AuditEvent:
        audit = self._log
        if self._durable and audit._pending:
            # The log is listed by event id, so events batched before this change are
            # written first: the ids then follow the order of the calls.
            try:
                await audit.flush()
            except Exception as exc:  # the periodic flush retries; the change goes on
                log.error("audit: could not write events: %s", type(exc).__name__)
        if self._guard is not None:
            try:
                self._guard()
            except LoomalError as error:
                await audit._refused(self._event(), error)
                raise
        return self._ok

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        if error is None:
            if not self._durable:
                self._log.note(self._event())
        elif isinstance(error, LoomalError):
            await self._log._refused(self._event(), error)

    def _event(self) -> AuditEvent:
        if self._detail is None:
            return self._ok
        return replace(self._ok, detail=self._detail() or None)


def _add_counts(held: tuple[int, int], noted: tuple[int, int]) -> tuple[int, int]:
    """(first at, count) of one aggregated row."""
    return min(held[0], noted[0]), held[1] + noted[1]


_CURSOR = re.compile(r"(?:[0-9]{1,19}-)?([0-9]{1,19})")
"""An event id; cursors of earlier versions were ``<at>-<event id>``. ASCII digits
only (``str.isdigit`` accepts ``²``), and no more than a 64-bit integer holds."""
_MAX_ID = 2**63 - 1


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    found = _CURSOR.fullmatch(cursor)
    if found is None or int(found.group(1)) > _MAX_ID:
        raise ValidationError("cursor is not a cursor this API returned.")
    return int(found.group(1))


async def prune_audit_events(
    store: AuditStore,
    *,
    retention_days: float,
    batch_size: int = 5000,
    clock: Callable[[], float] = time.time,
) -> int:
    """Delete events older than ``retention_days``, ``batch_size`` at a time (each
    batch its own short transaction, so writers never wait long); returns how many."""
    before = to_micros(clock() - retention_days * 86_400)
    removed = 0
    while True:
        count = await store.prune_audit_events(before=before, limit=batch_size)
        removed += count
        if count < batch_size:
            return removed
        await asyncio.sleep(0)  # let requests run between batches


async def run_audit_retention(
    store: AuditStore, retention_days: float, *, interval: float = 3600.0, first_after: float = 30.0
) -> None:
    """Prune every ``interval`` seconds until cancelled (every worker may run it:
    deleting what another worker deleted is a no-op)."""
    await asyncio.sleep(first_after)
    while True:
        try:
            removed = await prune_audit_events(store, retention_days=retention_days)
            if removed:
                log.info("audit: pruned %d events older than %g days", removed, retention_days)
        except Exception as exc:  # keep serving; the next run retries
            log.error("audit: could not prune old events: %s", type(exc).__name__)
        await asyncio.sleep(interval)
