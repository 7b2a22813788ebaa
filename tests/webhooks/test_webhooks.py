"""Webhooks to tell a person, end to end on both stores: an agent's held request
reaches a loopback receiver as ``approval.created``, signed over the raw body in
the hosted Loomal's format; a failed attempt is retried with the same id; an
event survives a restart; the last failure leaves it dead, counted and audited.
Time moves with the injected clock; the receiver is polled with ``eventually``."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.notifications import MAX_ATTEMPTS, RETRY_DELAYS
from loomal.server.app import create_app
from tests.conftest import Api, ManualClock, auth, eventually, free_port
from tests.webhooks.receiver import Delivery, Receiver, running_receiver

SECRET = "whsec-" + "k7Q2" * 8
KEY = "sk_live_" + "Wh9-zz" * 6
RULES = [{"methods": ["DELETE"], "paths": ["/crm/**"], "approval": {"windowSeconds": 0}}]


def documented_verifier() -> Callable[[bytes, str | None, str], bool]:
    """The receiver's check exactly as docs/approvals.md ("Webhooks") shows it."""
    page = (Path(__file__).parents[2] / "docs" / "approvals.md").read_text()
    section = page[page.index("## Webhooks") :]
    code = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/approvals.md", "exec"), namespace)
    return namespace["verify_webhook"]  # type: ignore[no-any-return]


verify_webhook = documented_verifier()


def verify(secret: str, raw_body: bytes, signature: str | None) -> bool:
    return verify_webhook(raw_body, signature, secret)


