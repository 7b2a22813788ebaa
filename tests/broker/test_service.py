"""BrokerService on both stores, with a fake upstream behind the transport port:
fetch and proxy, each refusal a 4xx that is audited, nothing sent when refused.
No HTTP server, no socket (end to end: tests/server/test_fetch.py, test_proxy.py)."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

import pytest

from loomal.core.principals import Principal
from loomal.errors import BadGatewayError, BadRequestError, LoomalError, ValidationError
from tests.broker.conftest import PUBLIC, Harness, api_key
from tests.broker.fake_upstream import Reply, Sent

KEY = "sk_live_" + "Ab3/+x" * 6
URL = "https://api.example.com/v1/echo"


async def refused(harness: Harness, who: Principal, call: Any) -> LoomalError:
    """The error ``call`` raises, after checking that nothing was sent."""
    sent = len(harness.upstream.sent)
    with pytest.raises(LoomalError) as caught:
        await call
    assert len(harness.upstream.sent) == sent
    assert KEY not in str(caught.value) and KEY not in caught.value.message
    return caught.value


async def last_outcome(harness: Harness, who: Principal) -> str:
    return (await harness.events(who))[0].outcome


async def test_fetch_injects_resolves_once_pins_and_scrubs(harness: Harness) -> None:
    who = await harness.caller()
    await harness.store(who, "stripe", api_key(KEY))
    answer = await harness.fetch(who, "stripe", URL + "?a=1", headers={"X-Trace": "t1"})
    (sent,) = harness.upstream.sent
    assert harness.upstream.resolved == ["api.example.com"]
    assert str(sent.address) == PUBLIC and sent.url.startswith(f"https://{PUBLIC}:443/")
    assert sent.server_name == "api.example.com"
    assert sent.headers["host"] == "api.example.com"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-trace"] == "t1"
    assert answer.status == 200 and KEY not in answer.body
    assert json.loads(answer.body)["headers"]["authorization"] == "Bearer [REDACTED]"
    assert answer.url == URL
    event = (await harness.events(who))[0]
    assert (event.action, event.outcome) == ("fetch", "ok")
    assert event.detail is not None and event.detail.startswith("GET api.example.com /v1/echo 200")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (api_key(KEY, inject={"header": "X-Api-Key"}), ("x-api-key", KEY)),
        (
            api_key(KEY, inject={"header": "Authorization", "prefix": "Token "}),
            ("authorization", f"Token {KEY}"),
        ),
        (
            {
                "type": "LOGIN",
                "data": {"password": "pw-Secret-9"},
                "metadata": {"username": "bot", "allowedHosts": ["api.example.com"]},
            },
            ("authorization", "Basic " + base64.b64encode(b"bot:pw-Secret-9").decode()),
        ),
        (
            {
                "type": "OAUTH",
                "data": {"accessToken": "ya29.tok-en"},
                "metadata": {"allowedHosts": ["api.example.com"]},
            },
            ("authorization", "Bearer ya29.tok-en"),
        ),
        (
            {
                "type": "CUSTOM",
                "data": {"token": "cu-stom-77", "org": "o1"},
                "metadata": {
                    "allowedHosts": ["api.example.com"],
                    "inject": {"header": "Authorization", "template": "Token {token}"},
                },
            },
            ("authorization", "Token cu-stom-77"),
        ),
    ],
)
async def test_injection_by_type_and_metadata(
    harness: Harness, body: dict[str, Any], expected: tuple[str, str]
) -> None:
    who = await harness.caller()
    await harness.store(who, "cred", body)
    answer = await harness.fetch(who, "cred", URL)  # the method defaults to GET
    (sent,) = harness.upstream.sent
    header, value = expected
    assert sent.method == "GET" and sent.headers[header] == value
    assert value.split(" ", 1)[-1] not in answer.body and "pw-Secret-9" not in answer.body


async def test_only_identity_is_asked_for(harness: Harness) -> None:
    """#28.1: the vault asks only for an encoding it decodes."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    await harness.fetch(who, "s", URL, headers={"Accept-Encoding": "br, zstd"})
    assert harness.upstream.sent[0].headers["accept-encoding"] == "identity"


def compressed(encoding: str, body: bytes) -> bytes:
    if encoding in ("gzip", "x-gzip"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "raw-deflate":
        engine = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return engine.compress(body) + engine.flush()
    if encoding == "gzip, deflate":
        return zlib.compress(gzip.compress(body))
    raise AssertionError(encoding)


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "gzip, deflate"])
async def test_an_answer_in_an_encoding_the_vault_decodes_is_decoded_and_scrubbed(
    harness: Harness, encoding: str
) -> None:
    """#28.1: ``x-gzip`` passed through raw, with the encoding header stripped."""

    def answer(sent: Sent) -> Reply:
        body = f"echo {sent.headers['authorization']}".encode()
        name = "deflate" if encoding == "raw-deflate" else encoding
        return Reply(200, [("Content-Encoding", name)], compressed(encoding, body))

    harness.upstream.handler = answer
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    fetched = await harness.fetch(who, "s", URL)
    assert fetched.body == "echo Bearer [REDACTED]"
    assert "content-encoding" not in fetched.headers
    async with harness.vault.broker.proxy(
        who, "s", method="GET", path="/", query="", headers=[], body=None
    ) as proxied:
        assert await proxied.read() == b"echo Bearer [REDACTED]"
        assert all(k != "content-encoding" for k, _ in proxied.headers)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "x-custom"])
