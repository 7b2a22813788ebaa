"""What a brokered request may carry out, without any network: the caller's
headers, the proxied ones, bodies, the proxy's target under baseUrl, and the
vault's own keys kept in."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from loomal.broker.injection import plan_broker
from loomal.broker.outbound import (
    check_caller_headers,
    encode_request_body,
    proxied_headers,
    proxied_query,
    proxy_target,
)
from loomal.errors import BadRequestError, PayloadTooLargeError, ValidationError

HOSTS = {"allowedHosts": ["api.example.com"]}
VAULT_KEY = "loid-" + "k" * 43


def plan(**metadata: Any) -> Any:
    return plan_broker("c", "API_KEY", {**HOSTS, **metadata}, {"key": "k"})


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
    by_base = plan(baseUrl="https://api.example.com/v2/")
    target = proxy_target(by_base, "c", "/models", "a=1")
    assert target.url() == "https://api.example.com:443/v2/models?a=1"
    by_host = plan()
    assert proxy_target(by_host, "c", "/x", "").url() == "https://api.example.com:443/x"
    wild = plan_broker("c", "API_KEY", {"allowedHosts": ["*.example.com"]}, {"key": "k"})
    with pytest.raises(BadRequestError) as refused:
        proxy_target(wild, "c", "/x", "")
    assert refused.value.reason == "no_base_url"


@pytest.mark.parametrize(
    ("headers", "why"),
    [({"X-Name": "José"}, "non-ASCII"), ({"X-Name": "a\x01b"}, "control"),
     ({"X-Trace": f"t {VAULT_KEY}"}, "loid-")],
)  # fmt: skip
def test_caller_headers_that_cannot_or_must_not_go_out_are_refused(
    headers: dict[str, str], why: str
) -> None:
    """#28.5: a non-ASCII header value was a 500 from the HTTP library."""
    with pytest.raises((ValidationError, BadRequestError)) as refused:
        check_caller_headers(headers, frozenset())
    assert why in refused.value.message
    assert VAULT_KEY not in refused.value.message and "José" not in refused.value.message


def test_proxied_headers_with_bytes_outside_ascii_are_refused() -> None:
    """#28.5: a raw 0x80+ byte in a proxied header was a 500."""
    with pytest.raises(ValidationError) as refused:
        proxied_headers([(b"x-name", "José".encode())], frozenset())
    assert "x-name" in refused.value.message


def test_headers_named_by_connection_are_not_forwarded() -> None:
    """#28.14: hop-by-hop headers a client names in Connection."""
    forwarded = proxied_headers(
        [(b"connection", b"keep-alive, X-Hop"), (b"x-hop", b"1"), (b"x-kept", b"2")],
        frozenset(),
    )
    assert forwarded == [("x-kept", "2")]


@pytest.mark.parametrize(
    "query",
    [f"key={VAULT_KEY}&a=1", f"a=1&key={VAULT_KEY.replace('-', '%2D')}", f"{VAULT_KEY}&a=1",
     f"a=1&k=Bearer+{VAULT_KEY}"],
)  # fmt: skip
def test_a_vault_key_in_the_proxied_query_is_dropped(query: str) -> None:
    """#28.14: a loid- key in the proxied query string reached the upstream."""
    assert proxied_query(query) == "a=1"
    target = proxy_target(plan(baseUrl="https://api.example.com/v1"), "c", "/x", query)
    assert target.query == "a=1" and "loid" not in target.url()


def test_a_vault_key_in_a_body_or_path_is_refused() -> None:
    for call in (
        lambda: encode_request_body(f'{{"k": "{VAULT_KEY}"}}', "text"),
        lambda: proxy_target(plan(), "c", f"/keys/{VAULT_KEY}", ""),
    ):
        with pytest.raises(BadRequestError) as refused:
            call()
        assert refused.value.reason == "vault_key_in_request"
        assert VAULT_KEY not in refused.value.message


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/models", "/v1/tenant-a/models"), ("/a/../b", "/v1/tenant-a/b"),
     ("/a/./b/", "/v1/tenant-a/a/b/"), ("/a/%2e%2E/b", "/v1/tenant-a/b"),
     ("/x/%2Fy", "/v1/tenant-a/x/%2Fy")],
)  # fmt: skip
def test_the_proxied_path_is_normalised_under_the_base_path(path: str, expected: str) -> None:
    base = plan(baseUrl="https://api.example.com/v1/tenant-a")
    assert proxy_target(base, "c", path, "").path == expected


@pytest.mark.parametrize(
    "path",
    ["/prefixed/../../admin", "/..", "/%2e%2e/admin", "/a/.%2E/../..", "/..%2F..%2Fadmin",
     "/a%5C..%5C..", "/./../x"],
)  # fmt: skip
def test_a_path_above_the_base_path_is_refused(path: str) -> None:
    """#28.16: ``..`` was resolved after joining, reaching above baseUrl's path."""
    with pytest.raises(BadRequestError) as refused:
        proxy_target(plan(baseUrl="https://api.example.com/v1/tenant-a"), "c", path, "")
    assert refused.value.reason == "path_outside_base"
