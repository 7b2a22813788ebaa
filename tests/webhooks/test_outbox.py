"""The outbox's guarantees on both stores, without a network: an event is claimed
by one deliverer at a time, taken over when its deliverer's lease runs out (the
deliverer died mid-attempt), settled only by the one holding it, retried on the
schedule and dead after the last attempt; ``emit`` writes nothing when webhooks
are off and refuses fields that could carry a secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from loomal.config import ServerSettings
from loomal.core.audit import AuditLog
from loomal.core.notifications import LEASE_SECONDS, MAX_ATTEMPTS, RETRY_DELAYS, Notifications
from loomal.core.ports import Store
from loomal.runtime import open_store
from tests.conftest import ManualClock


@pytest.fixture
async def store(settings: ServerSettings) -> AsyncIterator[Store]:
    opened = await open_store(settings)
    try:
        yield opened
    finally:
        await opened.close()


def notifications(store: Store, clock: ManualClock, *, enabled: bool = True) -> Notifications:
    return Notifications(
        store, AuditLog(store, clock=clock), enabled=enabled, public_url=None, clock=clock
    )


async def test_each_event_is_claimed_by_one_deliverer_at_a_time(
    store: Store, clock: ManualClock
) -> None:
    told = notifications(store, clock)
    ids = {
        await told.emit("request.created", {"name": f"n{i}"}, identity_id=None) for i in range(6)
    }
    first, second = await asyncio.gather(told.claim_due("dlv_a"), told.claim_due("dlv_b"))
    assert {r.event_id for r in first} | {r.event_id for r in second} == ids
    assert not {r.event_id for r in first} & {r.event_id for r in second}
    assert await told.claim_due("dlv_c") == []
    assert all(r.attempts == 1 for r in [*first, *second])


async def test_a_lease_run_out_is_taken_over_and_the_old_holder_cannot_settle(
    store: Store, clock: ManualClock
) -> None:
    told = notifications(store, clock)
    event_id = await told.emit("request.created", {"name": "n"}, identity_id=None)
    (held,) = await told.claim_due("dlv_dead")
    clock.advance(LEASE_SECONDS - 1)
    assert await told.claim_due("dlv_live") == []
    clock.advance(1)
    (taken,) = await told.claim_due("dlv_live")
    assert (taken.event_id, taken.attempts, taken.payload) == (event_id, 2, held.payload)
    await told.settle(held, "dlv_dead", None)  # too late: changes nothing
    (row,) = await store.list_outbox_events(state=None, limit=5)
    assert (row.state, row.lease_owner) == ("pending", "dlv_live")
    assert await told.settle(taken, "dlv_live", None) == "delivered"


async def test_failures_are_retried_on_the_schedule_then_the_event_is_dead(
    store: Store, clock: ManualClock
) -> None:
    told = notifications(store, clock)
    await told.emit("request.created", {"name": "n"}, identity_id=None)
    states = []
    for delay in (*RETRY_DELAYS, 0):
        (row,) = await told.claim_due("dlv")
        states.append(await told.settle(row, "dlv", "status_500"))
        clock.advance(delay - 1)
        assert await told.claim_due("dlv") == []
        clock.advance(1)
    assert states == ["pending"] * (MAX_ATTEMPTS - 1) + ["dead"]
    clock.advance(86400)
    assert await told.claim_due("dlv") == []
    assert await store.count_outbox_events() == {"dead": 1}
    (dead,) = await store.list_outbox_events(state="dead", limit=5)
    assert (dead.attempts, dead.last_error) == (MAX_ATTEMPTS, "status_500")
    assert await store.retry_outbox_event(event_id=dead.event_id, now=0)
    (again,) = await told.claim_due("dlv")
    assert again.attempts == 1


async def test_delivered_events_are_pruned_after_a_week(store: Store, clock: ManualClock) -> None:
    told = notifications(store, clock)
    await told.emit("request.created", {"name": "n"}, identity_id=None)
    (row,) = await told.claim_due("dlv")
    await told.settle(row, "dlv", None)
    clock.advance(6 * 86400)
    assert await told.prune() == 0
    clock.advance(2 * 86400)
    assert await told.prune() == 1
    assert await store.count_outbox_events() == {}


async def test_nothing_is_written_when_webhooks_are_off(store: Store, clock: ManualClock) -> None:
    told = notifications(store, clock, enabled=False)
    assert await told.emit("request.created", {"name": "n"}, identity_id=None) is None
    assert await store.count_outbox_events() == {}


async def test_an_event_refuses_fields_that_could_carry_a_secret(
    store: Store, clock: ManualClock
) -> None:
    told = notifications(store, clock)
    for data in ({"data": {"key": "v"}}, {"name": "n", "extra": {"Password": "p"}}, {"query": "q"}):
        with pytest.raises(ValueError, match="may not carry"):
            await told.emit("request.created", data, identity_id=None)
    with pytest.raises(ValueError, match="Unknown webhook event"):
        await told.emit("request.fulfilled", {"name": "n"}, identity_id=None)
    assert await store.count_outbox_events() == {}
    event_id = await told.emit("request.created", {"requestId": "req_1"}, identity_id=None)
    (row,) = await store.list_outbox_events(state="pending", limit=5)
    assert msgspec.json.decode(row.payload) == {
        "id": event_id,
        "type": "request.created",
        "createdAt": "2027-01-15T08:00:00Z",
        "data": {"requestId": "req_1"},
    }
