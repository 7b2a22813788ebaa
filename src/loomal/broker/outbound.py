"""What a brokered request carries out: the method, the caller's headers and
body, the proxy's target under ``baseUrl``, the query with the injected
parameters. Whatever could not go on the wire, or must not, is refused here
with a 4xx that names it (and so is audited) before anything is sent.

The vault's own keys never go out: a ``loid-`` key in a proxied header or query
parameter is dropped (an unmodified SDK sends its key where the vendor expects
one), and one anywhere else in a request (the URL's path, a ``/fetch`` header or
query, a body) is refused.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from loomal.broker.injection import TOKEN, BrokerPlan
from loomal.broker.paths import path_under
from loomal.broker.urls import Target, parse_url
from loomal.core.principals import KEY_PREFIX
from loomal.errors import BadRequestError, PayloadTooLargeError, ValidationError

__all__ = [
    "CALLER_FORBIDDEN",
    "FRAMING",
    "MAX_REQUEST_BYTES",
    "METHODS",
    "check_caller_headers",
    "check_method",
    "check_no_vault_key",
    "connection_named",
    "encode_request_body",
    "proxied_headers",
    "proxied_query",
    "proxy_target",
    "with_injected_query",
]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_REQUEST_BYTES = 1024 * 1024

CALLER_FORBIDDEN = frozenset({"authorization", "proxy-authorization", "cookie", "host"})
"""Headers a caller may never set on a brokered request (the vault sets what it needs)."""
FRAMING = frozenset(
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
"""Hop-by-hop and framing headers: the vault sets its own (a caller's are dropped).
``accept-encoding`` is the vault's: it asks only for what it can decode and scrub."""
_VALUE = re.compile(rb"^[\t\x20-\x7e]*$")
_VAULT_KEY = re.compile(rb"loid-[A-Za-z0-9_-]{20,}")


def check_method(method: str) -> str:
    """One of :data:`METHODS` (TRACE, which echoes the request, and CONNECT never)."""
    upper = method.upper() if isinstance(method, str) else ""
    if upper not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}.")
    return upper


def check_no_vault_key(part: str, data: bytes | str | None) -> None:
    """Refuse (400 ``vault_key_in_request``) a request part that holds a vault key."""
    if not data:
        return
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if KEY_PREFIX.encode() in raw and _VAULT_KEY.search(raw):
        raise BadRequestError(
            f"The request's {part} holds a loid- key; the vault never sends its own keys "
            "to an upstream.",
            reason="vault_key_in_request",
        )


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
    check_no_vault_key("body", raw)
    return raw, content_type


def check_caller_headers(
    headers: Mapping[str, str] | None, injected: frozenset[str]
) -> list[tuple[str, str]]:
    """The caller's headers for ``/fetch``: refused (422) when they would set the
    credential, a cookie or the Host, or cannot go on the wire (an HTTP header is
    ASCII); framing headers are dropped."""
    result: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        lower = name.lower()
        if not TOKEN.fullmatch(name) or not isinstance(value, str):
            raise ValidationError(f"headers: {name[:64]!r} is not a valid header.")
        if not value.isascii() or not _VALUE.fullmatch(value.encode()):
            raise ValidationError(
                f"headers: the value of {name} holds "
                + ("a line break or control character." if value.isascii() else
                   "non-ASCII characters, which an HTTP header cannot carry as text; "
                   "percent-encode them, or send them in the body.")
            )  # fmt: skip
        if lower in CALLER_FORBIDDEN or lower in injected:
            raise ValidationError(
                f"headers: {name} may not be set; the vault adds the credential itself."
            )
        check_no_vault_key(f"{name} header", value)
        if lower not in FRAMING:
            result.append((lower, value))
    return result


def connection_named(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The headers a ``Connection`` header names: hop-by-hop, never forwarded."""
    return frozenset(
        token.strip().lower()
        for name, value in headers
        if name == "connection"
        for token in value.split(",")
        if token.strip()
    )


def proxied_headers(
    raw: Iterable[tuple[bytes, bytes]], injected: frozenset[str]
) -> list[tuple[str, str]]:
    """An unmodified client's headers for the pass-through proxy. Dropped (never
    forwarded): its own key (wherever it sent it: Authorization, or X-Api-Key as
    some SDKs do), any header holding a ``loid-`` key, cookies, Host, the injected
    header, framing headers and those its ``Connection`` names. A value that is
    not ASCII text is refused (422): it could not be forwarded as it came."""
    decoded = [(key.decode("latin-1").lower(), value) for key, value in raw]
    hop = connection_named((k, v.decode("latin-1")) for k, v in decoded if k == "connection")
    result = []
    for name, value in decoded:
        if name in CALLER_FORBIDDEN or name in injected or name in FRAMING or name in hop:
            continue
        if KEY_PREFIX.encode() in value:  # a loid- key: the vault's, never the upstream's
            continue
        if not _VALUE.fullmatch(value):
            raise ValidationError(
                f"The {name[:64]} header holds bytes outside visible ASCII (non-ASCII "
                "text or control characters); the proxy forwards ASCII header values only."
            )
        result.append((name, value.decode("ascii")))
    return result


def proxied_query(query: str) -> str:
    """The proxied query without any parameter that holds a ``loid-`` key."""
    if KEY_PREFIX not in unquote(query):
        return query
    return "&".join(part for part in query.split("&") if KEY_PREFIX not in unquote_plus(part))


def proxy_target(plan: BrokerPlan, name: str, path: str, query: str) -> Target:
    """Where the pass-through proxy sends ``path``: under ``metadata.baseUrl``'s
    path (never above it: see :func:`~loomal.broker.paths.path_under`), else https
    on the first exact host of ``allowedHosts``."""
    check_no_vault_key("path", path)
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
    return Target(
        base.scheme, base.host, base.port, path_under(base.path, path), proxied_query(query)
    )


def with_injected_query(query: str, injected: Sequence[tuple[str, str]]) -> str:
    """The caller's query with the injected parameters set (a caller's same-named one dropped)."""
    if not injected:
        return query
    names = {name for name, _ in injected}
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.split("=", 1)[0]) not in names
    ]
    kept += [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in injected]
    return "&".join(kept)
