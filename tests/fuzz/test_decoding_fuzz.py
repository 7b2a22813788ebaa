"""Property-based fuzzing of decoding, in-process (real store, real crypto): request
bodies (arbitrary bytes, arbitrary JSON values, deep nesting) and stored rows read
back (damaged metadata, times, types). The property: never a 5xx, and every
error in the SPEC's flat shape.

``LOOMAL_FUZZ_EXAMPLES`` sets the examples per property (default 150; CI=true: 600).
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.core.ports import CredentialRow
from loomal.core.types import CredentialType
from loomal.server.app import create_app
from tests.conftest import IN_CI, Api, auth

EXAMPLES = int(os.environ.get("LOOMAL_FUZZ_EXAMPLES") or (600 if IN_CI else 150))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
TYPES = [t.value for t in CredentialType]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
names = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=20)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    configured = ServerSettings.load({"data_dir": str(data)}, env={})
    app = create_app(settings=configured)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=configured, app=app)


@pytest.fixture(scope="module")
def headers(fuzz_api: Api) -> dict[str, str]:
    return {**fuzz_api.headers(), "content-type": "application/json"}


def _check(response: Any, kind: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == response.status_code
        assert isinstance(body["error"], str)
        assert isinstance(body["message"], str)


def test_arbitrary_bytes_as_a_put_body(fuzz_api: Api, headers: dict[str, str]) -> None:
    @FUZZ
    @given(body=st.binary(max_size=300), name=names)
    def check(body: bytes, name: str) -> None:
        _check(fuzz_api.client.put(f"/v0/vault/{name}", content=body, headers=headers), "bytes")

    check()


def test_arbitrary_json_values_as_a_put_body(fuzz_api: Api, headers: dict[str, str]) -> None:
    @FUZZ
    @given(value=json_values, name=names)
    def check(value: Any, name: str) -> None:
        body = json.dumps(value).encode()
        _check(fuzz_api.client.put(f"/v0/vault/{name}", content=body, headers=headers), "json")

    check()


def test_store_requests_with_arbitrary_fields(fuzz_api: Api, headers: dict[str, str]) -> None:
    @FUZZ
    @given(
        ctype=st.sampled_from([*TYPES, "login", "", "NOPE"]),
        data=json_values,
        metadata=json_values,
        expires_at=st.none() | st.text(max_size=40) | st.datetimes().map(lambda d: d.isoformat()),
        name=names,
    )
    def check(ctype: str, data: Any, metadata: Any, expires_at: Any, name: str) -> None:
        body = {"type": ctype, "data": data, "metadata": metadata, "expiresAt": expires_at}
        response = fuzz_api.client.put(f"/v0/vault/{name}", json=body, headers=headers)
        _check(response, "store")
        if response.status_code == 200:  # what was stored reads back
            _check(fuzz_api.client.get(f"/v0/vault/{name}", headers=headers), "store")
            _check(fuzz_api.client.get(f"/v0/vault/{name}/totp", headers=headers), "store")

    check()


def test_deeply_nested_bodies(fuzz_api: Api, headers: dict[str, str]) -> None:
    @FUZZ
    @given(
        depth=st.integers(1, 30_000),
        opener=st.sampled_from(["[", '{"a":']),
        where=st.sampled_from(["data", "metadata", "top"]),
    )
    def check(depth: int, opener: str, where: str) -> None:
        closer = "]" if opener == "[" else "}"
        nested = opener * depth + "1" + closer * depth
        body = {
            "data": '{"type": "CUSTOM", "data": {"x": ' + nested + "}}",
            "metadata": '{"type": "CUSTOM", "data": {"x": 1}, "metadata": {"m": ' + nested + "}}",
            "top": nested,
        }[where]
        _check(
            fuzz_api.client.put("/v0/vault/deep", content=body.encode(), headers=headers), "deep"
        )

    check()


def test_stored_rows_read_back_whatever_they_hold(fuzz_api: Api, tmp_path: Path) -> None:
    """A damaged or hand-edited row never takes list, get or totp down: they answer;
    where a field bound to the ciphertext changed (type, expiry, metadata) they
    refuse, with ``integrity_error`` once they open it."""
    me = fuzz_api.new_identity()
    h = auth(me.api_key)
    body = {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP"}}
    assert fuzz_api.client.put("/v0/vault/victim", json=body, headers=h).status_code == 200
    original = fuzz_api.call(
        fuzz_api.vault.store.get_credential, identity_id=me.identity_id, name="victim"
    )
    bound = (original.metadata_json, original.type, original.expires_at)
    times = st.none() | st.integers(-(2**63), 2**63 - 1)

    @FUZZ
    @given(
        metadata=st.binary(max_size=60) | json_values.map(lambda v: json.dumps(v).encode()),
        ctype=st.sampled_from(TYPES) | st.text(max_size=12),
        expires_at=times,
        created_at=st.integers(-(2**63), 2**63 - 1),
        last_used_at=times,
        last_rotated_at=times,
        keep_bound=st.booleans(),
    )
    def check(
        metadata: bytes,
        ctype: str,
        expires_at: int | None,
        created_at: int,
        last_used_at: int | None,
        last_rotated_at: int | None,
        keep_bound: bool,
    ) -> None:
        if keep_bound:
            metadata, ctype, expires_at = bound
        fields = {
            "metadata_json": metadata,
            "type": ctype,
            "expires_at": expires_at,
            "created_at": created_at,
            "last_used_at": last_used_at,
            "last_rotated_at": last_rotated_at,
        }

        def change(existing: CredentialRow | None) -> tuple[CredentialRow, None]:
            assert existing is not None
            return msgspec.structs.replace(existing, **fields), None

        fuzz_api.call(
            fuzz_api.vault.store.modify_credential,
            identity_id=me.identity_id,
            name="victim",
            change=change,
        )
        listed = fuzz_api.client.get("/v0/vault", headers=h)
        _check(listed, "rows")
        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()["credentials"]] == ["victim"]
        for path in ("/v0/vault/victim", "/v0/vault/victim/totp"):
            response = fuzz_api.client.get(path, headers=h)
            if (metadata, ctype, expires_at) == bound:
                _check(response, "rows")
            elif response.status_code == 500:
                assert response.json()["error"] == "integrity_error", response.text
            else:  # refused before opening (expired, say): never the secret
                _check(response, "rows")
                assert response.status_code >= 400, response.text

    check()


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (b"\xff\xfe{}", 400, "bad_request", "not valid"),
        (b'{"type": "LOGIN", "data": {"password": "p"}', 400, "bad_request", "not valid JSON"),
        (b"[" * 5_000 + b"]" * 5_000, 400, "bad_request", ""),
        (b'{"type": "CUSTOM", "data": {"x": 1e400}}', 422, "validation_error", "data: a number"),
        (b'{"type": "CUSTOM", "data": {"x": NaN}}', 400, "bad_request", "not valid JSON"),
        (b'{"type": "LOGIN", "data": {}}', 422, "validation_error", "password"),
        (b'{"type": "NOPE", "data": {"x": 1}}', 422, "validation_error", "type"),
    ],
)
def test_each_kind_of_bad_body_is_told_what_is_wrong(
    fuzz_api: Api, headers: dict[str, str], body: bytes, status: int, code: str, says: str
) -> None:
    """The properties above check the shape of every answer; these check what each
    kind of failure says, and that nothing is stored."""
    answer = fuzz_api.client.put("/v0/vault/told", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code
    assert says in answer.json()["message"]
    assert fuzz_api.client.get("/v0/vault/told", headers=headers).status_code == 404
