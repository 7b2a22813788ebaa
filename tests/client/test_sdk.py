"""The SDK against a real ``loomal serve``: every method, sync and async alike,
error mapping, retries, masked reprs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import loomal
from loomal import (
    AsyncLoomal,
    AuthenticationError,
    BadRequestError,
    ExpiredError,
    Loomal,
    LoomalError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from tests.conftest import ServerProcess, free_port, new_key

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

TOTP_BODY: dict[str, Any] = {
    "type": "TOTP",
    "data": {"secret": "JBSWY3DPEHPK3PXP", "backupCodes": ["abcd-1234", "efgh-5678"]},
    "metadata": {"issuer": "GitHub"},
}


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Loomal]:
    with Loomal(api_key=server.api_key, base_url=server.base_url) as c:
        yield c


def run_sync(c: Loomal) -> list[Any]:
    out: list[Any] = []
    out.append(c.vault.store("stripe", type="API_KEY", data={"key": "sk_1"}, metadata={"s": 1}))
    out.append(c.vault.store("stripe", type="API_KEY", data={"key": "sk_2"}))
    out.append(c.vault.store("gh", **TOTP_BODY))
    out.append(c.vault.get("stripe"))
    out.append(c.vault.list(limit=1))
    out.append([s.name for s in c.vault.iter(page_size=1)])
    out.append(c.vault.totp("gh"))
    out.append(c.vault.totp_use_backup("gh"))
    out.append(c.vault.totp_use_backup("gh"))
    out.append(c.vault.get("gh"))
    # delete is typed -> None; keeping its result checks that it returns None at run time.
    out.append(c.vault.delete("stripe"))  # type: ignore[func-returns-value]
    out.append([s.name for s in c.vault.iter()])
    out.append(c.vault.list())
    out.append(c.identity.whoami())
    return out


async def run_async(c: AsyncLoomal) -> list[Any]:
    out: list[Any] = []
    out.append(
        await c.vault.store("stripe", type="API_KEY", data={"key": "sk_1"}, metadata={"s": 1})
    )
    out.append(await c.vault.store("stripe", type="API_KEY", data={"key": "sk_2"}))
    out.append(await c.vault.store("gh", **TOTP_BODY))
    out.append(await c.vault.get("stripe"))
    out.append(await c.vault.list(limit=1))
    out.append([s.name async for s in c.vault.iter(page_size=1)])
    out.append(await c.vault.totp("gh"))
    out.append(await c.vault.totp_use_backup("gh"))
    out.append(await c.vault.totp_use_backup("gh"))
    out.append(await c.vault.get("gh"))
    # delete is typed -> None; keeping its result checks that it returns None at run time.
    out.append(await c.vault.delete("stripe"))  # type: ignore[func-returns-value]
    out.append([s.name async for s in c.vault.iter()])
    out.append(await c.vault.list())
    out.append(await c.identity.whoami())
    return out


def shape(results: list[Any]) -> list[Any]:
    """What must match between sync and async: everything but ids and times."""
    import msgspec

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: clean(v)
                for k, v in value.items()
                if not k.endswith(("Id", "At", "Cursor", "Remaining", "Count"))
                and k not in ("code", "remaining")
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return [clean(msgspec.to_builtins(r)) for r in results]


def test_every_method_sync_and_async_behave_alike(server: ServerProcess) -> None:
    with Loomal(api_key=server.api_key, base_url=server.base_url) as c:
        sync_results = run_sync(c)

    async def main() -> list[Any]:
        async with AsyncLoomal(api_key=server.api_key, base_url=server.base_url) as c:
            await c.vault.delete("gh")
            return await run_async(c)

    async_results = asyncio.run(main())
    assert shape(sync_results) == shape(async_results)
    created, overwritten, _, got, page, names, code, first, second, gh, deleted, left, every, me = (
        sync_results
    )
    assert overwritten.credential_id == created.credential_id == overwritten.credentialId
    assert isinstance(created.created_at, datetime)
    assert got.data == {"key": "sk_2"}
    assert len(page.credentials) == 1
    assert page.next_cursor
    assert names == ["gh", "stripe"]
    assert len(code.code) == 6
    assert 1 <= code.remaining <= 30
    assert code.backup_codes_remaining == 2
    assert (first.code, second.code) == ("abcd-1234", "efgh-5678")
    assert (first.remaining, second.remaining, second.backup_codes_remaining) == (1, 0, 0)
    assert gh.data["secret"] == "[use /v0/vault/:name/totp]"
    assert gh.has_totp is True
    assert gh.data["usedBackupCodes"] == ["abcd-1234", "efgh-5678"]
    assert deleted is None
    assert left == ["gh"]
    assert every["count"] == 1 and [c.name for c in every["credentials"]] == ["gh"]
    assert (me.name, me.scopes) == ("default", ["vault:read", "vault:write"])


def test_seed_python_example_runs_as_written(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    seed = """
import os
from loomal import Loomal

