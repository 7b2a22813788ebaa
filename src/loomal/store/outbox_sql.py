"""The webhook outbox's statements, written once per placeholder style, and the
mixin of ``store/sql.py``'s layer that runs them on either database.

A claim is one UPDATE per event whose WHERE names the state it leaves (pending,
due, lease free or run out): of two deliverers claiming at once, on any number
of servers, exactly one changes the row (PostgreSQL re-checks the WHERE after
waiting for the other's lock; SQLite's writes are serialised). A settle names
its owner, so a deliverer whose lease ran out cannot overwrite the outcome of
the one that took the event over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from loomal.core.outbox_store import OutboxRow
from loomal.store.steps import Fetch, FetchAll, Run, Script, SqlPrimitives

__all__ = ["OUTBOX_POSTGRES", "OUTBOX_SQLITE", "OutboxSql", "OutboxStatements", "outbox_insert"]

_COLUMNS = (
    "event_id, identity_id, kind, payload, state, attempts, next_attempt_at, lease_owner, "
    "lease_until, last_error, created_at, finished_at"
)


class OutboxStatements:
    """The statements, for one placeholder style (``?`` or ``%s``)."""

    def __init__(self, p: str) -> None:
        marks = ", ".join([p] * len(_COLUMNS.split(",")))
        self.insert = f"INSERT INTO webhook_outbox ({_COLUMNS}) VALUES ({marks})"
        self.due = (
            f"SELECT event_id FROM webhook_outbox WHERE state = 'pending' "
            f"AND next_attempt_at <= {p} AND (lease_until IS NULL OR lease_until <= {p}) "
            f"ORDER BY next_attempt_at, event_id LIMIT {p}"
        )
        self.claim = (
            f"UPDATE webhook_outbox SET lease_owner = {p}, lease_until = {p}, "
            f"attempts = attempts + 1 WHERE event_id = {p} AND state = 'pending' "
            f"AND next_attempt_at <= {p} AND (lease_until IS NULL OR lease_until <= {p}) "
            f"RETURNING {_COLUMNS}"
        )
        self.settle = (
            f"UPDATE webhook_outbox SET state = {p}, next_attempt_at = {p}, "
            f"last_error = COALESCE({p}, last_error), "
            f"finished_at = {p}, "
            f"lease_owner = NULL, lease_until = NULL "
            f"WHERE event_id = {p} AND lease_owner = {p} AND state = 'pending'"
        )
        self.list_all = (
            f"SELECT {_COLUMNS} FROM webhook_outbox ORDER BY created_at DESC, event_id LIMIT {p}"
        )
        self.list_by_state = (
            f"SELECT {_COLUMNS} FROM webhook_outbox WHERE state = {p} "
            f"ORDER BY created_at DESC, event_id LIMIT {p}"
        )
        self.count = "SELECT state, count(*) FROM webhook_outbox GROUP BY state"
        self.retry = (
            f"UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt_at = {p}, "
            f"finished_at = NULL, lease_owner = NULL, lease_until = NULL "
            f"WHERE event_id = {p} AND state = 'dead'"
        )
        self.prune = f"DELETE FROM webhook_outbox WHERE state = 'delivered' AND finished_at < {p}"


def _row(values: Sequence[Any]) -> OutboxRow:
    return OutboxRow(*values)


def _values(row: OutboxRow) -> tuple[Any, ...]:
    return (
        row.event_id,
        row.identity_id,
        row.kind,
        row.payload,
        row.state,
        row.attempts,
        row.next_attempt_at,
        row.lease_owner,
        row.lease_until,
        row.last_error,
        row.created_at,
        row.finished_at,
    )


def outbox_insert(sql: OutboxStatements, row: OutboxRow) -> Run:
    """The step writing ``row``, for a script that writes an event in the same
    transaction as what it tells of (a new approval)."""
    return Run(sql.insert, _values(row))


OUTBOX_SQLITE = OutboxStatements("?")
OUTBOX_POSTGRES = OutboxStatements("%s")


class OutboxSql(SqlPrimitives):
    """The OutboxStore port over ``store/sql.py``'s primitives."""

    outbox: ClassVar[OutboxStatements]

    async def add_outbox_event(self, *, event: OutboxRow) -> None:
        step = outbox_insert(self.outbox, event)
        await self._run(step.sql, step.params)

    async def claim_outbox_events(
        self, *, owner: str, now: int, lease_until: int, limit: int
    ) -> list[OutboxRow]:
        sql = self.outbox

        def script() -> Script[list[OutboxRow]]:
            due = yield FetchAll(sql.due, (now, now, limit))
            claimed = []
            for (event_id,) in due:
                row = yield Fetch(sql.claim, (owner, lease_until, event_id, now, now))
                if row is not None:
                    claimed.append(_row(row))
            return claimed

        return await self._transact(script)

    async def settle_outbox_event(
        self,
        *,
        event_id: str,
        owner: str,
        state: str,
        next_attempt_at: int,
        last_error: str | None,
        now: int,
    ) -> bool:
        finished = None if state == "pending" else now
        values = (state, next_attempt_at, last_error, finished, event_id, owner)
        return await self._run(self.outbox.settle, values) == 1

    async def list_outbox_events(self, *, state: str | None, limit: int) -> list[OutboxRow]:
        if state is None:
            rows = await self._fetch_all(self.outbox.list_all, (limit,))
        else:
            rows = await self._fetch_all(self.outbox.list_by_state, (state, limit))
        return [_row(r) for r in rows]

    async def count_outbox_events(self) -> dict[str, int]:
        return {state: int(n) for state, n in await self._fetch_all(self.outbox.count)}

    async def retry_outbox_event(self, *, event_id: str, now: int) -> bool:
        return await self._run(self.outbox.retry, (now, event_id)) == 1

    async def prune_outbox_events(self, *, finished_before: int) -> int:
        return await self._run(self.outbox.prune, (finished_before,))
