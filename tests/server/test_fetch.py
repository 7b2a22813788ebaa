"""``POST /v0/vault/{name}/fetch`` against a real HTTP server on 127.0.0.1 (the
server runs with ``--fetch-allow-private 127.0.0.1``): injection, scrubbing,
host and address refusals before any connection, redirects, limits, the
``vault:use`` scope and the audit row. No request ever leaves loopback."""

from __future__ import annotations

import base64
import dataclasses
import logging
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from loomal.config import ServerSettings
from loomal.errors import ValidationError
from loomal.server.app import create_app
from tests.conftest import Api, auth, free_port
from tests.server.test_api import assert_error
from tests.upstream import Upstream

KEY = "sk_live_" + "Ab3/+x" * 6  # '/' and '+' make its encoded forms differ from it
USE = ("vault:use",)


@pytest.fixture
def api(loopback_api: Api) -> Api:
    return loopback_api


def store(api: Api, h: dict[str, str], name: str, body: dict[str, Any]) -> None:
    response = api.client.put(f"/v0/vault/{name}", json=body, headers=h)
    assert response.status_code == 200, response.text


def owner_and_use_key(api: Api) -> tuple[dict[str, str], dict[str, str]]:
    """Headers of a read+write key, and of a vault:use key of the same identity."""
    owner = api.new_identity()
    use = api.call(api.vault.identities.add_key, owner.name, scopes=list(USE))
    return auth(owner.api_key), auth(use.api_key)


def api_key(hosts: list[str], **metadata: Any) -> dict[str, Any]:
    return {
        "type": "API_KEY",
        "data": {"key": KEY},
        "metadata": {"allowedHosts": hosts, **metadata},
    }


def fetch(api: Api, h: dict[str, str], name: str, **request: Any) -> Any:
    return api.client.post(f"/v0/vault/{name}/fetch", json=request, headers=h)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets or (KEY,):
        raw = secret.encode()
        forms = {
            secret,
            base64.b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            quote(secret, safe=""),
        }
        for form in forms:
            assert form not in text


def test_key_is_injected_and_an_echo_never_returns_it(api: Api, upstream: Upstream) -> None:
    writer, user = owner_and_use_key(api)
    store(api, writer, "stripe", api_key(["127.0.0.1"]))
    response = fetch(
        api,
        user,
        "stripe",
        method="POST",
        url=f"{upstream.base_url}/echo?a=1",
        headers={"X-Trace": "t1"},
        body={"amount": 5},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"status", "headers", "body", "bodyEncoding", "url"}
    assert answer["status"] == 200 and answer["bodyEncoding"] == "text"
    assert answer["url"] == f"{upstream.base_url}/echo"
    (seen,) = upstream.seen
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["x-trace"] == "t1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert seen.body == b'{"amount":5}'
    assert_no_secret(response.text)
    assert "Bearer [REDACTED]" in answer["body"]
    assert answer["headers"]["x-echo-auth"] == "Bearer [REDACTED]"
    echoed = response.json()["body"]
    assert '"b64": "[REDACTED]"' in echoed and '"quoted": "[REDACTED]"' in echoed


def test_query_injection_replaces_a_callers_parameter_and_is_scrubbed(
    api: Api, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    h = api.headers()
    store(api, h, "q", api_key(["127.0.0.1"], inject={"query": "api_key"}))
    caplog.set_level(logging.DEBUG)
    response = fetch(api, h, "q", method="GET", url=f"{upstream.base_url}/echo?api_key=mine&x=1")
    assert response.status_code == 200, response.text
    assert upstream.seen[0].path == f"/echo?x=1&api_key={quote(KEY, safe='')}"
    assert_no_secret(response.text)
    assert_no_secret(caplog.text)
    audit = api.client.get("/v0/audit", headers=h).json()["events"]
    assert_no_secret(str(audit))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {
                "type": "TOTP",
                "data": {"secret": "JBSWY3DPEHPK3PXP"},
                "metadata": {"allowedHosts": ["127.0.0.1"]},
            },
            "not_injectable",
        ),
        (
            {
                "type": "CARD",
                "data": {"number": "4242424242424242"},
                "metadata": {"allowedHosts": ["127.0.0.1"]},
            },
            "not_injectable",
        ),
        (
            {
                "type": "CUSTOM",
                "data": {"a": "1", "b": "2"},
                "metadata": {"allowedHosts": ["127.0.0.1"]},
            },
            "not_injectable",
        ),
        ({"type": "API_KEY", "data": {"key": KEY}}, "no_allowed_hosts"),
    ],
)
def test_refusals_before_any_connection(
    api: Api, upstream: Upstream, body: dict[str, Any], reason: str
) -> None:
    h = api.headers()
    store(api, h, "c", body)
    message = assert_error(
        fetch(api, h, "c", method="GET", url=f"{upstream.base_url}/echo"),
        400,
        "bad_request",
        reason,
    )
    assert "4242" not in message
    assert upstream.seen == []


