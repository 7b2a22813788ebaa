"""Issue 15 against a real ``loomal serve``: the client address behind trusted
proxies, on the REST API, the hot path and /mcp, and in the audit log."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import auth, loomal, start_server

pytestmark = pytest.mark.slow  # starts real server processes (not in make test-fast)

BAD = auth("loid-" + "g" * 43)
MCP_PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
MCP_ACCEPT = {"accept": "application/json, text/event-stream"}


def _xff(address: str) -> dict[str, str]:
    return {"x-forwarded-for": address}


def test_trusted_proxy_headers_name_the_client_everywhere(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    server = start_server(
        "--data-dir", data, "--trusted-proxy", "127.0.0.0/8", "--auth-failure-limit", "3",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        url, good = server.base_url, auth(server.api_key or "")
        for _ in range(3):
            assert (
                httpx.get(url + "/v0/vault", headers={**BAD, **_xff("198.51.100.1")}).status_code
                == 401
            )
        # the client behind the proxy is throttled: REST, hot path and /mcp alike
        assert httpx.get(url + "/v0/vault", headers=_xff("198.51.100.1")).status_code == 429
        assert httpx.get(url + "/v0/vault/x", headers=_xff("198.51.100.1")).status_code == 429
        mcp = httpx.post(
            url + "/mcp", json=MCP_PING, headers={**MCP_ACCEPT, **_xff("198.51.100.1")}
        )
        assert mcp.status_code == 429
        # another client behind the same proxy is not, nor a valid key from the first
        assert (
            httpx.get(url + "/v0/vault", headers={**BAD, **_xff("198.51.100.2")}).status_code == 401
        )
        assert (
            httpx.get(url + "/v0/vault", headers={**good, **_xff("198.51.100.1")}).status_code
            == 200
        )
        mcp = httpx.post(
            url + "/mcp", json=MCP_PING, headers={**good, **MCP_ACCEPT, **_xff("198.51.100.1")}
        )
        assert mcp.status_code == 200, mcp.text
        # a forged left part does not move the client
        forged = {**BAD, **_xff("203.0.113.9, 198.51.100.1")}
        assert httpx.get(url + "/v0/vault", headers=forged).status_code == 429
    finally:
        server.stop()
    shown = loomal(
        "admin", "audit", "--json", "--action", "authenticate", "--data-dir", data, cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    counts = {(e["client"], e["outcome"]): e["count"] for e in json.loads(shown.stdout)}
    assert counts == {
        ("198.51.100.1", "unauthorized"): 3,
        ("198.51.100.1", "rate_limited"): 4,
        ("198.51.100.2", "unauthorized"): 1,
    }


def test_forwarding_headers_are_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    server = start_server(
        "--data-dir", str(tmp_path / "data"), "--auth-failure-limit", "3", cwd=tmp_path
    )
    try:
        statuses = [
            httpx.get(
                server.base_url + "/v0/vault", headers={**BAD, **_xff(f"198.51.100.{i}")}
            ).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]  # every guess counted against 127.0.0.1
        assert httpx.get(server.base_url + "/v0/health").json()["status"] == "serving"
    finally:
        server.stop()


def _exchange(base_url: str, raw: bytes, *, half_close: bool = False) -> bytes:
    """One raw request on a fresh connection; everything the server sends until it
    closes (``half_close``: the client closes its side once the request is sent)."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
        conn.sendall(raw)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_ambiguous_message_framing_is_refused_and_nothing_is_smuggled(tmp_path: Path) -> None:
    """Framing a proxy in front might read differently from us is refused by the
    HTTP server with a 400 that closes the connection, before any route runs."""
    server = start_server("--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        url = server.base_url
        for framing in (b"Transfer-Encoding: Ppdm-W>R", b"Content-Length: 5\r\nContent-Length: 6"):
            answer = _exchange(
                url, b"GET /v0/whoami HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\nabcdef"
            )
            assert answer.startswith(b"HTTP/1.1 400 "), answer
            assert b"connection: close" in answer.lower()
        # a second request hidden in a body whose length both headers claim
        hidden = b"0\r\n\r\nGET /v0/whoami HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = _exchange(
            url,
            b"POST /v0/vault/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(hidden)
            + hidden,
        )
        assert answer.count(b"HTTP/1.1 ") == 1, answer  # one request read, one answer
        assert b"connection: close" in answer.lower()
        assert httpx.get(url + "/v0/health").json()["status"] == "serving"
    finally:
        server.stop()


def test_a_body_cut_short_gets_an_answer_in_our_shape(tmp_path: Path) -> None:
    server = start_server("--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        head = (
            b"PUT /v0/vault/cut HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.api_key}\r\n".encode()
            + b"Content-Length: 100\r\n\r\n"
        )
        answer = _exchange(server.base_url, head + b'{"type": "API', half_close=True)
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 400 Bad Request", answer
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert b"x-request-id: " in headers and b"content-type: application/json" in headers
        assert json.loads(body)["reason"] == "incomplete_body"
        for _ in range(3):  # clients that leave outright: nobody to answer, nothing logged
            address = urlsplit(server.base_url)
            with socket.create_connection((address.hostname, address.port), timeout=5) as conn:
                conn.sendall(head + b'{"ty')
        stored = httpx.get(server.base_url + "/v0/vault/cut", headers=auth(server.api_key or ""))
        assert stored.status_code == 404  # nothing half-stored
    finally:
        output = server.stop()
    assert "Traceback" not in output and "unexpected" not in output, output


