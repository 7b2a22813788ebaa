"""A credential name with a ``/`` in it is a 422 on every route (docs/api.md),
however the ``/`` is written: the framework strips a trailing one and decodes
``%2F``, which made ``NAME/`` and ``NAME%2F`` act on ``NAME`` (#28.17)."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.server.test_api import SEED_STRIPE, assert_error


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_a_name_with_a_slash_is_refused_and_acts_on_nothing(api: Api, method: str) -> None:
    h = api.headers()
    assert api.client.put("/v0/vault/stripe", json=SEED_STRIPE, headers=h).status_code == 200
    before = api.client.get("/v0/vault/stripe", headers=h).json()
    body = {**SEED_STRIPE, "data": {"key": "sk_live_replaced"}} if method == "PUT" else None
    for spelling in ("stripe/", "stripe%2F", "stripe%2f", "a%2Fstripe"):
        response = api.client.request(method, f"/v0/vault/{spelling}", json=body, headers=h)
        assert "name" in assert_error(response, 422, "validation_error"), spelling
        after = api.client.get("/v0/vault/stripe", headers=h)
        assert after.status_code == 200 and after.json()["data"] == before["data"]
        assert after.json()["version"] == before["version"]


def test_sub_routes_and_the_list_still_answer(api: Api) -> None:
    h = api.headers()
    assert api.client.get("/v0/vault/", headers=h).status_code == 200
    assert api.client.get("/v0/vault", headers=h).status_code == 200
    seed = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP"}}
    assert api.client.put("/v0/vault/gh", json=seed, headers=h).status_code == 200
    assert api.client.get("/v0/vault/gh/totp", headers=h).status_code == 200
    assert api.client.get("/v0/vault/gh%2F/totp", headers=h).status_code == 422
