"""Injection rules, header rules and scrubbing, without any network."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from loomal.core.broker import (
    REDACTED,
    Scrubber,
    check_caller_headers,
    encode_request_body,
    plan_broker,
    proxied_headers,
    proxy_target,
)
from loomal.errors import BadRequestError, PayloadTooLargeError, ValidationError

SECRET = "sk_live_a/b+c=d?e&f\u00e9" + "Q" * 10
HOSTS = {"allowedHosts": ["api.example.com"]}


def plan(ctype: str, data: dict[str, Any], **metadata: Any) -> Any:
    return plan_broker("c", ctype, {**HOSTS, **metadata}, data)


def test_default_injection_by_type() -> None:
    assert plan("API_KEY", {"key": "k1"}).injection.headers == (("authorization", "Bearer k1"),)
    basic = base64.b64encode(b"id:sec").decode()
    assert plan("API_KEY", {"clientId": "id", "secret": "sec"}).injection.headers == (
        ("authorization", f"Basic {basic}"),
    )
    login = plan("LOGIN", {"password": "pw"}, username="me").injection
    assert login.headers == (("authorization", "Basic " + base64.b64encode(b"me:pw").decode()),)
    assert plan("OAUTH", {"accessToken": "at", "refreshToken": "rt"}).injection.headers == (
        ("authorization", "Bearer at"),
    )


def test_metadata_inject_forms() -> None:
    header = plan("API_KEY", {"key": "k"}, inject={"header": "X-Api-Key"}).injection
    assert header.headers == (("x-api-key", "k"),)
    prefixed = plan("API_KEY", {"key": "k"}, inject={"header": "Authorization", "prefix": "Token "})
    assert prefixed.injection.headers == (("authorization", "Token k"),)
    query = plan("API_KEY", {"key": "k"}, inject={"query": "api_key"}).injection
    assert query.query == (("api_key", "k"),) and query.headers == ()
    custom = plan(
        "CUSTOM",
        {"token": "t", "org": "o"},
        inject={"header": "Authorization", "template": "Token {token} org={org} {{x}}"},
    )
    assert custom.injection.headers == (("authorization", "Token t org=o {x}"),)
    single = plan("CUSTOM", {"only": "v"}, inject={"header": "X-K"})
    assert single.injection.headers == (("x-k", "v"),)
    assert "'***'" in repr(single.injection) and "v" not in repr(single.injection).split(":")[1]


@pytest.mark.parametrize(
    ("ctype", "data", "metadata", "reason"),
    [
        ("TOTP", {"secret": "JBSWY3DPEHPK3PXP"}, {}, "not_injectable"),
        ("SSH_KEY", {"privateKey": "x"}, {}, "not_injectable"),
        ("CARD", {"number": "4242"}, {}, "not_injectable"),
        ("AWS", {"secretAccessKey": "x"}, {}, "not_injectable"),
        ("CUSTOM", {"a": "1"}, {}, "not_injectable"),
        ("CUSTOM", {"a": "1", "b": "2"}, {"inject": {"header": "X"}}, "not_injectable"),
        ("LOGIN", {"password": "pw"}, {}, "not_injectable"),
        ("CUSTOM", {"a": "x\r\nEvil: 1"}, {"inject": {"header": "X", "template": "{a}"}},
         "not_injectable"),
        ("CUSTOM", {"a": "1"}, {"inject": {"header": "X", "template": "{missing}"}},
         "not_injectable"),
    ],
)  # fmt: skip
def test_not_injectable(
    ctype: str, data: dict[str, Any], metadata: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadRequestError) as refused:
        plan(ctype, data, **metadata)
    assert refused.value.reason == reason
    assert "4242" not in refused.value.message and "Evil" not in refused.value.message


def test_no_allowed_hosts() -> None:
    with pytest.raises(BadRequestError) as refused:
        plan_broker("c", "API_KEY", {}, {"key": "k"})
    assert refused.value.reason == "no_allowed_hosts"
    assert "allowedHosts" in refused.value.message


def every_form(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        quote(secret, safe=""),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ]


def test_scrubber_removes_every_recognised_form() -> None:
    scrubber = Scrubber([SECRET])
    for form in every_form(SECRET):
        text = f"before {form} after"
        assert scrubber.text(text) == f"before {REDACTED} after", form
    basic = plan("LOGIN", {"password": SECRET}, username="bot").scrubber
    token = base64.b64encode(f"bot:{SECRET}".encode()).decode()
    assert token not in basic.text(f"echo: Basic {token}")


def test_stream_scrubber_finds_a_secret_split_across_chunks() -> None:
    """At every chunk size no form survives (a padded base64 may keep its '=' padding
    when its unpadded form completes first: that says nothing of the secret)."""
    scrubber = Scrubber([SECRET])
    forms = every_form(SECRET)
    body = ("xx" + "yy".join(forms) + "zz").encode()
    for size in (1, 2, 3, 7, 16, 100, len(body)):
        stream = scrubber.stream()
        out = b"".join(stream.feed(body[i : i + size]) for i in range(0, len(body), size))
        out += stream.finish()
        text = out.decode()
        assert text.startswith(f"xx{REDACTED}") and text.endswith("zz"), size
        assert text.count(REDACTED) == len(forms), size
        for form in forms:
            assert form not in text, (size, form)


def test_other_long_data_fields_are_scrubbed_too() -> None:
    p = plan("OAUTH", {"accessToken": "at-1", "refreshToken": "refresh-token-value"})
    assert "refresh-token-value" not in p.scrubber.text("leak refresh-token-value")


def test_caller_headers() -> None:
    assert check_caller_headers({"X-A": "1", "Content-Length": "9", "Accept-Encoding": "gzip"},
                                frozenset()) == [("x-a", "1")]  # fmt: skip
    for name in ("Authorization", "COOKIE", "host", "Proxy-Authorization", "X-Api-Key"):
        with pytest.raises(ValidationError):
            check_caller_headers({name: "v"}, frozenset({"x-api-key"}))
    for bad in ({"X A": "1"}, {"X": "a\r\nB: c"}):
        with pytest.raises(ValidationError):
            check_caller_headers(bad, frozenset())
    forwarded = proxied_headers(
        [(b"authorization", b"Bearer loid-x"), (b"host", b"vault"), (b"cookie", b"c=1"),
         (b"x-api-key", b"loid-x"), (b"content-type", b"application/json"), (b"connection", b"k")],
        frozenset({"x-api-key"}),
    )  # fmt: skip
    assert forwarded == [("content-type", "application/json")]


def test_request_body_encoding() -> None:
    assert encode_request_body(None, "text") == (None, None)
    assert encode_request_body("hé", "text") == ("hé".encode(), None)
    assert encode_request_body(base64.b64encode(b"\x00\xff").decode(), "base64") == (
        b"\x00\xff",
        None,
    )
    assert encode_request_body({"a": 1}, "text") == (b'{"a":1}', "application/json")
    with pytest.raises(ValidationError):
        encode_request_body("not base64!", "base64")
    with pytest.raises(PayloadTooLargeError):
        encode_request_body("x" * (1024 * 1024 + 1), "text")


def test_proxy_target() -> None:
    by_base = plan("API_KEY", {"key": "k"}, baseUrl="https://api.example.com/v2/")
    target = proxy_target(by_base, "c", "/models", "a=1")
    assert target.url() == "https://api.example.com:443/v2/models?a=1"
    by_host = plan("API_KEY", {"key": "k"})
    assert proxy_target(by_host, "c", "/x", "").url() == "https://api.example.com:443/x"
    wild = plan_broker("c", "API_KEY", {"allowedHosts": ["*.example.com"]}, {"key": "k"})
    with pytest.raises(BadRequestError) as refused:
        proxy_target(wild, "c", "/x", "")
    assert refused.value.reason == "no_base_url"
