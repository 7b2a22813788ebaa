"""How a credential goes into a brokered request, where it may go, and which
strings must never come back: the plan made from one credential.

Injection by type, overridable by ``metadata.inject``:

    API_KEY   Authorization: Bearer <data.key>  (clientId + secret: HTTP Basic)
    LOGIN     HTTP Basic metadata.username : data.password
    OAUTH     Authorization: Bearer <data.accessToken>
    CUSTOM    only through metadata.inject with a template naming data fields

``metadata.inject`` is ``{"header": NAME}`` or ``{"query": NAME}``, with an
optional ``"prefix"`` (header only) or ``"template"`` such as ``"Token {token}"``
whose ``{field}`` names a string field of ``data``. Other types (TOTP, CARD,
SSH_KEY, ...) cannot be injected: 400 ``not_injectable``.
"""

from __future__ import annotations

import base64
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loomal.broker.scrubbing import Scrubber
from loomal.broker.urls import check_host_pattern, parse_url
from loomal.core.types import CredentialType
from loomal.errors import BadRequestError, ValidationError

__all__ = [
    "TOKEN",
    "BrokerPlan",
    "Injection",
    "plan_broker",
    "validate_broker_metadata",
]

INJECTABLE = frozenset(
    {CredentialType.API_KEY, CredentialType.LOGIN, CredentialType.OAUTH, CredentialType.CUSTOM}
)
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP header name (RFC 9110 token)."""
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
_NEVER_INJECTED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "expect"}
)
_MIN_SCRUBBED_OTHER_FIELD = 8


@dataclass(frozen=True, slots=True)
class Injection:
    """What the vault adds to a request; masked in ``repr``."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        names = [h for h, _ in self.headers] + [f"?{q}" for q, _ in self.query]
        return f"Injection({', '.join(names)}: '***')"

    @property
    def header_names(self) -> frozenset[str]:
        return frozenset(h for h, _ in self.headers)


@dataclass(frozen=True, slots=True)
class BrokerPlan:
    """Everything one brokered request needs from its credential."""

    injection: Injection
    allowed_hosts: tuple[str, ...]
    scrubber: Scrubber
    base_url: str | None

    def __repr__(self) -> str:
        return f"BrokerPlan(allowed_hosts={self.allowed_hosts!r})"


def _not_injectable(name: str, why: str) -> BadRequestError:
    return BadRequestError(
        f"{name!r} cannot be used in a brokered request: {why}", reason="not_injectable"
    )


def _template_fields(template: str) -> list[str]:
    fields = []
    try:
        for _, field, spec, conversion in string.Formatter().parse(template):
            if field is None:
                continue
            if not field or spec or conversion or not re.fullmatch(r"[A-Za-z0-9_-]+", field):
                raise ValueError
            fields.append(field)
    except ValueError:
        raise ValidationError(
            "metadata.inject.template: use {field} with a plain data field name; write {{ and }} "
            "for literal braces."
        ) from None
    if not fields:
        raise ValidationError("metadata.inject.template must name at least one {field} of data.")
    return fields


def validate_broker_metadata(
    metadata: Mapping[str, Any], data: Mapping[str, Any] | None = None
) -> None:
    """Check ``allowedHosts``, ``inject`` and ``baseUrl`` when a credential is stored,
    so a typo is a 422 then, not a surprise at the first brokered request; with the
    stored ``data``, also that a template names only its string fields."""
    hosts = metadata.get("allowedHosts")
    if hosts is not None:
        if not isinstance(hosts, list) or not hosts:
            raise ValidationError("metadata.allowedHosts must be a non-empty array of host names.")
        for host in hosts:
            check_host_pattern(host)
    inject = metadata.get("inject")
    if inject is not None:
        _check_inject(inject)
        if data is not None and "template" in inject:
            for field in _template_fields(inject["template"]):
                if not isinstance(data.get(field), str) or not data[field]:
                    raise ValidationError(
                        f"metadata.inject.template names {{{field}}}, but data.{field} is "
                        "missing or not a string."
                    )
    base_url = metadata.get("baseUrl")
    if base_url is not None:
        if not isinstance(base_url, str):
            raise ValidationError("metadata.baseUrl must be a URL string.")
        target = parse_url(base_url, field="metadata.baseUrl")
        if target.query:
            raise ValidationError("metadata.baseUrl must not have a query string.")


