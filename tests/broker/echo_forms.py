"""The ways an echoing upstream may write back a secret it received: each a
standard library's or a common framework's encoding, applied once. The
scrubbing tests (pure, and end to end through /fetch and the proxy) check that
none of them brings the secret back."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

SECRET = "sk&<>+'!*() \"\\/=é€-Zq9x"
"""Every character that some encoder escapes and others leave bare, a non-ASCII
one of two and three UTF-8 bytes, and enough letters to be unmistakable."""


def _go_json(secret: str) -> str:
    """Go's encoding/json: HTML-safe (``\\u0026``, ``\\u003c``, ``\\u003e``), UTF-8 kept."""
    text = json.dumps(secret, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _dotnet_json(secret: str) -> str:
    """System.Text.Json's default encoder: upper-hex escapes of HTML-sensitive
    characters and of everything non-ASCII."""
    out = []
    for char in secret:
        if char in "&<>+'\"`" or not char.isascii():
            out.append(f"\\u{ord(char):04X}")
        elif char == "\\":
            out.append("\\\\")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _encode_uri_component(secret: str) -> str:
    """JavaScript's encodeURIComponent: leaves ``A-Z a-z 0-9 - _ . ! ~ * ' ( )`` bare."""
    return quote(secret, safe="-_.!~*'()")


def _encode_uri(secret: str) -> str:
    """JavaScript's encodeURI: also leaves ``; , / ? : @ & = + $ #`` bare."""
    return quote(secret, safe="-_.!~*'();,/?:@&=+$#")


def _mixed_case_percent(secret: str) -> str:
    flip = iter(range(10**6))
    return re.sub(
        r"%([0-9A-F])([0-9A-F])",
        lambda m: "%" + m.group(1) + (m.group(2).lower() if next(flip) % 2 else m.group(2)),
        quote(secret, safe=""),
    )


def _php_json(secret: str) -> str:
    """PHP's json_encode: escapes ``/`` and every non-ASCII character."""
    return json.dumps(secret).replace("/", "\\/")


def _rails_json(secret: str) -> str:
    """Rails' ActiveSupport JSON: escapes ``& < >`` as ``\\u0026`` and friends."""
    return _go_json(secret).encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00")


def _b64_inside(secret: str) -> str:
    """The secret inside a longer text, base64'd (at a byte alignment of its own)."""
    return base64.b64encode(f"x-{secret}-y".encode()).decode()


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "json": json.dumps,
    "json_utf8": lambda s: json.dumps(s, ensure_ascii=False),
    "json_in_json": lambda s: json.dumps(json.dumps(s)),
    "go_json": _go_json,
    "rails_json": _rails_json,
    "dotnet_json": _dotnet_json,
    "php_json": _php_json,
    "percent_upper": lambda s: quote(s, safe=""),
    "percent_lower": lambda s: re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe="")
    ),
    "percent_mixed_case": _mixed_case_percent,
    "quote_plus": quote_plus,
    "encode_uri_component": _encode_uri_component,
    "encode_uri": _encode_uri,
    "html_escape": html.escape,
    "html_decimal": lambda s: "".join(f"&#{ord(c)};" if not c.isalnum() else c for c in s),
    "html_hex": lambda s: "".join(f"&#x{ord(c):x};" if not c.isalnum() else c for c in s),
    "xml_hex_upper": lambda s: "".join(f"&#X{ord(c):X};" if not c.isalnum() else c for c in s),
    "python_bytes_repr": lambda s: repr(s.encode())[2:-1],
    "js_unicode_escape": lambda s: "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in s),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64_unpadded": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64url_unpadded": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64_inside_longer_text": _b64_inside,
    "hex": lambda s: s.encode().hex(),
    "hex_upper": lambda s: s.encode().hex().upper(),
    "latin1_misread": lambda s: s.encode().decode("latin-1"),
    "quoted_printable": lambda s: "".join(
        c if c.isalnum() else "".join(f"={b:02X}" for b in c.encode()) for c in s
    ),
}


def decodes_to_secret(form: str, encoded: str, secret: str = SECRET) -> bool:
    """Whether what came back still holds the secret in ``form``'s encoding."""
    return FORMS[form](secret) in encoded