def test_host_outside_allowed_hosts_is_refused_before_connecting(
    api: Api, upstream: Upstream
) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["api.example.com", "*.example.org"]))
    response = fetch(api, h, "s", method="GET", url=f"{upstream.base_url}/echo")
    assert "allowedHosts" in assert_error(response, 400, "bad_request", "host_not_allowed")
    assert upstream.seen == []


@pytest.mark.parametrize(
    "host", ["127.0.0.2", "[::1]", "[::ffff:127.0.0.2]", "2130706434", "0x7f.0.0.2", "localhost"]
)
def test_forbidden_addresses_are_refused_before_connecting(api: Api, host: str) -> None:
    """Loopback addresses outside the allowance (127.0.0.1), in every spelling; https, so
    the scheme check passes and the address check is what refuses."""
    h = api.headers()
    store(api, h, "s", api_key([host]))
    response = fetch(api, h, "s", method="GET", url=f"https://{host}:{free_port()}/x")
    if host == "localhost":  # resolves (locally) to 127.0.0.1: allowed, but closed port
        assert response.status_code == 502
        return
    message = assert_error(response, 400, "bad_request", "forbidden_address")
    assert "loopback" in message
    assert KEY not in message


def test_http_needs_the_allowance(api: Api) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.2"]))
    response = fetch(api, h, "s", method="GET", url="http://127.0.0.2:9/x")
    assert "--fetch-allow-private" in assert_error(response, 400, "bad_request", "https_required")


