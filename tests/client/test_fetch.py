"""``vault.fetch`` in the SDK (sync and async alike) and ``loomal vault fetch`` in
the CLI, against a real ``loomal serve --fetch-allow-private 127.0.0.1`` and a
loopback upstream; and a ``vault:use`` key that cannot read the secret by any
client route (SDK get, CLI get, ``loomal run``)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from loomal import (
    AsyncLoomal,
    BadGatewayError,
    BadRequestError,
    FetchResponse,
    Loomal,
    PermissionDeniedError,
)
from tests.conftest import (
    ServerProcess,
    create_store,
    free_port,
    loomal,
    new_key,
    start_server,
)
from tests.upstream import Upstream, running_upstream

pytestmark = pytest.mark.slow  # starts a real server process

KEY = "sk_live_cli+sdk/" + "K7" * 12


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with running_upstream() as running:
        yield running


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[tuple[ServerProcess, str, Path]]:
    """The server, and a vault:use key of the identity that stored ``stripe``."""
    cwd = tmp_path_factory.mktemp("fetch")
    data_dir = str(cwd / "data")
    server = start_server("--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=cwd)
    try:
        with Loomal(api_key=server.api_key, base_url=server.base_url) as admin:
            admin.vault.store(
                "stripe",
                type="API_KEY",
                data={"key": KEY},
                metadata={"allowedHosts": ["127.0.0.1"]},
            )
            name = admin.identity.whoami().name
        use_key = new_key("add-key", name, "--scopes", "vault:use", "--data-dir", data_dir, cwd=cwd)
        yield server, use_key, cwd
    finally:
        output = server.stop()
        assert KEY not in output


def test_sync_and_async_fetch_alike(
    setup: tuple[ServerProcess, str, Path], upstream: Upstream
) -> None:
    server, use_key, _ = setup
    url = f"{upstream.base_url}/echo"
    with Loomal(api_key=use_key, base_url=server.base_url) as client:
        sync = client.vault.fetch(
            "stripe", method="POST", url=url, body={"n": 1}, headers={"X-Trace": "s"}
        )

    async def run() -> FetchResponse:
        async with AsyncLoomal(api_key=use_key, base_url=server.base_url) as client:
            return await client.vault.fetch(
                "stripe", method="POST", url=url, body={"n": 1}, headers={"X-Trace": "s"}
            )

    async_ = asyncio.run(run())
    for answer in (sync, async_):
        assert isinstance(answer, FetchResponse)
        assert answer.status == 200 and answer.body_encoding == "text"
        echoed = answer.json()
        assert echoed["headers"]["authorization"] == "Bearer [REDACTED]"
        assert echoed["body"] == '{"n":1}'
        assert KEY not in answer.body and KEY not in json.dumps(answer.headers)
    assert sync.json()["b64"] == async_.json()["b64"] == "[REDACTED]"
    assert upstream.seen[-1].headers["authorization"] == f"Bearer {KEY}"


def test_bytes_go_as_base64_and_errors_map(
    setup: tuple[ServerProcess, str, Path], upstream: Upstream
) -> None:
    server, use_key, _ = setup
    with Loomal(api_key=use_key, base_url=server.base_url) as client:
        client.vault.fetch(
            "stripe", method="PUT", url=f"{upstream.base_url}/echo", body=b"\x00\xff"
        )
        assert upstream.seen[-1].body == b"\x00\xff"
        binary = client.vault.fetch("stripe", url=f"{upstream.base_url}/binary")
        assert binary.body_encoding == "base64" and binary.content() == bytes(range(256))
        with pytest.raises(BadGatewayError) as down:
            client.vault.fetch("stripe", url=f"http://127.0.0.1:{free_port()}/")
        assert (down.value.status, down.value.reason) == (502, "connect_failed")
        with pytest.raises(BadRequestError) as elsewhere:
            client.vault.fetch("stripe", url="https://127.0.0.3/")
        assert elsewhere.value.reason == "host_not_allowed"
        with pytest.raises(PermissionDeniedError) as refused:
            client.vault.get("stripe")
        assert "vault:use" in refused.value.message and "fetch" in refused.value.message
        assert [c.name for c in client.vault.list().credentials] == ["stripe"]


def test_cli_fetch_and_a_use_key_cannot_read(
    setup: tuple[ServerProcess, str, Path], upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, use_key, cwd = setup
    monkeypatch.setenv("LOOMAL_API_KEY", use_key)
    monkeypatch.setenv("LOOMAL_API_URL", server.base_url)
    url = f"{upstream.base_url}/echo"
    result = loomal("vault", "fetch", "stripe", url, "-H", "X-A: 1", "-d", "hello", cwd=cwd)
    assert result.returncode == 0, result.stderr
    echoed = json.loads(result.stdout)
    assert echoed["method"] == "POST" and echoed["body"] == "hello"
    assert echoed["headers"]["x-a"] == "1"
    assert KEY not in result.stdout + result.stderr
    included = loomal("vault", "fetch", "stripe", url, "-i", cwd=cwd)
    assert (
        included.stdout.startswith("HTTP 200\n")
        and "x-echo-auth: Bearer [REDACTED]" in included.stdout
    )
    as_json = json.loads(loomal("vault", "fetch", "stripe", url, "--json", cwd=cwd).stdout)
    assert as_json["status"] == 200
    forbidden = loomal("vault", "fetch", "stripe", url, "-H", "Authorization: Bearer x", cwd=cwd)
    assert forbidden.returncode == 1 and "Authorization" in forbidden.stderr
    for args in (("vault", "get", "stripe"), ("run", "--env", "K=stripe.key", "--", "env")):
        refused = loomal(*args, cwd=cwd)
        assert refused.returncode == 1, refused.stdout
        assert "vault:use" in refused.stderr and "fetch" in refused.stderr
        assert KEY not in refused.stdout + refused.stderr
    b64 = base64.b64encode(KEY.encode()).decode()
    assert b64 not in included.stdout


def test_identity_create_with_vault_use(tmp_path: Path) -> None:
    create_store(tmp_path / "d")
    result = loomal(
        "identity",
        "create",
        "agent",
        "--scopes",
        "vault:use",
        "--data-dir",
        str(tmp_path / "d"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "scopes: vault:use" in result.stdout
    bad = loomal(
        "identity",
        "create",
        "b",
        "--scopes",
        "vault:all",
        "--data-dir",
        str(tmp_path / "d"),
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "vault:use" in bad.stderr
