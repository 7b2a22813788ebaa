"""Where a brokered request says it goes: URL parsing, the one canonical spelling
of a host, and ``allowedHosts`` matching.

Every host is compared and connected by its canonical form (see
:func:`canonical_host`), so ``API.Example.com.``, ``2130706433`` and
``[::FFFF:7f00:1]`` are judged as the host or address they denote, never as the
text that spelled them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from loomal.errors import ValidationError

__all__ = [
    "IPAddress",
    "Target",
    "canonical_host",
    "check_host_pattern",
    "host_allowed",
    "ip_literal",
    "parse_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def canonical_host(host: str) -> str:
    """The one spelling a host is compared and connected by: a lower-case name
    without a trailing dot, or an IP address in its standard form (numeric
    spellings such as ``2130706433``, ``0x7f.1`` or ``0177.0.0.1`` become the
    dotted address they denote, the way the system resolver would read them)."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise ValidationError("An IPv6 zone (%...) is not allowed in a host.")
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ValidationError(f"{host!r} is not a valid IPv6 address.") from None
    text = text.removesuffix(".")
    if _NUMERIC_HOST.fullmatch(text):
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            raise ValidationError(f"{host!r} is not a valid host.") from None
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationError(f"{host!r} is not a valid host name.") from None
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValidationError(f"{host!r} is not a valid host name.")
    if labels[-1].isdigit():
        raise ValidationError(f"{host!r} is not a valid host name.")
    return text


def ip_literal(host: str) -> IPAddress | None:
    """The address a canonical host denotes, when it is an IP literal."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_host_pattern(pattern: str) -> str:
    """An ``allowedHosts`` entry, canonical: an exact host, or ``*.suffix`` (any
    name ending in ``.suffix``, not ``suffix`` itself)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValidationError("metadata.allowedHosts entries must be non-empty strings.")
    text = pattern.strip()
    if text.startswith("*."):
        suffix = canonical_host(text[2:])
        if ip_literal(suffix) is not None:
            raise ValidationError(f"metadata.allowedHosts: {pattern!r}: * applies to names only.")
        return "*." + suffix
    if "*" in text or "/" in text or "@" in text:
        raise ValidationError(
            f"metadata.allowedHosts: {pattern!r} must be a host (api.example.com) or "
            "*.example.com, without scheme, path or port."
        )
    if text.count(":") == 1:  # host:port (an IPv6 literal has several colons)
        raise ValidationError(f"metadata.allowedHosts: {pattern!r}: give the host without a port.")
    return canonical_host(text)


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Whether canonical ``host`` matches one of the (canonical) ``allowedHosts``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and ip_literal(host) is None:
                return True
        elif host == pattern:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Target:
    """Where one hop of a brokered request goes."""

    scheme: str
    host: str
    """Canonical (see :func:`canonical_host`)."""
    port: int
    path: str
    """The path as given (percent-encoding kept), never empty."""
    query: str
    """The query string as given, without ``?``."""

    @property
    def literal(self) -> IPAddress | None:
        return ip_literal(self.host)

    @property
    def authority(self) -> str:
        """``host[:port]`` as the Host header writes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host:port``, the port always written: what a connection tried."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def url(self, *, address: IPAddress | None = None, query: str | None = None) -> str:
        """The URL, optionally with the host replaced by the pinned ``address``."""
        host = self.host if address is None else str(address)
        host = f"[{host}]" if ":" in host else host
        q = self.query if query is None else query
        return f"{self.scheme}://{host}:{self.port}{self.path}" + (f"?{q}" if q else "")

    def display(self) -> str:
        """Scheme, host and path: never the query (it may carry an injected key)."""
        return f"{self.scheme}://{self.authority}{self.path}"


_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def parse_url(url: str, *, base: Target | None = None, field: str = "url") -> Target:
    """Parse an absolute http(s) URL (or, with ``base``, a redirect's Location).

    Refused: other schemes, user:password@ (it confuses host checks),
    whitespace, backslashes and control characters; fragments are dropped;
    non-ASCII characters of the path and query are percent-encoded. ``field``:
    how errors name the URL (``metadata.baseUrl`` when one is stored).
    """
    if not isinstance(url, str) or not url or len(url) > 8192:
        raise ValidationError(f"{field} must be an absolute http:// or https:// URL.")
    if _BAD_URL_CHARS.search(url):
        raise ValidationError(
            f"{field} must not contain spaces, backslashes or control characters."
        )
    if base is not None and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
        if url.startswith("//"):
            url = f"{base.scheme}:{url}"
        elif url.startswith("/"):
            url = f"{base.scheme}://{base.authority}{url}"
        else:
            directory = base.path.rsplit("/", 1)[0]
            url = f"{base.scheme}://{base.authority}{directory}/{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError(f"{field} is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValidationError(f"{field} must be an absolute http:// or https:// URL.")
    if "@" in parts.netloc:
        raise ValidationError(
            f"{field} must not contain user:password@; the vault adds the credential."
        )
    if not parts.hostname:
        raise ValidationError(f"{field} must name a host.")
    bracketed = parts.netloc.rsplit("@", 1)[-1].startswith("[")
    host = canonical_host(f"[{parts.hostname}]" if bracketed else parts.hostname)
    return Target(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=_ascii(parts.path or "/"),
        query=_ascii(parts.query),
    )


def _ascii(text: str) -> str:
    """Non-ASCII characters percent-encoded as UTF-8 (a URL on the wire is ASCII)."""
    if text.isascii():
        return text
    return re.sub(r"[^\x00-\x7f]+", lambda found: quote(found.group(0), safe=""), text)