def test_redirects_are_followed_within_allowed_hosts_only(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    inside = f"{upstream.base_url}/redirect?to=/echo&status=307"
    ok = fetch(api, h, "s", method="POST", url=inside, body="hi")
    assert ok.status_code == 200, ok.text
    assert ok.json()["url"] == f"{upstream.base_url}/echo"
    assert [s.path for s in upstream.seen] == ["/redirect?to=/echo&status=307", "/echo"]
    assert upstream.seen[1].headers["authorization"] == f"Bearer {KEY}"
    assert upstream.seen[1].body == b"hi"
    upstream.seen.clear()
    outside = f"{upstream.base_url}/redirect?to=http://localhost:{upstream.port}/echo"
    response = fetch(api, h, "s", method="GET", url=outside)
    assert "localhost" in assert_error(response, 502, "bad_gateway", "redirect_not_allowed")
    assert len(upstream.seen) == 1  # the redirect itself; never the other host


def test_caller_may_not_set_credentials_or_host(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"], inject={"header": "X-Api-Key"}))
    for header in ("Authorization", "cookie", "Host", "X-API-KEY", "Proxy-Authorization"):
        response = fetch(
            api, h, "s", method="GET", url=f"{upstream.base_url}/echo", headers={header: "x"}
        )
        assert header in assert_error(response, 422, "validation_error")
    assert_error(
        fetch(api, h, "s", method="TRACE", url=f"{upstream.base_url}/echo"), 422, "validation_error"
    )
    assert upstream.seen == []


def test_body_limits(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    url = upstream.base_url
    assert fetch(api, h, "s", method="GET", url=f"{url}/big?n={1 << 20}").status_code == 200
    for path in (f"/big?n={(1 << 20) + 1}", f"/chunked?n={3 << 20}"):
        response = fetch(api, h, "s", method="GET", url=url + path)
        assert "1 MiB" in assert_error(response, 502, "bad_gateway", "response_too_large")
    too_big = fetch(api, h, "s", method="POST", url=f"{url}/echo", body="z" * ((1 << 20) + 1))
    assert_error(too_big, 413, "payload_too_large")
    binary = fetch(api, h, "s", method="GET", url=f"{url}/binary").json()
    assert binary["bodyEncoding"] == "base64"
    assert base64.b64decode(binary["body"]) == bytes(range(256))


def test_a_closed_port_is_bad_gateway_naming_where(api: Api) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    port = free_port()
    refused = fetch(api, h, "s", method="GET", url=f"http://127.0.0.1:{port}/")
    message = assert_error(refused, 502, "bad_gateway", "connect_failed")
    assert f"http://127.0.0.1:{port}" in message


def test_a_use_key_uses_but_never_reads(api: Api, upstream: Upstream) -> None:
    h, use = owner_and_use_key(api)
    store(api, h, "stripe", api_key(["127.0.0.1"]))
    store(api, h, "gh", {"type": "TOTP", "data": {"secret": "JBSWY3DPEHPK3PXP"}})
    message = assert_error(
        api.client.get("/v0/vault/stripe", headers=use), 403, "forbidden", "insufficient_scope"
    )
    assert "fetch" in message
    listed = api.client.get("/v0/vault", headers=use)
    assert listed.status_code == 200 and "data" not in listed.json()["credentials"][0]
    assert KEY not in listed.text
    assert api.client.get("/v0/vault/gh/totp", headers=use).status_code == 200
    assert api.client.get("/v0/audit", headers=use).status_code == 200
    assert api.client.get("/v0/whoami", headers=use).json()["scopes"] == ["vault:use"]
    assert_error(
        api.client.put("/v0/vault/x", json=api_key([]), headers=use),
        403,
        "forbidden",
        "insufficient_scope",
    )
    assert_error(
        api.client.delete("/v0/vault/stripe", headers=use), 403, "forbidden", "insufficient_scope"
    )
    assert_error(
        api.client.post("/v0/vault/gh/totp/backup", headers=use),
        403,
        "forbidden",
        "insufficient_scope",
    )
    response = fetch(api, use, "stripe", method="GET", url=f"{upstream.base_url}/echo")
    assert response.status_code == 200 and KEY not in response.text
    write_only = api.headers(("vault:write",))
    assert_error(
        fetch(api, write_only, "stripe", method="GET", url=f"{upstream.base_url}/echo"),
        403,
        "forbidden",
        "insufficient_scope",
    )


def test_each_fetch_is_audited_without_query_or_secret(api: Api, upstream: Upstream) -> None:
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    assert fetch(api, h, "s", method="GET", url=f"{upstream.base_url}/echo?q=1").status_code == 200
    fetch(api, h, "s", method="GET", url="https://127.0.0.2/")
    events = api.client.get("/v0/audit", headers=h).json()["events"]
    refused, ok = events[0], events[1]
    assert (ok["action"], ok["credentialName"], ok["outcome"]) == ("fetch", "s", "ok")
    method, host, path, status, took = ok["detail"].split(" ")
    assert (method, host, path, status) == ("GET", "127.0.0.1", "/echo", "200")
    assert took.endswith("ms")
    assert refused["outcome"] == "host_not_allowed"
    assert refused["detail"].startswith("GET 127.0.0.2 / -")


def test_store_checks_broker_metadata(api: Api) -> None:
    h = api.headers()
    for metadata, field in [
        ({"allowedHosts": "api.example.com"}, "allowedHosts"),
        ({"allowedHosts": ["https://api.example.com/v1"]}, "allowedHosts"),
        ({"allowedHosts": ["*"]}, "*"),
        ({"inject": {"header": "X-Key", "query": "k"}}, "inject"),
        ({"inject": {"header": "Host"}}, "inject.header"),
        ({"inject": {"header": "A", "template": "{a.b}"}}, "template"),
        ({"baseUrl": "ftp://x"}, "metadata.baseUrl must be"),
        ({"inject": {"header": "A", "template": "Token {nokey}"}}, "data.nokey is missing"),
    ]:
        response = api.client.put(
            "/v0/vault/x",
            json={"type": "API_KEY", "data": {"key": KEY}, "metadata": metadata},
            headers=h,
        )
        assert field in assert_error(response, 422, "validation_error")


def test_a_redirect_carrying_the_key_leaks_it_nowhere(api: Api, upstream: Upstream) -> None:
    """An upstream that puts the key it received into a redirect's Location (host
    and path): the refusal's message and the audit event are scrubbed."""
    h = api.headers()
    token = "k" + KEY.replace("/", "").replace("+", "").replace("_", "").lower()[:40]
    store(
        api,
        h,
        "t",
        {"type": "API_KEY", "data": {"key": token}, "metadata": {"allowedHosts": ["127.0.0.1"]}},
    )
    to = quote(f"http://{token}.example/{token}", safe="")
    response = fetch(api, h, "t", method="GET", url=f"{upstream.base_url}/redirect?to={to}")
    assert token not in assert_error(response, 502, "bad_gateway", "redirect_not_allowed")
    audit = api.client.get("/v0/audit", headers=h).json()["events"][0]
    assert audit["outcome"] == "redirect_not_allowed"
    assert token not in audit["detail"] and "[REDACTED]" in audit["detail"]


def test_headers_that_cannot_go_out_are_a_4xx_audited_without_an_error_log(
    api: Api, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    """#28.5: a non-ASCII header value, or a non-ASCII secret injected as a header, was
    a 500 internal_error with an ERROR log line and no audit event."""
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    store(api, h, "wide", {**api_key(["127.0.0.1"]), "data": {"key": "clé-" + KEY}})
    caplog.set_level(logging.INFO)
    url = f"{upstream.base_url}/echo"
    header = fetch(api, h, "s", url=url, headers={"X-Name": "José"})
    assert "non-ASCII" in assert_error(header, 422, "validation_error")
    secret = fetch(api, h, "wide", url=url)
    assert "query" in assert_error(secret, 400, "bad_request", "not_injectable")
    assert upstream.seen == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    events = api.client.get("/v0/audit", headers=h).json()["events"]
    assert [(e["credentialName"], e["outcome"]) for e in events[:2]] == [
        ("wide", "not_injectable"),
        ("s", "validation_error"),
    ]


def test_plain_http_to_a_host_outside_allowed_hosts_is_host_not_allowed(api: Api) -> None:
    """#31.14: it was told to use --fetch-allow-private."""
    h = api.headers()
    store(api, h, "s", api_key(["api.example.com"]))
    response = fetch(api, h, "s", url="http://127.0.0.9:9/x")
    message = assert_error(response, 400, "bad_request", "host_not_allowed")
    assert "--fetch-allow-private" not in message


def test_an_answer_is_decoded_or_refused_never_passed_on_encoded(
    api: Api, upstream: Upstream
) -> None:
    """#28.1: ``x-gzip``, ``br`` and ``zstd`` answers passed through raw with the
    encoding header stripped: the agent decompressed them and read the key."""
    h = api.headers()
    store(api, h, "s", api_key(["127.0.0.1"]))
    for encoding in ("gzip", "x-gzip", "deflate"):
        response = fetch(api, h, "s", url=f"{upstream.base_url}/encoded?encoding={encoding}")
        assert response.status_code == 200, response.text
        assert response.json()["body"] == "auth: Bearer [REDACTED]", encoding
    for encoding in ("br", "zstd"):
        response = fetch(api, h, "s", url=f"{upstream.base_url}/encoded?encoding={encoding}")
        assert encoding in assert_error(response, 502, "bad_gateway", "unsupported_encoding")
    proxied = "/v0/proxy/s/encoded?encoding=br"
    store(api, h, "s", api_key(["127.0.0.1"], baseUrl=upstream.base_url))
    assert_error(api.client.get(proxied, headers=h), 502, "bad_gateway", "unsupported_encoding")


@pytest.mark.parametrize("allowance", ["::/0", "::ffff:0:0/96"])
def test_an_ipv6_allowance_never_opens_loopback_through_its_mapped_spelling(
    settings: ServerSettings, upstream: Upstream, allowance: str
) -> None:
    """#28.15: ``--fetch-allow-private ::/0`` let a request reach 127.0.0.1 as
    ``[::ffff:127.0.0.1]``; ``::ffff:0:0/96`` is refused as an allowance."""
    if allowance == "::ffff:0:0/96":
        with pytest.raises(ValidationError, match="IPv4 network"):
            ServerSettings.load({"data_dir": str(settings.data_dir), "fetch_allow_private":
                                 allowance}, env={})  # fmt: skip
        return
    app = create_app(settings=dataclasses.replace(settings, fetch_allow_private=(allowance,)))
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client=client, settings=settings, app=app)
        h = api.headers()
        store(api, h, "s", api_key(["::ffff:127.0.0.1"]))
        for scheme, reason in (("http", "https_required"), ("https", "forbidden_address")):
            url = f"{scheme}://[::ffff:127.0.0.1]:{upstream.port}/echo"
            assert_error(fetch(api, h, "s", url=url), 400, "bad_request", reason)
    assert upstream.seen == []