async def test_an_answer_in_any_other_encoding_is_refused(harness: Harness, encoding: str) -> None:
    """#28.1: ``br`` and ``zstd`` answers passed through raw: the agent decoded the key."""
    harness.upstream.handler = lambda sent: Reply(
        200, [("Content-Encoding", encoding)], sent.headers["authorization"].encode()
    )
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    with pytest.raises(BadGatewayError) as caught:
        await harness.fetch(who, "s", URL)
    assert caught.value.reason == "unsupported_encoding"
    assert await last_outcome(harness, who) == "unsupported_encoding"
    with pytest.raises(BadGatewayError):
        async with harness.vault.broker.proxy(
            who, "s", method="GET", path="/", query="", headers=[], body=None
        ):
            pass


async def test_a_compressed_bomb_is_cut_at_the_limit(harness: Harness) -> None:
    harness.upstream.handler = lambda sent: Reply(
        200, [("Content-Encoding", "gzip")], gzip.compress(b"0" * (8 << 20))
    )
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    with pytest.raises(BadGatewayError) as caught:
        await harness.fetch(who, "s", URL)
    assert caught.value.reason == "response_too_large"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"headers": {"X-Name": "José"}}, "validation_error"),
     ({"headers": {"X-Name": "a\x7fb"}}, "validation_error")],
)  # fmt: skip
async def test_a_header_that_cannot_go_out_is_a_4xx_and_audited(
    harness: Harness, fields: dict[str, Any], reason: str
) -> None:
    """#28.5: a non-ASCII header value in /fetch was a 500, unaudited."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    error = await refused(harness, who, harness.fetch(who, "s", URL, **fields))
    assert isinstance(error, ValidationError) and error.http_status == 422
    assert await last_outcome(harness, who) == reason


async def test_a_non_ascii_secret_injected_as_a_header_is_a_4xx_and_audited(
    harness: Harness,
) -> None:
    """#28.5: the same for a secret an HTTP header cannot carry."""
    who = await harness.caller()
    await harness.store(who, "s", api_key("clé-" + KEY))
    error = await refused(harness, who, harness.fetch(who, "s", URL))
    assert isinstance(error, BadRequestError) and error.reason == "not_injectable"
    assert "query" in error.message
    assert await last_outcome(harness, who) == "not_injectable"


async def test_a_raw_high_byte_in_a_proxied_header_is_a_4xx_and_audited(
    harness: Harness,
) -> None:
    """#28.5: a raw 0x80+ byte in a proxied header was a 500, unaudited."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    proxied = harness.vault.broker.proxy(
        who, "s", method="GET", path="/", query="", headers=[(b"x-name", b"Jos\xe9")], body=None
    )

    async def enter() -> None:
        async with proxied:
            pass

    error = await refused(harness, who, enter())
    assert error.http_status == 422 and "x-name" in error.message
    assert await last_outcome(harness, who) == "validation_error"


def hostile(sent: Sent) -> Reply:
    """An upstream that tries to act on the vault's origin."""
    return Reply(
        200,
        [
            ("Content-Type", "text/html"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Set-Cookie", "__Host-loomal_session=attacker; Path=/"),
            ("Content-Security-Policy", "script-src *"),
            ("Strict-Transport-Security", "max-age=1"),
            ("Clear-Site-Data", '"*"'),
            ("Connection", "X-Hop"),
            ("X-Hop", "1"),
            ("Link", '<https://api.example.com/v1/echo?page=2>; rel="next"'),
            ("Content-Disposition", "inline"),
        ],
        b"<script>alert(document.cookie)</script>",
    )


async def test_the_proxy_strips_what_must_not_reach_the_vaults_origin(harness: Harness) -> None:
    """#28.14: CORS grants, cookies, CSP and Connection-named headers were relayed, and
    an HTML body was served to run on the console's origin."""
    harness.upstream.handler = hostile
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY, baseUrl="https://api.example.com/v1"))
    async with harness.vault.broker.proxy(
        who, "s", method="GET", path="/echo", query="", headers=[], body=None
    ) as answer:
        headers = dict(answer.headers)
        assert len(headers) == len(answer.headers)
    for gone in (
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "set-cookie",
        "strict-transport-security",
        "clear-site-data",
        "x-hop",
    ):
        assert gone not in headers, gone  # fmt: skip
    assert headers["content-security-policy"].startswith("sandbox")
    assert headers["content-disposition"] == "attachment"
    assert headers["link"].endswith('rel="next"')  # pagination still works
    fetched = await harness.fetch(who, "s", URL)
    assert "x-hop" not in fetched.headers and "set-cookie" in fetched.headers  # /fetch: data


