"""What of an upstream's answer headers comes back, and how.

Both ways: names and values are scrubbed as the bytes they arrived as (a
secret's UTF-8 in a header is found whatever the header's text encoding), a
name that held a secret becomes ``x-redacted``; framing headers, the
``Content-Encoding`` (the body comes back decoded) and the headers the
upstream's ``Connection`` names are dropped.

The pass-through proxy serves the answer on the vault's own origin, where the
console lives, so it also drops what would act on that origin (CORS grants,
cookies, CSP and other policies, HSTS, Clear-Site-Data, service-worker scope)
and adds what keeps a browser from running the body there: a sandboxing
Content-Security-Policy that also blocks every fetch, ``X-Frame-Options``, and
``Content-Disposition: attachment`` for a body a browser would render as a page
(HTML, SVG, XML). ``Link`` (pagination) and the rest pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from loomal.broker.outbound import FRAMING, connection_named
from loomal.broker.scrubbing import Scrubber

__all__ = ["PROXY_ADDED", "answer_headers", "proxy_answer_headers"]

_DROPPED = FRAMING | {"content-encoding"}
_OFF_ORIGIN_PREFIXES = ("access-control-", "content-security-policy", "cross-origin-",
                        "public-key-pins", "set-cookie")  # fmt: skip
_OFF_ORIGIN = frozenset(
    {
        "strict-transport-security",
        "clear-site-data",
        "service-worker-allowed",
        "origin-agent-cluster",
        "permissions-policy",
        "feature-policy",
        "x-frame-options",
        "x-xss-protection",
        "x-content-type-options",
        "x-permitted-cross-domain-policies",
        "x-dns-prefetch-control",
        "refresh",
        "alt-svc",
        "nel",
        "report-to",
        "reporting-endpoints",
        "expect-ct",
        "timing-allow-origin",
    }
)
PROXY_ADDED = (
    ("content-security-policy", "sandbox; default-src 'none'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
)
"""What every proxied answer carries (the server adds ``X-Content-Type-Options:
nosniff`` to every response)."""
_RENDERED = ("text/html", "application/xhtml", "image/svg", "text/xml", "application/xml",
             "text/xsl", "multipart/x-mixed-replace")  # fmt: skip


def answer_headers(raw: Sequence[tuple[bytes, bytes]], scrubber: Scrubber) -> list[tuple[str, str]]:
    """The answer's headers as ``/fetch`` returns them: lower-case names, scrubbed."""
    decoded = [(key.decode("latin-1").lower(), key, value) for key, value in raw]
    hop = connection_named((k, v.decode("latin-1")) for k, _, v in decoded if k == "connection")
    result = []
    for name, key, value in decoded:
        if name in _DROPPED or name in hop:
            continue
        clean = scrubber.header_name(key).decode("latin-1")
        result.append((clean, scrubber.bytes(value).decode("latin-1")))
    return result


def proxy_answer_headers(
    raw: Sequence[tuple[bytes, bytes]], scrubber: Scrubber
) -> list[tuple[str, str]]:
    """The answer's headers as the proxy sends them on the vault's origin."""
    kept = [
        (name, value)
        for name, value in answer_headers(raw, scrubber)
        if name not in _OFF_ORIGIN and not name.startswith(_OFF_ORIGIN_PREFIXES)
    ]
    content_type = next((v.lower() for k, v in kept if k == "content-type"), "")
    added = list(PROXY_ADDED)
    if content_type.lstrip().startswith(_RENDERED):
        kept = [(k, v) for k, v in kept if k != "content-disposition"]
        added.append(("content-disposition", "attachment"))
    return kept + added
