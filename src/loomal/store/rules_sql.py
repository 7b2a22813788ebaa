"""Request rules' statements (budgets, approvals), written once per placeholder
style, and the mixin of ``store/sql.py``'s layer that runs them on either database.

Every change here is one statement, so it is atomic on its own: a budget is
counted by one upsert that refuses to count past the limit (no read-then-write
that two workers could interleave), and an approval moves from pending to
decided, or from approved to used, only by an UPDATE whose WHERE names the state
it leaves, so of two racing uses exactly one changes a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from loomal.core.outbox_store import OutboxRow
from loomal.core.rules_store import ApprovalRow
from loomal.store.outbox_sql import OutboxStatements, outbox_insert
from loomal.store.steps import Fetch, Run, Script, SqlPrimitives

__all__ = ["RULES_POSTGRES", "RULES_SQLITE", "RulesSql"]

T = TypeVar("T")

_APPROVAL_COLUMNS = (
    "approval_id, identity_id, credential_id, credential_name, rule_fingerprint, rule_window, "
    "method, "
    "host, path, body_size, request_hash, requested_by, status, created_at, expires_at, "
    "decided_at, decided_by, window_until, used_at, reason, kind, "
    "requested_label"
)


class _Sql:
    """The statements, for one placeholder style (``?`` or ``%s``)."""

    def __init__(self, p: str) -> None:
        self.take_budget = (
            "INSERT INTO request_budgets (budget_key, window_start, used) "
            f"VALUES ({p}, {p}, 1) ON CONFLICT (budget_key) DO UPDATE SET "
            "used = CASE WHEN excluded.window_start > request_budgets.window_start "
            "THEN 1 ELSE request_budgets.used + 1 END, "
            "window_start = CASE WHEN excluded.window_start > request_budgets.window_start "
            "THEN excluded.window_start ELSE request_budgets.window_start END "
            "WHERE excluded.window_start > request_budgets.window_start "
            f"OR request_budgets.used < {p} RETURNING used"
        )
        marks = ", ".join([p] * len(_APPROVAL_COLUMNS.split(",")))
        self.insert_approval = f"INSERT INTO approvals ({_APPROVAL_COLUMNS}) VALUES ({marks})"
        self.count_pending = (
            f"SELECT count(*) FROM approvals WHERE identity_id = {p} AND status = 'pending' "
            f"AND expires_at > {p}"
        )
        self.get_approval = (
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE identity_id = {p} "
            f"AND approval_id = {p}"
        )
        self.list_approvals = (
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE identity_id = {p} "
            f"ORDER BY created_at DESC, approval_id LIMIT {p}"
        )
        self.list_approvals_by_status = (
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE identity_id = {p} "
            f"AND status = {p} ORDER BY created_at DESC, approval_id LIMIT {p}"
        )
        self.decide = (
            f"UPDATE approvals SET status = {p}, decided_by = {p}, decided_at = {p}, "
            f"window_until = {p} WHERE identity_id = {p} AND approval_id = {p} "
            f"AND status = 'pending' AND expires_at > {p}"
        )
        self.use = (
            f"UPDATE approvals SET status = 'used', used_at = {p} WHERE identity_id = {p} "
            f"AND approval_id = {p} AND status = 'approved' AND request_hash = {p} "
            f"AND expires_at > {p}"
        )
        self.window = (
            f"SELECT 1 FROM approvals WHERE credential_id = {p} AND rule_fingerprint = {p} "
            f"AND identity_id = {p} AND window_until > {p} LIMIT 1"
        )


def _approval(row: Sequence[Any]) -> ApprovalRow:
    return ApprovalRow(*row)


def _approval_values(a: ApprovalRow) -> tuple[Any, ...]:
    return (
        a.approval_id,
        a.identity_id,
        a.credential_id,
        a.credential_name,
        a.rule_fingerprint,
        a.rule_window,
        a.method,
        a.host,
        a.path,
        a.body_size,
        a.request_hash,
        a.requested_by,
        a.status,
        a.created_at,
        a.expires_at,
        a.decided_at,
        a.decided_by,
        a.window_until,
        a.used_at,
        a.reason,
        a.kind,
        a.requested_label,
    )


def _list(
    status: str | None, identity_id: str, limit: int, sql: _Sql
) -> tuple[str, tuple[Any, ...]]:
    if status is None:
        return sql.list_approvals, (identity_id, limit)
    return sql.list_approvals_by_status, (identity_id, status, limit)


RULES_SQLITE = _Sql("?")
RULES_POSTGRES = _Sql("%s")


class RulesSql(SqlPrimitives):
    """The RulesStore port over ``store/sql.py``'s primitives (declared here for type
    checking; ``SqlStore`` supplies them)."""

    rules: ClassVar[_Sql]
    outbox: ClassVar[OutboxStatements]

    async def take_budget(self, *, budget_key: str, window_start: int, limit: int) -> bool:
        statement, values = self.rules.take_budget, (budget_key, window_start, limit)

        def script() -> Script[bool]:
            return (yield Fetch(statement, values)) is not None

        return await self._transact(script)

    async def create_approval(
        self, *, approval: ApprovalRow, notice: OutboxRow | None = None
    ) -> None:
        insert = Run(self.rules.insert_approval, _approval_values(approval))
        if notice is None:
            await self._run(insert.sql, insert.params)
            return
        told = outbox_insert(self.outbox, notice)

        def script() -> Script[None]:
            yield insert
            yield told

        await self._transact(script)

    async def count_pending_approvals(self, *, identity_id: str, now: int) -> int:
        (count,) = await self._fetch_one(self.rules.count_pending, (identity_id, now))
        return int(count)

    async def get_approval(self, *, identity_id: str, approval_id: str) -> ApprovalRow | None:
        row = await self._fetch_one(self.rules.get_approval, (identity_id, approval_id))
        return None if row is None else _approval(row)

    async def list_approvals(
        self, *, identity_id: str, status: str | None, limit: int
    ) -> list[ApprovalRow]:
        sql, params = _list(status, identity_id, limit, self.rules)
        return [_approval(r) for r in await self._fetch_all(sql, params)]

    async def decide_approval(
        self,
        *,
        identity_id: str,
        approval_id: str,
        status: str,
        decided_by: str,
        window_until: int | None,
        now: int,
    ) -> bool:
        values = (status, decided_by, now, window_until, identity_id, approval_id, now)
        return await self._run(self.rules.decide, values) == 1

    async def use_approval(
        self, *, identity_id: str, approval_id: str, request_hash: bytes, now: int
    ) -> bool:
        values = (now, identity_id, approval_id, request_hash, now)
        return await self._run(self.rules.use, values) == 1

    async def approval_window_open(
        self, *, identity_id: str, credential_id: str, rule_fingerprint: str, now: int
    ) -> bool:
        values = (credential_id, rule_fingerprint, identity_id, now)
        return await self._fetch_one(self.rules.window, values) is not None
