"""A sealed vault, in-process on both stores: the real unseal agent on its socket,
the app built as a worker builds it, every route and MCP tool while sealed."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.errors import LoomalError, SealedError, ValidationError
from loomal.keyfile import set_passphrase
from loomal.runtime import check_store_keys, open_vault
from loomal.server.app import create_app
from loomal.unseal_agent import TOKEN_ENV, UnsealAgent, agent_request
from tests.conftest import Api, ManualClock, auth

PASSPHRASE = "correct horse battery staple"
SECRET = "sk_live_sealed_" + "x" * 16


@contextlib.contextmanager
def running_agent(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UnsealAgent]:
    set_passphrase(settings.key_file, PASSPHRASE)
    agent = UnsealAgent(
        settings.key_file,
        settings.unseal_socket_path,
        check_keys=lambda ids: _run(check_store_keys(settings, ids)),
    )
    agent.start()
    monkeypatch.setenv(TOKEN_ENV, agent.token)  # as `loomal serve` does for its workers
    try:
        yield agent
    finally:
        agent.close()


@pytest.fixture
def agent(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch, cheap_argon2: None
) -> Iterator[UnsealAgent]:
    with running_agent(settings, monkeypatch) as agent:
        yield agent


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


@pytest.fixture
def sealed_api(settings: ServerSettings, agent: UnsealAgent, clock: ManualClock) -> Iterator[Api]:
    app = create_app(settings=settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client=client, settings=settings, app=app)


def every_vault_call(api: Api, headers: dict[str, str]) -> list[Any]:
    c = api.client
    mcp_headers = {**headers, "Accept": "application/json, text/event-stream"}

    def tool(name: str, arguments: dict[str, Any]) -> Any:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        return c.post("/mcp", json=body, headers=mcp_headers)

    return [
        c.put(
            "/v0/vault/stripe",
            json={"type": "API_KEY", "data": {"key": SECRET}},
            headers=headers,
        ),
        c.get("/v0/vault/stripe", headers=headers),
        c.get("/v0/vault", headers=headers),
        c.get("/v0/vault/gh/totp", headers=headers),
        c.post("/v0/vault/gh/totp/backup", headers=headers),
        c.delete("/v0/vault/stripe", headers=headers),
        tool("vault.store", {"name": "x", "type": "API_KEY", "data": {"key": SECRET}}),
        tool("vault.get", {"name": "stripe"}),
        tool("vault.list", {}),
        tool("vault.totp", {"name": "gh"}),
        tool("vault.totp_use_backup", {"name": "gh"}),
        tool("vault.delete", {"name": "stripe"}),
    ]


def assert_all_sealed(responses: list[Any]) -> None:
    for response in responses[:6]:
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "sealed"
    for response in responses[6:]:  # MCP: a tool error naming the same code
        result = response.json()["result"]
        assert result["isError"] is True
        assert result["content"][0]["text"].startswith("sealed:")


def test_a_sealed_vault_serves_no_route_and_no_tool(sealed_api: Api, agent: UnsealAgent) -> None:
    headers = sealed_api.headers()  # identities need no master key
    assert agent.sealed
    assert_all_sealed(every_vault_call(sealed_api, headers))
    audit = sealed_api.client.get("/v0/audit", headers=headers)
    assert audit.status_code == 200  # the owner may read its log while sealed
    outcomes = {e["outcome"] for e in audit.json()["events"] if e["action"] != "authenticate"}
    assert outcomes == {"sealed"}  # the refused attempts are recorded as such


def test_the_request_right_after_an_unseal_is_served(
    sealed_api: Api, agent: UnsealAgent, clock: ManualClock
) -> None:
    headers = sealed_api.headers()
    assert sealed_api.client.get("/v0/vault", headers=headers).status_code == 503
    agent.unseal(PASSPHRASE)
    clock.advance(0.06)  # the worker asks again at most every 50 ms while sealed
    body = {"type": "API_KEY", "data": {"key": SECRET}}
    assert sealed_api.client.put("/v0/vault/stripe", json=body, headers=headers).status_code == 200
    got = sealed_api.client.get("/v0/vault/stripe", headers=headers)
    assert got.json()["data"] == {"key": SECRET}

    agent.seal()
    sealed_api.vault.keys.refresh()  # what the once-a-second maintenance does
    assert sealed_api.client.get("/v0/vault/stripe", headers=headers).status_code == 503
    agent.unseal(PASSPHRASE)
    clock.advance(0.06)
    assert sealed_api.client.get("/v0/vault/stripe", headers=headers).status_code == 200


def test_a_wrong_passphrase_leaves_it_sealed(
    sealed_api: Api, agent: UnsealAgent, clock: ManualClock
) -> None:
    with pytest.raises(LoomalError) as caught:
        agent_request(agent.socket_path, {"op": "unseal", "passphrase": "not the passphrase!"})
    assert caught.value.code == "wrong_passphrase"
    assert "not the passphrase" not in caught.value.message
    assert agent_request(agent.socket_path, {"op": "status"}) == {"sealed": True, "keyIds": []}
    clock.advance(0.06)
    assert sealed_api.client.get("/v0/vault", headers=sealed_api.headers()).status_code == 503


def test_keys_that_do_not_open_the_store_are_refused(
    sealed_api: Api, agent: UnsealAgent, tmp_path: Path, clock: ManualClock
) -> None:
    headers = sealed_api.headers()
    agent.unseal(PASSPHRASE)
    clock.advance(0.06)  # past the throttle of the worker's checks while sealed
    body = {"type": "API_KEY", "data": {"key": SECRET}}
    assert sealed_api.client.put("/v0/vault/stripe", json=body, headers=headers).status_code == 200
    agent.seal()
    # Someone puts another vault's sealed key file (same passphrase) in its place.
    other = tmp_path / "other.key"
    set_passphrase(other, PASSPHRASE)
    os.replace(other, agent.key_file)
    with pytest.raises(ValidationError, match="does not include"):
        agent.unseal(PASSPHRASE)
    assert agent.sealed


def test_only_this_servers_workers_get_the_keys(agent: UnsealAgent) -> None:
    agent.unseal(PASSPHRASE)
    path = agent.socket_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(LoomalError) as caught:
        agent_request(path, {"op": "keys", "token": "guessed", "version": -1})
    assert caught.value.code == "forbidden"
    answer = agent_request(path, {"op": "keys", "token": agent.token, "version": -1})
    assert len(answer["keys"]) == 1 and len(base64.b64decode(answer["keys"][0])) == 32
    again = agent_request(path, {"op": "keys", "token": agent.token, "version": answer["version"]})
    assert "keys" not in again  # unchanged: nothing sent
    status = agent_request(path, {"op": "status"})
    assert status["sealed"] is False and len(status["keyIds"]) == 1
    assert "keys" not in status


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json\n", "one JSON object per line"),
        (b"[1, 2]\n", "JSON objects"),
        (b'{"op": "launch"}\n', "Unknown operation"),
        (b'{"op": "unseal"}\n', "needs a passphrase"),
        (b'{"op": "keys", "token": 1}\n', "needs a token"),
    ],
)
def test_bad_requests_get_clear_errors(agent: UnsealAgent, raw: bytes, message: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(agent.socket_path))
        sock.sendall(raw)
        reply = msgspec.json.decode(sock.makefile("rb").readline())
    assert message in reply["error"]["message"]
    assert agent_request(agent.socket_path, {"op": "status"})["sealed"] is True  # still serving


def test_a_second_agent_cannot_take_the_socket(
    settings: ServerSettings, agent: UnsealAgent
) -> None:
    second = UnsealAgent(settings.key_file, agent.socket_path, check_keys=lambda ids: None)
    with pytest.raises(ValidationError, match="Another server's unseal agent"):
        second.start()
    assert agent_request(agent.socket_path, {"op": "status"})["sealed"] is True


def test_a_stale_socket_is_replaced(
    settings: ServerSettings, tmp_path: Path, cheap_argon2: None
) -> None:
    set_passphrase(settings.key_file, PASSPHRASE)
    path = settings.unseal_socket_path
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a server killed with SIGKILL leaves this behind
    agent = UnsealAgent(settings.key_file, path, check_keys=lambda ids: None)
    agent.start()
    try:
        assert agent_request(path, {"op": "status"})["sealed"] is True
    finally:
        agent.close()
    assert not path.exists()


def test_an_over_long_socket_path_is_refused_clearly(settings: ServerSettings) -> None:
    with pytest.raises(ValidationError, match="too long for a Unix socket"):
        UnsealAgent(settings.key_file, Path("/tmp/" + "d" * 120), check_keys=lambda ids: None)


def test_without_the_agent_a_sealed_key_file_is_refused_at_start(
    settings: ServerSettings, cheap_argon2: None
) -> None:
    set_passphrase(settings.key_file, PASSPHRASE)
    with pytest.raises(SealedError, match="sealed under a passphrase"):
        _run(open_vault(settings))


def test_headers_of_a_sealed_answer(sealed_api: Api) -> None:
    response = sealed_api.client.get("/v0/vault", headers=auth(sealed_api.new_identity().api_key))
    assert response.status_code == 503
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")


def test_a_silent_client_is_dropped(settings: ServerSettings, cheap_argon2: None) -> None:
    set_passphrase(settings.key_file, PASSPHRASE)
    agent = UnsealAgent(
        settings.key_file,
        settings.unseal_socket_path,
        check_keys=lambda ids: None,
        client_timeout=0.2,
    )
    agent.start()
    try:
        with socket.socket(socket.AF_UNIX) as silent:
            silent.connect(str(agent.socket_path))  # connects, never sends
            assert agent_request(agent.socket_path, {"op": "status"})["sealed"] is True
            silent.settimeout(5)
            assert silent.recv(100) == b""  # closed by the agent, without an answer
    finally:
        agent.close()


def test_a_missing_key_file_is_a_clear_unseal_error(agent: UnsealAgent) -> None:
    agent.key_file.unlink()
    with pytest.raises(LoomalError) as caught:
        agent_request(agent.socket_path, {"op": "unseal", "passphrase": PASSPHRASE})
    assert caught.value.code == "validation_error"
    assert "No such file" in caught.value.message


def test_sealing_the_file_under_a_running_plain_server_keeps_it_serving(
    api: Api, caplog: pytest.LogCaptureFixture, cheap_argon2: None
) -> None:
    headers = api.headers()
    body = {"type": "API_KEY", "data": {"key": SECRET}}
    assert api.client.put("/v0/vault/stripe", json=body, headers=headers).status_code == 200
    set_passphrase(api.settings.key_file, PASSPHRASE)
    with caplog.at_level("ERROR", logger="loomal.keys"):
        for _ in range(3):  # three maintenance ticks
            api.vault.keys.refresh()
    assert api.client.get("/v0/vault/stripe", headers=headers).json()["data"] == {"key": SECRET}
    reports = [r.getMessage() for r in caplog.records if "could not reload" in r.getMessage()]
    assert len(reports) == 1  # once per change of the file, not once a second
    assert "restart the server to unseal it" in reports[0]
    assert PASSPHRASE not in caplog.text


def test_racing_unseals_and_seals_end_in_a_consistent_state(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At RFC 9106's Argon2 cost, so that seals and refusals arrive while a derivation runs."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(i: int) -> str:
        message: dict[str, Any] = (
            {"op": "seal"}
            if i % 3 == 2
            else {"op": "unseal", "passphrase": PASSPHRASE if i % 3 == 0 else "wrong passphrase!"}
        )
        try:
            agent_request(raced.socket_path, message)
        except LoomalError as exc:
            return exc.code
        return "ok"

    with running_agent(settings, monkeypatch) as raced:
        with ThreadPoolExecutor(9) as pool:
            outcomes = list(pool.map(attempt, range(9)))
        assert sorted(set(outcomes)) == ["ok", "wrong_passphrase"]  # never an internal error
        assert outcomes.count("wrong_passphrase") == 3
        status = agent_request(raced.socket_path, {"op": "status"})
        keys = {"op": "keys", "token": raced.token, "version": -1}
        answer = agent_request(raced.socket_path, keys)
        assert status["sealed"] == answer["sealed"] == ("keys" not in answer)
        agent_request(raced.socket_path, {"op": "unseal", "passphrase": PASSPHRASE})
        assert agent_request(raced.socket_path, {"op": "status"})["sealed"] is False


def test_socket_failures_and_refusals_carry_their_meaning(
    agent: UnsealAgent, tmp_path: Path
) -> None:
    from loomal import errors

    with pytest.raises(errors.ConnectionError, match="No sealed server is listening"):
        agent_request(tmp_path / "nobody.sock", {"op": "status"})
    with pytest.raises(errors.PermissionDeniedError) as caught:
        agent_request(agent.socket_path, {"op": "keys", "token": "guessed", "version": -1})
    assert caught.value.code == "forbidden" and caught.value.http_status == 403


def test_many_clients_connecting_at_once_are_all_answered(agent: UnsealAgent) -> None:
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(48)

    def ask(_: int) -> bool:
        barrier.wait()
        return bool(agent_request(agent.socket_path, {"op": "status"})["sealed"])

    with ThreadPoolExecutor(48) as pool:
        assert list(pool.map(ask, range(48))) == [True] * 48