loomal = Loomal(api_key=os.environ["LOOMAL_API_KEY"])
credential = loomal.vault.store(
    "stripe",
    type="API_KEY",
    data={"key": "sk_live_abc123..."},
    metadata={"service": "stripe", "prefix": "sk_live_...c123"},
)
"""
    namespace: dict[str, Any] = {}
    exec(seed, namespace)
    credential = namespace["credential"]
    assert credential.credentialId.startswith("cred_")
    assert credential.metadata == {"service": "stripe", "prefix": "sk_live_...c123"}
    assert namespace["loomal"].vault.get("stripe").data == {"key": "sk_live_abc123..."}


def test_errors_map_to_classes_with_code_and_status(client: Loomal, server: ServerProcess) -> None:
    with pytest.raises(NotFoundError) as nf:
        client.vault.get("missing")
    assert (nf.value.http_status, nf.value.code) == (404, "not_found")
    client.vault.store("stripe", type="API_KEY", data={"key": "k"})
    with pytest.raises(BadRequestError) as bad:
        client.vault.totp("stripe")
    assert (bad.value.status, bad.value.code, bad.value.reason) == (400, "bad_request", "not_totp")
    with pytest.raises(ValidationError) as invalid:
        client.vault.store("x", type="LOGIN", data={"pasword": "sekrit-Zq8v"})
    assert "data.pasword" in invalid.value.message
    assert "sekrit-Zq8v" not in str(invalid.value)
    with pytest.raises(ValidationError):
        client.vault.get(".bad")
    client.vault.store("old", type="LOGIN", data={"password": "p"}, expires_at="2001-01-01")
    with pytest.raises(ExpiredError) as expired:
        client.vault.get("old")
    assert expired.value.code == "expired"
    with pytest.raises(PayloadTooLargeError):
        client.vault.store("big", type="LOGIN", data={"password": "p" * 70_000})
    with pytest.raises(AuthenticationError):
        Loomal(api_key="loid-" + "x" * 43, base_url=server.base_url).vault.list()
    client.vault.store("t", type="TOTP", data={"secret": "JBSWY3DPEHPK3PXP"})
    with pytest.raises(BadRequestError) as empty:
        client.vault.totp_use_backup("t")
    assert (empty.value.code, empty.value.reason) == ("bad_request", "no_backup_codes")
    assert isinstance(empty.value, LoomalError)


def test_store_helpers_build_what_the_official_sdk_builds(client: Loomal) -> None:
    client.vault.store_api_key("plain", "sk_live_Zq8v", {"service": "stripe"})
    assert client.vault.get("plain").data == {"key": "sk_live_Zq8v"}
    pair = client.vault.store_api_key("pair", {"clientId": "cid", "secret": "cs"})
    assert pair.metadata == {"clientId": "cid"}
    assert client.vault.get("pair").data == {"clientId": "cid", "secret": "cs"}
    card = client.vault.store_card("visa", {"number": "4242-4242-4242-4242", "cvc": "123"})
    assert (card.type, card.metadata) == ("CARD", {"last4": "4242"})
    home = client.vault.store_shipping_address("home", {"line1": "1 Main St", "city": "Oslo"})
    assert home.type == "SHIPPING_ADDRESS"
    assert client.vault.get("home").data == {"line1": "1 Main St", "city": "Oslo"}


def test_read_only_key_gets_permission_denied(server: ServerProcess, tmp_path: Any) -> None:
    key = new_key(
        "create",
        "ro",
        "--scopes",
        "vault:read",
        "--data-dir",
        str(tmp_path / "server-data"),
        cwd=tmp_path,
    )
    reader = Loomal(api_key=key, base_url=server.base_url)
    assert reader.vault.list().credentials == []
    assert reader.identity.whoami().scopes == ["vault:read"]
    with pytest.raises(PermissionDeniedError) as denied:
        reader.vault.store("x", type="LOGIN", data={"password": "p"})
    assert denied.value.http_status == 403


def test_missing_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOMAL_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="LOOMAL_API_KEY"):
        Loomal()
    with pytest.raises(ValueError, match="LOOMAL_API_KEY"):  # what the official SDK raises
        AsyncLoomal()


def test_env_configuration_and_own_http_client(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOMAL_API_KEY", server.api_key or "")
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url + "/")
    monkeypatch.setenv("LOOMAL_BASE_URL", "http://127.0.0.1:1")  # the alias loses to the name
    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]}) as http:
        c = Loomal(http_client=http)
        assert c.vault.list().credentials == []
        c.close()  # does not close a client the caller owns
        assert c.vault.list().credentials == []
    assert seen == ["/v0/vault", "/v0/vault"]


def test_down_server_is_a_connection_error() -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nobody listens there (port 1 may be served)
    c = Loomal(api_key="loid-" + "x" * 43, base_url=down, max_retries=1)
    with pytest.raises(loomal.ConnectionError, match=down) as info:
        c.vault.list()
    assert "x" * 10 not in str(info.value)


def test_reprs_mask_secrets(client: Loomal) -> None:
    client.vault.store("stripe", type="API_KEY", data={"key": "sk_live_Zq8v"})
    client.vault.store("gh", **TOTP_BODY)
    credential = client.vault.get("stripe")
    code = client.vault.totp("gh")
    backup = client.vault.totp_use_backup("gh")
    for thing in (credential, code, backup, client):
        text = repr(thing) + str(thing)
        assert "sk_live_Zq8v" not in text
        assert code.code not in text or thing is not code
        assert "abcd-1234" not in text
        assert (client._api_key) not in text
    assert credential.data["key"] == "sk_live_Zq8v"  # reachable by explicit access
    assert backup.code == "abcd-1234"


# -- retries against a real server that fails twice, then answers ----------------------


class Flaky:
    def __init__(
        self,
        failures: int,
        status: int = 503,
        code: str = "unavailable",
        retry_after: str | None = None,
    ) -> None:
        self.failures, self.status, self.requests = failures, status, 0
        if retry_after is None and status == 429:
            retry_after = "0"
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                flaky.requests += 1
                if flaky.requests <= flaky.failures:
                    body = {"error": code, "message": "try again", "status": status}
                    self.send_response(flaky.status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                else:
                    body = {"credentials": [], "count": 0}
                    self.send_response(200)
                payload = json.dumps(body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.mark.parametrize("status", [503, 429, 500])
def test_idempotent_calls_retry_until_success(status: int) -> None:
    flaky = Flaky(failures=2, status=status)
    try:
        c = Loomal(api_key="loid-" + "k" * 43, base_url=flaky.url, max_retries=2)
        assert c.vault.list().credentials == []
        assert flaky.requests == 3
    finally:
        flaky.close()


def test_retries_are_bounded() -> None:
    flaky = Flaky(failures=5)
    try:
        c = Loomal(api_key="loid-" + "k" * 43, base_url=flaky.url, max_retries=2)
        with pytest.raises(ServerError):
            c.vault.list()
        assert flaky.requests == 3
    finally:
        flaky.close()


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(429, "3600"), (429, "Wed, 21 Oct 2099 07:28:00 GMT"), (503, "9")],
)
def test_a_retry_after_beyond_the_cap_raises_at_once(status: int, retry_after: str) -> None:
    """Beyond 8 s the wait is the caller's decision: the error at once, no shorter sleep."""
    flaky = Flaky(failures=5, status=status, code="rate_limited", retry_after=retry_after)

    async def main() -> None:
        async with AsyncLoomal(api_key="loid-" + "k" * 43, base_url=flaky.url) as c:
            await c.vault.list()

    try:
        c = Loomal(api_key="loid-" + "k" * 43, base_url=flaky.url, max_retries=2)
        for call in (c.vault.list, lambda: asyncio.run(main())):
            flaky.requests = 0
            started = time.monotonic()
            with pytest.raises(LoomalError) as info:
                call()
            assert time.monotonic() - started < 2.0
            assert flaky.requests == 1
            assert info.value.http_status == status
            if status == 429:
                assert isinstance(info.value, RateLimitError)
                assert info.value.retry_after > 3000  # the server's answer, for the caller
    finally:
        flaky.close()