def _check_inject(inject: Any) -> None:
    if not isinstance(inject, Mapping):
        raise ValidationError('metadata.inject must be an object such as {"header": "X-Api-Key"}.')
    unknown = set(inject) - {"header", "query", "prefix", "template"}
    if unknown:
        raise ValidationError(f"metadata.inject: unknown field {sorted(unknown)[0]!r}.")
    if ("header" in inject) == ("query" in inject):
        raise ValidationError("metadata.inject needs exactly one of header or query.")
    target = inject.get("header", inject.get("query"))
    if not isinstance(target, str) or not TOKEN.fullmatch(target):
        raise ValidationError(
            "metadata.inject.header/query must be a plain header or parameter name."
        )
    if "header" in inject and target.lower() in _NEVER_INJECTED:
        raise ValidationError(f"metadata.inject.header: the vault cannot inject {target}.")
    if "prefix" in inject and "template" in inject:
        raise ValidationError("metadata.inject: give prefix or template, not both.")
    if "prefix" in inject and ("query" in inject or not isinstance(inject["prefix"], str)):
        raise ValidationError("metadata.inject.prefix must be a string, with header only.")
    if "template" in inject:
        if not isinstance(inject["template"], str):
            raise ValidationError("metadata.inject.template must be a string.")
        _template_fields(inject["template"])


def _string_field(name: str, data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise _not_injectable(name, f"data.{field} is missing or not a string.")
    return value


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _primary_secret(name: str, ctype: CredentialType, data: Mapping[str, Any]) -> str:
    field = {
        CredentialType.API_KEY: "key",
        CredentialType.LOGIN: "password",
        CredentialType.OAUTH: "accessToken",
    }.get(ctype)
    if field is None:
        strings = [k for k, v in data.items() if isinstance(v, str) and v]
        if len(strings) != 1:
            raise _not_injectable(
                name, 'a CUSTOM credential needs metadata.inject.template, e.g. "Token {token}".'
            )
        field = strings[0]
    return _string_field(name, data, field)


def _injection(
    name: str, ctype: CredentialType, metadata: Mapping[str, Any], data: Mapping[str, Any]
) -> tuple[Injection, list[str]]:
    """The headers / query parameters to add, and every secret string they carry."""
    inject = metadata.get("inject")
    if inject is None:
        if ctype is CredentialType.CUSTOM:
            raise _not_injectable(
                name,
                "a CUSTOM credential needs metadata.inject naming a header or query parameter.",
            )
        if ctype is CredentialType.LOGIN or (ctype is CredentialType.API_KEY and "key" not in data):
            if ctype is CredentialType.LOGIN:
                user = metadata.get("username")
                if not isinstance(user, str) or not user:
                    raise _not_injectable(name, "HTTP Basic needs metadata.username.")
                password = _string_field(name, data, "password")
            else:
                user = _string_field(name, data, "clientId")
                password = _string_field(name, data, "secret")
            token = _basic(user, password)
            return Injection(headers=(("authorization", f"Basic {token}"),)), [password, token]
        secret = _primary_secret(name, ctype, data)
        value = _header_value(name, f"Bearer {secret}")
        return Injection(headers=(("authorization", value),)), [secret]
    _check_inject(inject)
    if "template" in inject:
        values = {f: _string_field(name, data, f) for f in _template_fields(inject["template"])}
        value = inject["template"].format(**values)
        secrets = list(values.values())
    else:
        secret = _primary_secret(name, ctype, data)
        value = inject.get("prefix", "") + secret
        secrets = [secret]
    if "header" in inject:
        return Injection(headers=((inject["header"].lower(), _header_value(name, value)),)), secrets
    return Injection(query=((inject["query"], value),)), secrets


def _header_value(name: str, value: str) -> str:
    """A value an HTTP header can carry: visible ASCII, spaces and tabs."""
    if not _HEADER_VALUE.fullmatch(value):
        why = (
            "the value would contain a line break or control character."
            if value.isascii()
            else "the secret holds non-ASCII characters, which an HTTP header cannot carry "
            'as text; inject it as a query parameter ({"query": NAME}) instead.'
        )
        raise _not_injectable(name, why)
    return value


def plan_broker(
    name: str, ctype_name: str, metadata: Mapping[str, Any], data: Mapping[str, Any]
) -> BrokerPlan:
    """What a brokered request with this credential injects, where it may go, and
    what to scrub. Refuses (400) a type that cannot be injected and a credential
    without ``metadata.allowedHosts``."""
    ctype = CredentialType(ctype_name)
    if ctype not in INJECTABLE:
        raise _not_injectable(
            name,
            f"the vault does not know how to put a {ctype.value} credential into an HTTP request "
            "(it can for API_KEY, LOGIN, OAUTH and CUSTOM).",
        )
    hosts = metadata.get("allowedHosts")
    if not hosts:
        raise BadRequestError(
            f"{name!r} lists no metadata.allowedHosts: store it with the hosts it may be sent "
            'to, e.g. "allowedHosts": ["api.stripe.com"].',
            reason="no_allowed_hosts",
        )
    validate_broker_metadata(metadata)
    injection, secrets = _injection(name, ctype, metadata, data)
    others = [
        v for v in data.values() if isinstance(v, str) and len(v) >= _MIN_SCRUBBED_OTHER_FIELD
    ]
    return BrokerPlan(
        injection=injection,
        allowed_hosts=tuple(check_host_pattern(h) for h in hosts),
        scrubber=Scrubber([*secrets, *others]),
        base_url=metadata.get("baseUrl"),
    )