def hooked(settings: ServerSettings, receiver_url: str, **more: Any) -> ServerSettings:
    return dataclasses.replace(
        settings,
        fetch_allow_private=("127.0.0.1",),
        webhook_url=receiver_url,
        webhook_secret=SECRET.encode(),
        **more,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@contextmanager
def serving(settings: ServerSettings, clock: ManualClock) -> Iterator[Api]:
    """A server on this store whose time moves with ``clock``."""
    app = create_app(settings=settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


@pytest.fixture
def api(settings: ServerSettings, clock: ManualClock, receiver: Receiver) -> Iterator[Api]:
    configured = hooked(settings, receiver.url)
    with serving(configured, clock) as served:
        yield served


def held_request(api: Api, *, path: str = "/crm/contacts/42", **fields: Any) -> dict[str, Any]:
    """An owner stores a credential whose DELETEs need approval; its agent's DELETE
    is held (202). The 202's body, with the owner's name."""
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    body = {
        "type": "API_KEY",
        "data": {"key": KEY},
        "metadata": {"allowedHosts": ["127.0.0.1"], "rules": RULES},
    }
    stored = api.client.put("/v0/vault/crm", json=body, headers=auth(owner.api_key))
    assert stored.status_code == 200, stored.text
    fetch = {"url": f"http://127.0.0.1:9{path}", "method": "DELETE", **fields}
    held = api.client.post("/v0/vault/crm/fetch", json=fetch, headers=auth(agent.api_key))
    assert held.status_code == 202, held.text
    return {**held.json(), "owner": owner.name, "agentKey": agent.api_key}


def deliver(api: Api) -> None:
    """One delivery pass now (the server's own loop may also take it: either sends)."""
    assert api.vault.webhooks is not None
    api.call(api.vault.webhooks.deliver_due)


def received(receiver: Receiver, count: int) -> list[Delivery]:
    eventually(lambda: len(receiver.seen) >= count, what=f"{count} webhook deliveries")
    return receiver.seen


def test_a_held_request_reaches_the_receiver_signed_over_the_raw_body(
    api: Api, receiver: Receiver
) -> None:
    held = held_request(api)
    deliver(api)
    (got,) = received(receiver, 1)
    assert got.path == "/hooks/loomal"
    assert verify(SECRET, got.body, got.headers["x-loomal-signature"])
    assert got.headers["x-loomal-signature"].startswith("sha256=")
    assert got.headers["x-loomal-event"] == "approval.created"
    assert got.headers["content-type"] == "application/json"
    event = got.event
    assert got.headers["x-loomal-idempotency-key"] == event["id"]
    assert event["type"] == "approval.created"
    assert event["createdAt"].endswith("Z")
    assert event["data"] == {
        "id": held["approvalId"],
        "identity": held["owner"],
        "credentialName": "crm",
        "method": "DELETE",
        "host": "127.0.0.1",
        "path": "/crm/contacts/42",
        "bodySize": 0,
        "approvalUrl": f"{api.settings.browser_url}/approvals/{held['approvalId']}",
        "expiresAt": held["expiresAt"],
    }


def test_a_wrong_secret_or_a_changed_body_fails_verification(api: Api, receiver: Receiver) -> None:
    held_request(api)
    deliver(api)
    (got,) = received(receiver, 1)
    signature = got.headers["x-loomal-signature"]
    assert verify(SECRET, got.body, signature)
    assert not verify(SECRET + "x", got.body, signature)
    assert not verify("whsec-" + "0000" * 8, got.body, signature)
    assert not verify(SECRET, got.body.replace(b"DELETE", b"GET"), signature)
    assert not verify(SECRET, got.body, None)
    assert not verify("", got.body, signature)
    independent = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={independent}"


def test_nothing_secret_is_in_the_event(api: Api, receiver: Receiver) -> None:
    body_marker = "BODY-" + "q" * 20
    query_marker = "QUERY-" + "z" * 20
    held = held_request(api, path=f"/crm/contacts/42?token={query_marker}", body=body_marker)
    deliver(api)
    (got,) = received(receiver, 1)
    sent = got.body + repr(got.headers).encode() + got.path.encode()
    for secret in (KEY, body_marker, query_marker, held["agentKey"], SECRET):
        assert secret.encode() not in sent
    assert got.event["data"]["bodySize"] == len(body_marker)
    assert got.event["data"]["path"] == "/crm/contacts/42"


def test_a_500_then_a_200_is_delivered_twice_with_the_same_id(
    api: Api, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.answers[:] = [500]
    held_request(api)
    deliver(api)
    received(receiver, 1)
    deliver(api)  # not due again yet: nothing sent
    clock.advance(RETRY_DELAYS[0])
    deliver(api)
    first, second = received(receiver, 2)
    assert first.headers["x-loomal-idempotency-key"] == second.headers["x-loomal-idempotency-key"]
    assert first.body == second.body
    assert first.headers["x-loomal-signature"] == second.headers["x-loomal-signature"]
    clock.advance(4000)
    deliver(api)
    (row,) = api.call(api.vault.store.list_outbox_events, state=None, limit=10)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 2, "status_500")
    assert len(receiver.seen) == 2


def test_the_last_failure_leaves_the_event_dead_counted_and_audited(
    api: Api, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.answers[:] = [503] * MAX_ATTEMPTS
    held = held_request(api)
    for attempt in range(MAX_ATTEMPTS):
        deliver(api)
        received(receiver, attempt + 1)
        clock.advance(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
    eventually(
        lambda: api.call(api.vault.store.count_outbox_events).get("dead") == 1,
        what="the event given up",
    )
    clock.advance(86400)
    deliver(api)
    assert len(receiver.seen) == MAX_ATTEMPTS
    api.call(api.vault.flush, final=True)
    owner = api.call(api.vault.identities.add_key, held["owner"], scopes=["vault:read"])
    log = api.client.get("/v0/audit", headers=auth(owner.api_key))
    assert log.status_code == 200, log.text
    (event,) = [e for e in log.json()["events"] if e["action"] == "webhook_dead"]
    assert event["outcome"] == "status_503"
    assert f"after {MAX_ATTEMPTS} attempts" in event["detail"]


def test_an_event_survives_closing_and_reopening_the_vault(
    settings: ServerSettings, clock: ManualClock
) -> None:
    port = free_port()
    configured = hooked(settings, f"http://127.0.0.1:{port}/hooks/loomal")
    with serving(configured, clock) as api:
        held = held_request(api)
        deliver(api)  # nobody listens yet: connect_failed, kept for later
        (row,) = api.call(api.vault.store.list_outbox_events, state=None, limit=10)
        assert (row.state, row.last_error) == ("pending", "connect_failed")
    clock.advance(RETRY_DELAYS[0])
    with running_receiver(port) as receiver, serving(configured, clock) as api:
        deliver(api)
        (got,) = received(receiver, 1)
        assert got.event["id"] == row.event_id
        assert got.event["data"]["id"] == held["approvalId"]
        assert verify(SECRET, got.body, got.headers["x-loomal-signature"])


@pytest.mark.parametrize(
    ("scheme", "why"), [("http", "insecure_url"), ("https", "forbidden_address")]
)
def test_the_receiver_address_goes_through_the_egress_policy(
    settings: ServerSettings, clock: ManualClock, receiver: Receiver, scheme: str, why: str
) -> None:
    """Without --fetch-allow-private a loopback (or private, or metadata) receiver
    is refused like a brokered request's upstream: nothing is sent. Plain http to
    it is refused first, before its name is looked up."""
    url = receiver.url.replace("http:", f"{scheme}:", 1)
    configured = dataclasses.replace(hooked(settings, url), fetch_allow_private=())
    with serving(configured, clock) as api:
        held_request(api)
        deliver(api)
        (row,) = api.call(api.vault.store.list_outbox_events, state=None, limit=10)
        assert (row.state, row.last_error) == ("pending", why)
    assert receiver.seen == []


def test_metrics_count_events_by_state(
    settings: ServerSettings, clock: ManualClock, receiver: Receiver
) -> None:
    configured = dataclasses.replace(hooked(settings, receiver.url), metrics=True)
    with serving(configured, clock) as api:
        api.call(api.vault.notifications.emit, "request.created", {"name": "x"}, identity_id=None)
        text = api.client.get("/metrics").text
        assert 'loomal_webhook_events{state="pending"} 1' in text
        deliver(api)
        received(receiver, 1)
        eventually(
            lambda: 'loomal_webhook_events{state="delivered"} 1' in api.client.get("/metrics").text,
            what="the delivered count",
        )
        assert 'loomal_webhook_events{state="dead"} 0' in api.client.get("/metrics").text