def test_an_integrity_error_is_not_retried_decided_by_its_code() -> None:
    flaky = Flaky(failures=5, status=500, code="integrity_error")
    try:
        c = Loomal(api_key="loid-" + "k" * 43, base_url=flaky.url, max_retries=3)
        with pytest.raises(loomal.IntegrityError) as info:
            c.vault.list()
        assert (info.value.status, info.value.code) == (500, "integrity_error")
        assert flaky.requests == 1
    finally:
        flaky.close()


def test_backup_code_pop_is_never_retried() -> None:
    flaky = Flaky(failures=1)
    try:
        c = Loomal(api_key="loid-" + "k" * 43, base_url=flaky.url, max_retries=5)
        with pytest.raises(LoomalError) as info:
            c.vault.totp_use_backup("gh")
        assert info.value.http_status == 503
        assert flaky.requests == 1
    finally:
        flaky.close()


def test_async_retries_like_sync() -> None:
    flaky = Flaky(failures=2)

    async def main() -> None:
        async with AsyncLoomal(api_key="loid-" + "k" * 43, base_url=flaky.url) as c:
            assert (await c.vault.list()).credentials == []

    try:
        asyncio.run(main())
        assert flaky.requests == 3
    finally:
        flaky.close()


def test_public_names_are_what_the_docs_list() -> None:
    documented = {
        "Loomal",
        "AsyncLoomal",
        "LoomalPlatform",
        "AsyncLoomalPlatform",
        "LoomalError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "ExpiredError",
        "ValidationError",
        "RateLimitError",
        "ServerError",
        "SealedError",
        "ConnectionError",
        "IntegrityError",
        "BadRequestError",
        "BadGatewayError",
        "ServiceUnavailableError",
        "PayloadTooLargeError",
        "PreconditionFailedError",
        "MissingApiKeyError",
        "Credential",
        "CredentialSummary",
        "CredentialList",
        "StoreResponse",
        "TotpResponse",
        "TotpBackupResponse",
        "IdentityResponse",
        "FetchResponse",
        "CredentialMetadata",
        "CredentialWithData",
        "IdentitySummary",
        "IdentityDetail",
        "IdentityList",
        "CreateIdentityResponse",
        "RotateKeyResponse",
        "ApprovalPendingError",
        "Approval",
        "ApprovalList",
        "AccessRequest",
        "AccessRequestCreated",
        "AccessRequestList",
        "__version__",
    }
    assert set(loomal.__all__) == documented
    for name in ("AuthenticationError", "NotFoundError", "ServerError", "ConnectionError"):
        assert issubclass(getattr(loomal, name), loomal.LoomalError)