async def test_the_proxy_never_forwards_a_vault_key(harness: Harness) -> None:
    """#28.14: a loid- key in the proxied query string reached the upstream."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY, baseUrl="https://api.example.com/v1"))
    key = "loid-" + "Q" * 43
    async with harness.vault.broker.proxy(
        who, "s", method="POST", path="/echo", query=f"api_key={key}&a=1",
        headers=[(b"x-api-key", key.encode()), (b"x-other", f"k {key}".encode())], body=b"{}",
    ) as answer:  # fmt: skip
        await answer.read()
    (sent,) = harness.upstream.sent
    assert key not in json.dumps([sent.url, sent.headers, sent.body.decode()])
    assert sent.query == {"a": "1"}
    proxied = harness.vault.broker.proxy(
        who, "s", method="POST", path="/echo", query="", headers=[], body=key.encode()
    )

    async def enter() -> None:
        async with proxied:
            pass

    error = await refused(harness, who, enter())
    assert isinstance(error, BadRequestError) and error.reason == "vault_key_in_request"


@pytest.mark.parametrize(
    "fields",
    [{"url": URL + "?k=" + "loid-" + "Q" * 43}, {"url": URL + "?k=loid%2D" + "Q" * 43},
     {"url": URL, "headers": {"X-K": "loid-" + "Q" * 43}},
     {"url": URL, "body": {"key": "loid-" + "Q" * 43}}],
)  # fmt: skip
async def test_fetch_never_sends_a_vault_key(harness: Harness, fields: dict[str, Any]) -> None:
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    fields = dict(fields)
    url = fields.pop("url")
    error = await refused(harness, who, harness.fetch(who, "s", url, **fields))
    assert error.reason == "vault_key_in_request" or "loid-" in error.message
    assert "Q" * 43 not in error.message


async def test_a_dot_dot_path_stays_under_the_base_path(harness: Harness) -> None:
    """#28.16: /v0/proxy/prefixed/../../admin reached /admin above baseUrl's path."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY, baseUrl="https://api.example.com/v1/tenant-a"))
    proxied = harness.vault.broker.proxy(
        who, "s", method="GET", path="/prefixed/../../admin", query="", headers=[], body=None
    )

    async def enter() -> None:
        async with proxied:
            pass

    error = await refused(harness, who, enter())
    assert isinstance(error, BadRequestError) and error.reason == "path_outside_base"
    assert await last_outcome(harness, who) == "path_outside_base"
    async with harness.vault.broker.proxy(
        who, "s", method="GET", path="/a/../b", query="", headers=[], body=None
    ):
        pass
    assert harness.upstream.sent[0].path == "/v1/tenant-a/b"


async def test_a_connect_failure_says_where_the_proxy_tried(harness: Harness) -> None:
    """#31.14: the proxy without baseUrl said only "Could not connect to the upstream"."""
    harness.upstream.refuse_connections = True
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    with pytest.raises(BadGatewayError) as caught:
        async with harness.vault.broker.proxy(
            who, "s", method="GET", path="/v1/x", query="", headers=[], body=None
        ):
            pass
    assert caught.value.reason == "connect_failed"
    assert "https://api.example.com:443" in caught.value.message
    assert "baseUrl" in caught.value.message
    with pytest.raises(BadGatewayError) as fetched:
        await harness.fetch(who, "s", "https://api.example.com:8443/x")
    assert "https://api.example.com:8443" in fetched.value.message


async def test_plain_http_to_a_host_outside_allowed_hosts_is_host_not_allowed(
    harness: Harness,
) -> None:
    """#31.14: it was told to use --fetch-allow-private (https_required)."""
    who = await harness.caller()
    await harness.store(who, "s", api_key(KEY))
    error = await refused(harness, who, harness.fetch(who, "s", "http://elsewhere.example/"))
    assert isinstance(error, BadRequestError) and error.reason == "host_not_allowed"
    assert "--fetch-allow-private" not in error.message
    https = await refused(harness, who, harness.fetch(who, "s", "http://api.example.com/"))
    assert isinstance(https, BadRequestError) and https.reason == "https_required"


async def test_a_use_key_fetches_and_a_write_key_cannot(harness: Harness) -> None:
    owner = await harness.caller()
    await harness.store(owner, "s", api_key(KEY))
    writer = await harness.caller(("vault:write",))
    await harness.store(writer, "s", api_key(KEY))
    error = await refused(harness, writer, harness.fetch(writer, "s", URL))
    assert error.reason == "insufficient_scope"
