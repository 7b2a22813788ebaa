"""The pass-through proxy ``/v0/proxy/{name}/{path...}``: in-process against a
loopback upstream, then end to end with the official ``openai`` SDK, unmodified,
pointed at a real ``loomal serve`` whose credential holds the vendor key."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Api, auth, new_key, start_server
from tests.server.test_api import assert_error
from tests.upstream import VENDOR_KEY, Upstream, running_upstream


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


def openai_credential(upstream: Upstream, **metadata: Any) -> dict[str, Any]:
    return {
        "type": "API_KEY",
        "data": {"key": VENDOR_KEY},
        "metadata": {"allowedHosts": ["127.0.0.1"], "baseUrl": upstream.base_url, **metadata},
    }


def test_proxy_replaces_the_callers_key_and_streams_back_scrubbed(
    api: Api, upstream: Upstream
) -> None:
    owner = api.new_identity()
    h = auth(owner.api_key)
    assert api.client.put(
        "/v0/vault/openai", json=openai_credential(upstream), headers=h
    ).is_success
    use = api.call(api.vault.identities.add_key, owner.name, scopes=["vault:use"]).api_key
    response = api.client.post(
        "/v0/proxy/openai/echo?x=1&y=%2F",
        headers={**auth(use), "Cookie": "c=1", "X-Custom": "v", "Content-Type": "text/plain"},
        content=b"payload",
    )
    assert response.status_code == 200, response.text
    (seen,) = upstream.seen
    assert seen.method == "POST" and seen.path == "/echo?x=1&y=%2F"
    assert seen.headers["authorization"] == f"Bearer {VENDOR_KEY}"
    assert "cookie" not in seen.headers and use not in json.dumps(seen.headers)
    assert seen.headers["x-custom"] == "v" and seen.body == b"payload"
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert VENDOR_KEY not in response.text
    assert response.json()["headers"]["authorization"] == "Bearer [REDACTED]"
    assert response.headers["x-echo-auth"] == "Bearer [REDACTED]"
    assert response.headers["cache-control"] == "no-store"
    events = api.client.get("/v0/audit", headers=h).json()["events"]
    assert events[0]["action"] == "proxy" and events[0]["outcome"] == "ok"
    assert events[0]["detail"].startswith("POST 127.0.0.1 /echo 200 ")


def test_a_key_sent_as_x_api_key_authenticates_and_is_never_forwarded(
    api: Api, upstream: Upstream
) -> None:
    """Anthropic-style SDKs send their key in X-Api-Key; the credential injects its own."""
    owner = api.new_identity()
    credential = openai_credential(upstream, inject={"header": "X-Api-Key"})
    api.client.put("/v0/vault/anthropic", json=credential, headers=auth(owner.api_key))
    response = api.client.post(
        "/v0/proxy/anthropic/echo",
        headers={"X-Api-Key": owner.api_key, "X-Other": f"also {owner.api_key}"},
        json={"m": 1},
    )
    assert response.status_code == 200, response.text
    (seen,) = upstream.seen
    assert seen.headers["x-api-key"] == VENDOR_KEY
    assert owner.api_key not in json.dumps(seen.headers) and "x-other" not in seen.headers
    assert VENDOR_KEY not in response.text
    assert_error(
        api.client.get("/v0/proxy/anthropic/echo", headers={"X-Api-Key": "sk-not-ours"}),
        401,
        "unauthorized",
        "missing_api_key",
    )


def test_proxy_refusals_answer_in_the_error_shape(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    api.client.put("/v0/vault/openai", json=openai_credential(upstream), headers=h)
    assert_error(api.client.get("/v0/proxy/openai/echo"), 401, "unauthorized", "missing_api_key")
    assert_error(api.client.get("/v0/proxy/nothing/echo", headers=h), 404, "not_found")
    write_only = api.headers(("vault:write",))
    assert_error(
        api.client.get("/v0/proxy/openai/x", headers=write_only),
        403,
        "forbidden",
        "insufficient_scope",
    )
    too_big = api.client.post("/v0/proxy/openai/echo", headers=h, content=b"z" * (1024 * 1024 + 1))
    assert_error(too_big, 413, "payload_too_large")
    declared = api.client.get(f"/v0/proxy/openai/big?n={1024 * 1024 + 1}", headers=h)
    assert_error(declared, 502, "bad_gateway", "response_too_large")
    elsewhere = openai_credential(upstream, baseUrl="https://127.0.0.2/")
    elsewhere["metadata"]["allowedHosts"] = ["127.0.0.2"]
    api.client.put("/v0/vault/inner", json=elsewhere, headers=h)
    assert_error(
        api.client.get("/v0/proxy/inner/x", headers=h), 400, "bad_request", "forbidden_address"
    )
    assert [s.path for s in upstream.seen] == [f"/big?n={1024 * 1024 + 1}"]
    for refused in (too_big, declared, api.client.get("/v0/proxy/nothing/echo", headers=h)):
        for name in ("cache-control", "x-content-type-options", "referrer-policy"):
            assert len(refused.headers.get_list(name)) == 1, (name, refused.headers)


def test_a_stream_past_the_limit_is_cut(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    api.client.put("/v0/vault/openai", json=openai_credential(upstream), headers=h)
    ok = api.client.get(f"/v0/proxy/openai/chunked?n={1024 * 1024}", headers=h)
    assert ok.status_code == 200 and len(ok.content) == 1024 * 1024
    cut = api.client.get(f"/v0/proxy/openai/chunked?n={3 * 1024 * 1024}", headers=h)
    assert len(cut.content) <= 1024 * 1024  # (a real server cuts the connection: see below)
    events = api.client.get("/v0/audit", headers=h).json()["events"]
    assert events[0]["outcome"] == "response_too_large"


@pytest.mark.slow
def test_the_openai_sdk_unmodified_through_a_real_server(tmp_path: Path) -> None:
    """``OpenAI(base_url=<vault>/v0/proxy/openai/v1, api_key=<loid- key>)``: the SDK never
    holds the vendor key, the upstream gets it, and its echo comes back redacted."""
    openai = pytest.importorskip("openai")
    from loomal import Loomal, PermissionDeniedError

    data_dir = str(tmp_path / "data")
    with running_upstream() as upstream:
        server = start_server(
            "--data-dir", data_dir, "--fetch-allow-private", "127.0.0.1", cwd=tmp_path
        )
        try:
            with Loomal(api_key=server.api_key, base_url=server.base_url) as admin:
                admin.vault.store("openai", **openai_credential(upstream))
                me = admin.identity.whoami().name
            use_key = new_key(
                "add-key", me, "--scopes", "vault:use", "--data-dir", data_dir, cwd=tmp_path
            )
            client = openai.OpenAI(
                base_url=f"{server.base_url}/v0/proxy/openai/v1", api_key=use_key, max_retries=0
            )
            models = client.models.list()
            assert [m.id for m in models.data] == ["gpt-test"]
            reply = client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hello"}]
            )
            content = reply.choices[0].message.content
            assert content == "you said hello; auth was Bearer [REDACTED]"
            assert all(s.headers["authorization"] == f"Bearer {VENDOR_KEY}" for s in upstream.seen)
            assert all(use_key not in json.dumps(s.headers) for s in upstream.seen)
            agent = Loomal(api_key=use_key, base_url=server.base_url)
            with agent, pytest.raises(PermissionDeniedError):
                agent.vault.get("openai")
            big = f"{server.base_url}/v0/proxy/openai/chunked?n={3 * 1024 * 1024}"
            with pytest.raises(httpx.RemoteProtocolError):  # cut, never silently short
                httpx.get(big, headers={"Authorization": f"Bearer {use_key}"}, timeout=30)
        finally:
            output = server.stop()
    assert VENDOR_KEY not in output


def test_proxied_headers_that_cannot_go_out_are_a_4xx_audited(
    api: Api, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    """#28.5: a raw 0x80+ byte in a proxied header was a 500 and no audit event."""
    h = api.headers()
    api.client.put("/v0/vault/openai", json=openai_credential(upstream), headers=h)
    caplog.set_level(logging.INFO)
    raw = [(k.encode(), v.encode()) for k, v in h.items()] + [(b"x-name", "José".encode())]
    response = api.client.get("/v0/proxy/openai/echo", headers=raw)
    assert "x-name" in assert_error(response, 422, "validation_error")
    assert upstream.seen == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    event = api.client.get("/v0/audit", headers=h).json()["events"][0]
    assert (event["action"], event["outcome"]) == ("proxy", "validation_error")