def test_workers_log_json_lines_with_distinct_request_ids(tmp_path: Path) -> None:
    server = start_server(
        "--data-dir", str(tmp_path / "data"), "--workers", "2", "--log-format", "json",
        "--access-log", "--metrics", cwd=tmp_path,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=server.base_url) as client:  # new connections: both workers
            ids = [
                httpx.get(server.base_url + "/v0/health").headers["x-request-id"] for _ in range(30)
            ]
            echoed = client.get("/v0/vault/secret-Zq8v", headers={"x-request-id": "trace-7"})
            assert echoed.headers["x-request-id"] == "trace-7"
            assert echoed.status_code == 401
            scraped = client.get("/metrics")
            assert scraped.status_code == 200
            assert "loomal_sealed{worker=" in scraped.text
        assert len(set(ids)) == len(ids)  # the workers' ids never collide
    finally:
        output = server.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "loomal.access"]
    assert {line["requestId"] for line in access} >= {*ids, "trace-7"}
    traced = next(line for line in access if line["requestId"] == "trace-7")
    assert (traced["route"], traced["status"]) == ("/v0/vault/{name}", 401)
    assert "Zq8v" not in output


def _connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _until_closed(conn: socket.socket) -> bytes:
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def test_a_body_that_does_not_arrive_gets_408_within_the_deadline(tmp_path: Path) -> None:
    """Headers sent, the body never finished: the unauthenticated console sign-in,
    the hot store and /mcp each answer 408 in our shape once the body deadline
    (1 s here, 30 s by default) has passed, and close; others are served meanwhile."""
    server = start_server(
        "--data-dir", str(tmp_path / "data"), "--body-timeout-seconds", "1", cwd=tmp_path
    )
    key = server.api_key or ""
    form = b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
    json_head = b"Content-Type: application/json\r\nContent-Length: 200\r\n"
    bearer = f"Authorization: Bearer {key}\r\n".encode()
    requests = {
        "sign-in": b"POST /sign-in HTTP/1.1\r\nHost: x\r\n" + form + b"csrf=abc&api_key=loid-Qx7",
        "login": b"POST /login HTTP/1.1\r\nHost: x\r\n" + form + b"csrf=abc&token=",
        "store": b"PUT /v0/vault/slow HTTP/1.1\r\nHost: x\r\n" + bearer + json_head + b'\r\n{"ty',
        "mcp": b"POST /mcp HTTP/1.1\r\nHost: x\r\nAccept: application/json, text/event-stream\r\n"
        + bearer
        + json_head
        + b'\r\n{"jsonrpc": ',
    }
    try:
        started = time.monotonic()
        conns = {name: _connect(server.base_url) for name in requests}
        for name, raw in requests.items():
            conns[name].sendall(raw)
        # served meanwhile, at once
        assert httpx.get(server.base_url + "/v0/health", timeout=0.9).status_code == 200
        listed = httpx.get(server.base_url + "/v0/vault", headers=auth(key), timeout=0.9)
        assert listed.status_code == 200
        for name, conn in conns.items():
            with conn:
                answer = _until_closed(conn)  # the server closes the connection
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 408 Request Timeout", (name, answer)
            headers, _, body = rest.partition(b"\r\n\r\n")
            assert b"connection: close" in headers.lower(), (name, headers)
            assert json.loads(body) == {
                "error": "request_timeout",
                "message": "The request body was not received in time.",
                "status": 408,
            }, name
        elapsed = time.monotonic() - started
        assert 1 <= elapsed < 6, elapsed
        assert httpx.get(server.base_url + "/v0/health").status_code == 200
    finally:
        output = server.stop()
    assert "Qx7" not in output and "Traceback" not in output, output


def test_clients_leaving_mid_body_write_no_error_lines(tmp_path: Path) -> None:
    """A client with no key that leaves in the middle of a console form's body is no
    server error: nothing above DEBUG is logged for it (it used to log ERROR with
    the framework's file paths, as often as anyone liked), and no value it sent."""
    server = start_server("--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    form = b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 300\r\n\r\n"
    try:
        for path in (b"/sign-in", b"/login", b"/sign-in"):
            with _connect(server.base_url) as conn:
                conn.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + form + b"api_key=Zk4v")
                time.sleep(0.1)  # the route is reading the body when the client goes
        with _connect(server.base_url) as conn:  # one that only closes its side
            conn.sendall(b"POST /sign-in HTTP/1.1\r\nHost: x\r\n" + form + b"api_key=Zk4v")
            conn.shutdown(socket.SHUT_WR)
            answer = _until_closed(conn)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b'"incomplete_body"' in answer
        time.sleep(0.3)
        assert httpx.get(server.base_url + "/v0/health").status_code == 200
    finally:
        output = server.stop()
    for noise in ("ERROR", "WARNING", "unexpected", "Traceback", "site-packages", "Zk4v"):
        assert noise not in output, output
