"""Brokered requests' rules: how a credential is injected into a request, what a
caller may not set, and scrubbing the secret out of what comes back.

The point of brokering is that the secret never leaves the server: the agent
names a credential and a URL, the vault adds the credential on the way out and
removes every spelling of it it can recognise on the way back (the value, its
base64 / base64url / percent-encoded / JSON-escaped forms, and the Basic
``user:password`` token). What scrubbing cannot catch (a hash, a reversed or
re-encoded echo) is stated in docs/security.md.

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
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from loomal.core.egress import Target, check_host_pattern, parse_url
from loomal.core.identity import KEY_PREFIX
from loomal.core.types import CredentialType
from loomal.errors import BadRequestError, PayloadTooLargeError, ValidationError

__all__ = [
    "REDACTED",
    "BrokerPlan",
    "Injection",
    "Scrubber",
    "check_caller_headers",
    "check_method",
    "encode_request_body",
    "plan_broker",
    "proxied_headers",
    "proxy_target",
    "validate_broker_metadata",
]

REDACTED = "[REDACTED]"
INJECTABLE = frozenset(
    {CredentialType.API_KEY, CredentialType.LOGIN, CredentialType.OAUTH, CredentialType.CUSTOM}
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_NEVER_INJECTED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "expect"}
)
CALLER_FORBIDDEN = frozenset({"authorization", "proxy-authorization", "cookie", "host"})
"""Headers a caller may never set on a brokered request (the vault sets what it needs)."""
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "accept-encoding",
        "expect",
    }
)
"""Framing headers the vault sets itself (a caller's are dropped). ``accept-encoding``
is always ``identity``: a compressed answer could not be scrubbed."""
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
    if not isinstance(target, str) or not _TOKEN.fullmatch(target):
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
        return Injection(headers=(("authorization", f"Bearer {secret}"),)), [secret]
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
        if "\r" in value or "\n" in value:
            raise _not_injectable(name, "the value would contain a line break.")
        return Injection(headers=((inject["header"].lower(), value),)), secrets
    return Injection(query=((inject["query"], value),)), secrets


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


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_REQUEST_BYTES = 1024 * 1024


def check_method(method: str) -> str:
    """One of :data:`METHODS` (TRACE, which echoes the request, and CONNECT never)."""
    upper = method.upper() if isinstance(method, str) else ""
    if upper not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}.")
    return upper


def encode_request_body(
    body: str | Mapping[str, Any] | list[Any] | None, encoding: str
) -> tuple[bytes | None, str | None]:
    """The bytes to send and, for a JSON object or array, the content type."""
    if body is None:
        return None, None
    content_type = None
    if isinstance(body, str):
        if encoding == "base64":
            try:
                raw = base64.b64decode(body, validate=True)
            except ValueError:
                raise ValidationError(
                    "body is not valid base64 (bodyEncoding is base64)."
                ) from None
        else:
            raw = body.encode()
    else:
        raw = json.dumps(body, separators=(",", ":")).encode()
        content_type = "application/json"
    if len(raw) > MAX_REQUEST_BYTES:
        raise PayloadTooLargeError("A brokered request's body may be at most 1 MiB.")
    return raw, content_type


def proxy_target(plan: BrokerPlan, name: str, path: str, query: str) -> Target:
    """Where the pass-through proxy sends ``path``: under ``metadata.baseUrl``, else
    https on the first exact host of ``allowedHosts``."""
    if plan.base_url:
        base = parse_url(plan.base_url)
    else:
        exact = [h for h in plan.allowed_hosts if not h.startswith("*.")]
        if not exact:
            raise BadRequestError(
                f"{name!r} needs metadata.baseUrl for the proxy (its allowedHosts are all "
                "wildcards).",
                reason="no_base_url",
            )
        base = parse_url(f"https://{exact[0] if ':' not in exact[0] else f'[{exact[0]}]'}/")
    prefix = base.path.rstrip("/")
    return Target(base.scheme, base.host, base.port, prefix + path, query)


def check_caller_headers(
    headers: Mapping[str, str] | None, injected: frozenset[str]
) -> list[tuple[str, str]]:
    """The caller's headers for ``/fetch``: refused (422) when they would set the
    credential, a cookie or the Host; framing headers are dropped."""
    result: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        lower = name.lower()
        if (
            not _TOKEN.fullmatch(name)
            or not isinstance(value, str)
            or re.search(r"[\r\n\x00]", value)
        ):
            raise ValidationError(f"headers: {name[:64]!r} is not a valid header.")
        if lower in CALLER_FORBIDDEN or lower in injected:
            raise ValidationError(
                f"headers: {name} may not be set; the vault adds the credential itself."
            )
        if lower not in HOP_BY_HOP:
            result.append((lower, value))
    return result


def proxied_headers(
    raw: Iterable[tuple[bytes, bytes]], injected: frozenset[str]
) -> list[tuple[str, str]]:
    """An unmodified client's headers for the pass-through proxy: its own key
    (wherever it sent it: Authorization, or X-Api-Key as some SDKs do), cookies,
    Host, the injected header and framing headers are dropped (never forwarded)."""
    result = []
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in CALLER_FORBIDDEN or name in injected or name in HOP_BY_HOP:
            continue
        text = value.decode("latin-1")
        if KEY_PREFIX in text:  # a loid- key, in any header: the vault's, never the upstream's
            continue
        result.append((name, text))
    return result


class Scrubber:
    """Replaces every recognisable spelling of the secrets with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        needles: set[bytes] = set()
        for secret in secrets:
            if not secret:
                continue
            raw = secret.encode()
            b64 = base64.b64encode(raw)
            url64 = base64.urlsafe_b64encode(raw)
            quoted = quote(secret, safe="")
            forms = {raw, b64, b64.rstrip(b"="), url64, url64.rstrip(b"=")}
            forms |= {quoted.encode(), quote_plus(secret).encode(), _lower_hex(quoted).encode()}
            forms.add(json.dumps(secret)[1:-1].encode())
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1].encode())
            forms.add(json.dumps(secret)[1:-1].replace("/", "\\/").encode())
            needles |= {f for f in forms if f}
        self._needles = sorted(needles, key=len, reverse=True)
        self.longest = len(self._needles[0]) if self._needles else 0

    def __repr__(self) -> str:
        return f"Scrubber({len(self._needles)} forms)"

    def bytes(self, data: bytes) -> bytes:
        for needle in self._needles:
            if needle in data:
                data = data.replace(needle, REDACTED.encode())
        return data

    def text(self, value: str) -> str:
        return self.bytes(value.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def stream(self) -> StreamScrubber:
        return StreamScrubber(self)


def _lower_hex(quoted: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)


class StreamScrubber:
    """Scrubs a body that arrives in chunks: keeps the last ``longest - 1`` bytes
    back, so a secret split across two chunks is still found."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._keep = max(scrubber.longest - 1, 0)
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        buffer = self._scrubber.bytes(self._carry + chunk)
        if self._keep == 0:
            self._carry = b""
            return buffer
        cut = max(len(buffer) - self._keep, 0)
        self._carry = buffer[cut:]
        return buffer[:cut]

    def finish(self) -> bytes:
        rest, self._carry = self._scrubber.bytes(self._carry), b""
        return rest