def test_the_proxy_keeps_the_upstream_off_the_vaults_origin(api: Api, upstream: Upstream) -> None:
    """#28.14: CORS grants, cookies (one named like the console's), CSP and the headers
    Connection names were relayed; an HTML body was served to run on our origin; a
    loid- key in the query string reached the upstream."""
    h = api.headers()
    api.client.put("/v0/vault/openai", json=openai_credential(upstream), headers=h)
    sent = [
        "Access-Control-Allow-Origin=*",
        "Access-Control-Allow-Credentials=true",
        "Set-Cookie=__Host-loomal_session=attacker",
        "Content-Security-Policy=script-src *",
        "Connection=X-Hop",
        "X-Hop=1",
        "X-Kept=2",
    ]
    key = h["Authorization"].split(" ", 1)[1]
    query = "&".join(f"h={quote(pair, safe='')}" for pair in sent) + f"&api_key={key}"
    response = api.client.get(
        f"/v0/proxy/openai/headers?{query}", headers={**h, "Connection": "X-Drop", "X-Drop": "1"}
    )
    assert response.status_code == 200, response.text
    for gone in (
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "set-cookie",
        "x-hop",
    ):
        assert gone not in response.headers, gone  # fmt: skip
    assert response.headers["x-kept"] == "2"
    assert response.headers.get_list("content-security-policy") == [
        "sandbox; default-src 'none'; frame-ancestors 'none'"
    ]
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["x-content-type-options"] == "nosniff"
    (seen,) = upstream.seen
    assert key not in seen.path and "api_key" not in seen.path
    assert "x-drop" not in seen.headers


