"""Keys have labels (#31 item 5): who holds a key is named beside its prefix in
lists and in every audit event the key makes, and a rotation keeps the label."""

from __future__ import annotations

import pytest

from loomal.errors import ValidationError
from tests.conftest import Api, auth
from tests.server.test_audit import events
from tests.server.test_platform_api import IDENTITIES, platform_key


def test_a_labelled_key_is_named_in_the_list_and_in_its_audit_events(api: Api) -> None:
    ids = api.vault.identities
    made = api.call(ids.create_identity, "research", scopes=["vault:read"], label="first-bot")
    extra = api.call(ids.add_key, "research", scopes=["vault:read"], label="billing-bot")
    assert (made.label, extra.label) == ("first-bot", "billing-bot")

    listed = next(i for i in api.call(ids.list_identities) if i.name == "research")
    assert {(k.prefix, k.label) for k in listed.keys} == {
        (made.api_key[:13], "first-bot"),
        (extra.api_key[:13], "billing-bot"),
    }

    api.client.get("/v0/vault", headers=auth(extra.api_key))
    api.client.get("/v0/vault", headers=auth(made.api_key))
    seen = {(e["keyPrefix"], e["keyLabel"]) for e in events(api, auth(made.api_key))}
    assert seen == {(extra.api_key[:13], "billing-bot"), (made.api_key[:13], "first-bot")}


def test_rotation_keeps_the_label_unless_given_one(api: Api) -> None:
    ids = api.vault.identities
    api.call(ids.create_identity, "worker", scopes=["vault:read"], label="nightly")
    kept = api.call(ids.rotate_key, "worker", scopes=["vault:read"])
    assert kept.label == "nightly"
    renamed = api.call(ids.rotate_key, "worker", scopes=["vault:read"], label="hourly")
    assert renamed.label == "hourly"


def test_the_platform_rotate_keeps_the_label(api: Api) -> None:
    ops = platform_key(api)
    made = api.call(api.vault.identities.create_identity, "fleet-a", scopes=["vault:read"])
    api.call(api.vault.identities.rotate_key, "fleet-a", scopes=["vault:read"], label="crawler")
    rotated = api.client.post(f"{IDENTITIES}/{made.identity_id}/rotate-key", headers=ops)
    assert rotated.status_code == 200, rotated.text
    listed = next(i for i in api.call(api.vault.identities.list_identities) if i.name == "fleet-a")
    live = [k for k in listed.keys if k.revoked_at is None and k.expires_at is None]
    assert [(k.prefix, k.label) for k in live] == [(rotated.json()["apiKeyPrefix"], "crawler")]


@pytest.mark.parametrize("label", ["", " padded", "x" * 65, "tab\there", "loid-lookalike"])
def test_a_label_that_could_mislead_is_refused(api: Api, label: str) -> None:
    with pytest.raises(ValidationError, match="label"):
        api.call(api.vault.identities.create_identity, "l-a", scopes=["vault:read"], label=label)
