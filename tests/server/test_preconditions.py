"""Check-and-set over HTTP: ETag on what carries a credential, If-Match and
If-None-Match on a store (SPEC "Versions, check-and-set"), on both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loomal.core.preconditions import WritePrecondition
from loomal.errors import BadRequestError, PreconditionFailedError
from tests.conftest import Api
from tests.server.test_api import assert_error

LOGIN = {"type": "LOGIN", "data": {"password": "pw-one"}}
OTHER = {"type": "LOGIN", "data": {"password": "pw-two"}}


def test_reads_and_stores_send_the_version_as_etag(api: Api) -> None:
    h = api.headers()
    stored = api.client.put("/v0/vault/gh", json=LOGIN, headers=h)
    assert stored.headers["etag"] == '"1"'
    again = api.client.put("/v0/vault/gh", json=OTHER, headers=h)
    assert again.headers["etag"] == '"2"' and again.json()["version"] == 2
    got = api.client.get("/v0/vault/gh", headers=h)
    assert got.headers["etag"] == '"2"' and got.json()["version"] == 2


def test_if_match_stores_only_over_the_version_read(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/gh", json=LOGIN, headers=h)
    read = api.client.get("/v0/vault/gh", headers=h).headers["etag"]
    # someone else writes meanwhile
    api.client.put("/v0/vault/gh", json=OTHER, headers=h)
    stale = api.client.put("/v0/vault/gh", json=LOGIN, headers={**h, "If-Match": read})
    message = assert_error(stale, 412, "version_conflict", "changed")
    assert "version 2" in message and "pw-" not in stale.text
    assert api.client.get("/v0/vault/gh", headers=h).json()["data"]["password"] == "pw-two"
    fresh = api.client.put("/v0/vault/gh", json=LOGIN, headers={**h, "If-Match": '"2"'})
    assert fresh.status_code == 200 and fresh.headers["etag"] == '"3"'
    # a list of versions, and * (any existing version)
    assert (
        api.client.put(
            "/v0/vault/gh", json=OTHER, headers={**h, "If-Match": '"1", "3"'}
        ).status_code
        == 200
    )
    assert (
        api.client.put("/v0/vault/gh", json=LOGIN, headers={**h, "If-Match": "*"}).status_code
        == 200
    )
    missing = api.client.put("/v0/vault/none", json=LOGIN, headers={**h, "If-Match": "*"})
    assert_error(missing, 412, "version_conflict", "not_found")
    assert api.client.get("/v0/vault/none", headers=h).status_code == 404


def test_if_none_match_star_is_create_only(api: Api) -> None:
    plain = api.headers()
    h = {**plain, "If-None-Match": "*"}
    assert api.client.put("/v0/vault/gh", json=LOGIN, headers=h).status_code == 200
    refused = api.client.put("/v0/vault/gh", json=OTHER, headers=h)
    assert_error(refused, 412, "version_conflict", "exists")
    assert api.client.get("/v0/vault/gh", headers=plain).json()["version"] == 1


@pytest.mark.parametrize(
    ("header", "value"),
    [("If-Match", "3"), ("If-Match", 'W/"3"'), ("If-Match", '"x"'), ("If-None-Match", '"1"')],
)
def test_a_malformed_precondition_is_400_and_writes_nothing(
    api: Api, header: str, value: str
) -> None:
    h = api.headers()
    refused = api.client.put("/v0/vault/gh", json=LOGIN, headers={**h, header: value})
    assert_error(refused, 400, "bad_request", "bad_precondition")
    assert api.client.get("/v0/vault/gh", headers=h).status_code == 404


def test_the_declared_route_honours_preconditions_too(api: Api) -> None:
    """A body the hot path hands on (no Content-Length: chunked) goes through the route."""
    h = api.headers()
    api.client.put("/v0/vault/gh", json=LOGIN, headers=h)

    def chunked() -> Iterator[bytes]:
        yield b'{"type": "LOGIN", "data": {"password": "pw-three"}}'

    refused = api.client.put(
        "/v0/vault/gh",
        content=chunked(),
        headers={**h, "If-None-Match": "*"},
    )
    assert_error(refused, 412, "version_conflict", "exists")
    ok = api.client.put("/v0/vault/gh", content=chunked(), headers={**h, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'


def test_precondition_rules() -> None:
    WritePrecondition.from_headers(None, None).check("x", None)
    WritePrecondition.from_headers(None, None).check("x", 4)
    with pytest.raises(PreconditionFailedError):
        WritePrecondition.from_headers(None, "*").check("x", 1)
    with pytest.raises(BadRequestError):
        WritePrecondition.from_headers('"1"', "*")