def test_a_dot_dot_path_never_reaches_above_the_base_path(api: Api, upstream: Upstream) -> None:
    """#28.16: /v0/proxy/prefixed/../../admin reached /admin above baseUrl's path (the
    HTTP client resolves a literal '..' itself; '%2e%2e' reaches the server as sent)."""
    h = api.headers()
    credential = openai_credential(upstream, baseUrl=f"{upstream.base_url}/v1/tenant-a")
    api.client.put("/v0/vault/tenant", json=credential, headers=h)
    for path in ("prefixed/%2e%2e/%2e%2e/admin", "%2E%2E/admin", "a/..%2F..%2Fadmin"):
        response = api.client.get(f"/v0/proxy/tenant/{path}", headers=h)
        assert_error(response, 400, "bad_request", "path_outside_base")
    assert upstream.seen == []
    inside = api.client.get("/v0/proxy/tenant/a/%2e%2e/echo", headers=h)
    assert inside.status_code == 404  # the upstream's own 404, for /v1/tenant-a/echo
    assert [s.path for s in upstream.seen] == ["/v1/tenant-a/echo"]


def test_an_upstream_failing_before_its_body_gets_our_json_502(
    api: Api, upstream: Upstream
) -> None:
    """Issue 28.6: headers, then the upstream hangs up. The status line goes out with
    the first chunk, so the caller gets a 502 in our shape (it got granian's bare
    text 500), with its request id and the security headers once, and it is audited."""
    h = api.headers()
    api.client.put("/v0/vault/openai", json=openai_credential(upstream), headers=h)
    failed = api.client.get("/v0/proxy/openai/truncated?n=100&sent=0", headers=h)
    assert_error(failed, 502, "bad_gateway", "upstream_error")
    assert "x-request-id" in failed.headers
    for name in ("cache-control", "x-content-type-options", "referrer-policy"):
        assert len(failed.headers.get_list(name)) == 1, (name, failed.headers)
    events = api.client.get("/v0/audit", headers=h).json()["events"]
    assert events[0]["action"] == "proxy" and events[0]["outcome"] == "upstream_error"


@pytest.mark.slow
def test_a_real_server_answers_502_or_cuts_the_stream_never_a_bare_500(tmp_path: Path) -> None:
    """Through granian: an upstream that fails before its body gets a JSON 502; one
    that fails after the answer started has the stream cut (the client sees a
    truncated body, never a short one passed off as whole); both are audited."""
    with running_upstream() as upstream:
        server = start_server(
            "--data-dir", str(tmp_path / "data"), "--fetch-allow-private", "127.0.0.1",
            cwd=tmp_path,
        )  # fmt: skip
        try:
            h = auth(server.api_key or "")
            stored = httpx.put(
                server.base_url + "/v0/vault/up", json=openai_credential(upstream), headers=h
            )
            assert stored.status_code == 200
            proxied = server.base_url + "/v0/proxy/up/truncated"
            failed = httpx.get(proxied + "?n=100&sent=0", headers=h)
            assert failed.status_code == 502, failed.text
            assert failed.json()["reason"] == "upstream_error"
            assert failed.headers["content-type"] == "application/json"
            assert (
                "x-request-id" in failed.headers and failed.headers["cache-control"] == "no-store"
            )
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(proxied + "?n=400000&sent=200000", headers=h, timeout=30)
            events = httpx.get(server.base_url + "/v0/audit", headers=h).json()["events"]
            assert [e["outcome"] for e in events[:2]] == ["upstream_error"] * 2
        finally:
            output = server.stop()
    assert "Traceback" not in output and " 500" not in output, output
