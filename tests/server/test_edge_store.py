"""PUT /v0/vault/{name} at the edge: a plain body is stored there, anything else
is answered by the declared route, exactly as before, and the caller is
authenticated (and counted) once either way."""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import Api

BODY = {"type": "API_KEY", "data": {"key": "sk_test_Zq8v"}, "metadata": {"service": "stripe"}}


def test_a_plain_body_is_stored_and_read_back(api: Api) -> None:
    h = api.headers()
    created = api.client.put("/v0/vault/stripe", json=BODY, headers=h)
    assert created.status_code == 200
    assert created.headers["content-type"] == "application/json"
    assert created.headers["cache-control"] == "no-store"
    assert set(created.json()) >= {"credentialId", "type", "name", "metadata", "createdAt"}
    again = api.client.put("/v0/vault/stripe", json=BODY, headers=h)
    assert again.status_code == 200
    assert again.json()["credentialId"] == created.json()["credentialId"]
    got = api.client.get("/v0/vault/stripe", headers=h).json()
    assert got["data"] == BODY["data"] and got["metadata"] == BODY["metadata"]


def test_other_bodies_get_the_routes_answers(api: Api) -> None:
    h = {**api.headers(), "content-type": "application/json"}
    cases = [
        (b"{not json", 400, "bad_request"),
        (b"null", 400, "bad_request"),
        (b"", 400, "bad_request"),
        (b'{"type": "API_KEY"}', 422, "validation_error"),
        (b'{"type": "API_KEY", "data": {}, "surprise": 1}', 422, "validation_error"),
        (b'{"type": 7, "data": {}}', 422, "validation_error"),
        (b"\xff\xfe", 400, "bad_request"),
        (b"[" * 100_000, 413, "payload_too_large"),
    ]
    for body, status, code in cases:
        response = api.client.put("/v0/vault/odd", content=body, headers=h)
        assert response.status_code == status, (body[:20], response.text)
        assert response.json()["error"] == code
        assert len(response.headers.get_list("x-request-id")) == 1
    assert api.client.get("/v0/vault/odd", headers=h).status_code == 404


def test_a_chunked_body_without_a_length_is_stored_by_the_route(api: Api) -> None:
    h = {**api.headers(), "content-type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "API_KEY", '
        yield b'"data": {"key": "sk_test_Zq8v"}}'

    response = api.client.put("/v0/vault/chunked", content=chunks(), headers=h)
    assert response.status_code == 200, response.text
    assert api.client.get("/v0/vault/chunked", headers=h).json()["data"] == BODY["data"]


def test_the_caller_is_counted_once_whichever_answers(api: Api) -> None:
    h = api.headers()
    api.client.put("/v0/vault/a", json=BODY, headers=h)  # stored at the edge
    api.client.put("/v0/vault/b", content=b"{not json", headers=h)  # the route answers
    api.call(api.vault.identities.usage.flush)
    assert api.client.get("/v0/whoami", headers=h).json()["usageCount"] == 3


def test_no_key_is_refused_before_the_body_is_read(api: Api) -> None:
    for body in (b'{"type": "API_KEY", "data": {}}', b"{not json", b"[" * 100_000):
        response = api.client.put("/v0/vault/x", content=body)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
