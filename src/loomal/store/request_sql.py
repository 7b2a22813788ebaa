"""Access requests' statements, written once per placeholder style, and the mixin
of ``store/sql.py``'s layer that runs them on either database.

A request is answered by one UPDATE whose WHERE names the state it leaves
(pending and unexpired, or a stale ``fulfilling`` claim), so of two people
answering at once exactly one changes a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from loomal.core.access_request_store import STALE_CLAIM_MICROS, AccessRequestRow
from loomal.store.steps import Fetch, Run, Script, SqlPrimitives

__all__ = ["REQUESTS_POSTGRES", "REQUESTS_SQLITE", "RequestSql"]

_COLUMNS = (
    "request_id, identity_id, name, type, reason, allowed_hosts, requested_by, "
    "requested_by_label, status, created_at, expires_at, answered_at, answered_by"
)
_OPEN = "status IN ('pending', 'fulfilling')"


class _Sql:
    """The statements, for one placeholder style (``?`` or ``%s``)."""

    def __init__(self, p: str) -> None:
        marks = ", ".join([p] * len(_COLUMNS.split(",")))
        self.insert = f"INSERT INTO access_requests ({_COLUMNS}) VALUES ({marks})"
        self.count_open = (
            f"SELECT count(*) FROM access_requests WHERE identity_id = {p} AND {_OPEN} "
            f"AND expires_at > {p}"
        )
        self.get = (
            f"SELECT {_COLUMNS} FROM access_requests WHERE identity_id = {p} AND request_id = {p}"
        )
        self.list = (
            f"SELECT {_COLUMNS} FROM access_requests WHERE identity_id = {p} "
            f"ORDER BY created_at DESC, request_id LIMIT {p}"
        )
        self.claim = (
            f"UPDATE access_requests SET status = {p}, answered_by = {p}, answered_at = {p} "
            f"WHERE identity_id = {p} AND request_id = {p} AND expires_at > {p} "
            f"AND (status = 'pending' OR (status = 'fulfilling' AND answered_at < {p}))"
        )
        self.fulfilled = (
            f"UPDATE access_requests SET status = 'fulfilled' WHERE identity_id = {p} "
            f"AND request_id = {p} AND status = 'fulfilling' AND answered_at = {p}"
        )
        self.released = (
            "UPDATE access_requests SET status = 'pending', answered_by = NULL, "
            f"answered_at = NULL WHERE identity_id = {p} AND request_id = {p} "
            f"AND status = 'fulfilling' AND answered_at = {p}"
        )


def _row(row: Sequence[Any]) -> AccessRequestRow:
    return AccessRequestRow(*row)


def _values(r: AccessRequestRow) -> tuple[Any, ...]:
    return (
        r.request_id,
        r.identity_id,
        r.name,
        r.type,
        r.reason,
        r.allowed_hosts,
        r.requested_by,
        r.requested_by_label,
        r.status,
        r.created_at,
        r.expires_at,
        r.answered_at,
        r.answered_by,
    )


REQUESTS_SQLITE = _Sql("?")
REQUESTS_POSTGRES = _Sql("%s")


class RequestSql(SqlPrimitives):
    """The AccessRequestStore port over ``store/sql.py``'s primitives."""

    requests: ClassVar[_Sql]

    async def create_access_request(self, *, request: AccessRequestRow, max_pending: int) -> bool:
        sql = self.requests

        def script() -> Script[bool]:
            (count,) = yield Fetch(sql.count_open, (request.identity_id, request.created_at))
            if int(count) >= max_pending:
                return False
            yield Run(sql.insert, _values(request))
            return True

        return await self._transact(script)

    async def get_access_request(
        self, *, identity_id: str, request_id: str
    ) -> AccessRequestRow | None:
        row = await self._fetch_one(self.requests.get, (identity_id, request_id))
        return None if row is None else _row(row)

    async def list_access_requests(self, *, identity_id: str, limit: int) -> list[AccessRequestRow]:
        return [_row(r) for r in await self._fetch_all(self.requests.list, (identity_id, limit))]

    async def claim_access_request(
        self, *, identity_id: str, request_id: str, status: str, answered_by: str, now: int
    ) -> bool:
        values = (status, answered_by, now, identity_id, request_id, now, now - STALE_CLAIM_MICROS)
        return await self._run(self.requests.claim, values) == 1

    async def finish_access_request(
        self, *, identity_id: str, request_id: str, claimed_at: int, fulfilled: bool
    ) -> bool:
        sql = self.requests.fulfilled if fulfilled else self.requests.released
        return await self._run(sql, (identity_id, request_id, claimed_at)) == 1
