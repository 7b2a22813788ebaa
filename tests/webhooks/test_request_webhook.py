"""``request.created``: an agent's access request reaches the loopback receiver,
signed like every event, with where a person answers and never a secret; the
fulfilment's data is not in any event. Both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loomal.config import ServerSettings
from tests.conftest import Api, ManualClock, auth
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.test_webhooks import SECRET, deliver, hooked, received, serving, verify


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def api(settings: ServerSettings, clock: ManualClock, receiver: Receiver) -> Iterator[Api]:
    with serving(hooked(settings, receiver.url), clock) as served:
        yield served


def test_a_new_access_request_is_told_to_the_receiver(api: Api, receiver: Receiver) -> None:
    owner = api.new_identity()
    agent = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"])
    body = {"name": "stripe", "type": "API_KEY", "reason": "Refund <b>42</b>",
            "allowedHosts": ["api.stripe.com"]}  # fmt: skip
    asked = api.client.post("/v0/requests", json=body, headers=auth(agent.api_key))
    assert asked.status_code == 202, asked.text
    created = asked.json()
    deliver(api)
    (got,) = received(receiver, 1)
    assert verify(SECRET, got.body, got.headers["x-loomal-signature"])
    assert got.headers["x-loomal-event"] == "request.created"
    assert got.event["data"] == {
        "id": created["requestId"],
        "identity": owner.name,
        "name": "stripe",
        "type": "API_KEY",
        "reason": "Refund <b>42</b>",
        "allowedHosts": ["api.stripe.com"],
        "requestedBy": agent.api_key[:13],
        "url": f"{api.settings.browser_url}/requests/{created['requestId']}",
        "expiresAt": created["expiresAt"],
    }
    secret = "sk_live_" + "Rq4" * 10
    done = api.client.post(
        f"/v0/requests/{created['requestId']}/fulfill",
        json={"data": {"key": secret}},
        headers=auth(owner.api_key),
    )
    assert done.status_code == 200, done.text
    deliver(api)
    assert all(secret.encode() not in d.body for d in receiver.seen)
    assert agent.api_key.encode() not in got.body
