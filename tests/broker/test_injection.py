"""Injection rules: what goes into a request from each credential type, without any network."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from loomal.broker.injection import plan_broker
from loomal.errors import BadRequestError

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


def test_the_basic_token_and_the_password_are_scrubbed() -> None:
    scrubber = plan("LOGIN", {"password": SECRET}, username="bot").scrubber
    token = base64.b64encode(f"bot:{SECRET}".encode()).decode()
    assert scrubber.text(f"echo: Basic {token} {SECRET}") == "echo: Basic [REDACTED] [REDACTED]"


def test_other_long_data_fields_are_scrubbed_too() -> None:
    p = plan("OAUTH", {"accessToken": "at-1", "refreshToken": "refresh-token-value"})
    assert "refresh-token-value" not in p.scrubber.text("leak refresh-token-value")


def test_a_header_value_that_http_cannot_carry_is_not_injectable() -> None:
    """#28.5: a non-ASCII secret injected as a header was a 500 from the HTTP library."""
    for data, metadata in [
        ({"key": "clé-secrète"}, {}),
        ({"key": "clé-secrète"}, {"inject": {"header": "X-Api-Key"}}),
        ({"token": "t\x7f"}, {"inject": {"header": "X-K", "template": "{token}"}}),
    ]:
        kind = "CUSTOM" if "token" in data else "API_KEY"
        with pytest.raises(BadRequestError) as refused:
            plan(kind, data, **metadata)
        assert refused.value.reason == "not_injectable"
        assert "clé" not in refused.value.message
    assert "non-ASCII" in str(refused.value.message) or "control" in refused.value.message
    as_query = plan("API_KEY", {"key": "clé-secrète"}, inject={"query": "key"})
    assert as_query.injection.query == (("key", "clé-secrète"),)
