"""Where a brokered request may go: URL parsing, ``allowedHosts`` matching and
the address check that keeps the vault from being used against its own network.

Why it is strict: the vault holds secrets and runs next to things an agent must
not reach (the cloud metadata service, databases, admin ports on loopback). A
brokered request goes out from the server, so every address is checked
*after* resolution, the name is resolved once, and the connection is made to
the very address that was checked (see :meth:`EgressPolicy.pin`), so a DNS
answer that changes between check and connect (rebinding) gains nothing.

Refused unless the operator allows them (``--fetch-allow-private HOST``):
loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast, broadcast,
unspecified, documentation and other reserved ranges, cloud metadata
addresses, and any IPv6 form that carries one of those IPv4 addresses
(IPv4-mapped, IPv4-compatible, NAT64, 6to4). Numeric host spellings such as
``2130706433`` or ``0x7f.1`` are read as the address they denote, then checked.
Pure functions here take ``ipaddress`` objects, so they are tested without a
single packet sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loomal.errors import BadGatewayError, BadRequestError, ValidationError

__all__ = [
    "EgressPolicy",
    "IPAddress",
    "Target",
    "canonical_host",
    "check_allowance",
    "check_host_pattern",
    "forbidden_reason",
    "host_allowed",
    "parse_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

CONNECT_TIMEOUT = 5.0

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
    }
)

_FORBIDDEN_V4: tuple[tuple[_V4, str], ...] = tuple(
    (_V4(net), label)
    for net, label in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_FORBIDDEN_V6: tuple[tuple[_V6, str], ...] = tuple(
    (_V6(net), label)
    for net, label in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "reserved (local NAT64)"),
        ("100::/64", "reserved (discard)"),
        ("2001::/32", "reserved (Teredo)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private (ULA)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "reserved (site-local)"),
        ("ff00::/8", "multicast"),
    )
)
_COMPAT = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a brokered request may not connect to ``address`` (None: it may).

    An IPv6 address that embeds an IPv4 one (mapped ``::ffff:a.b.c.d``,
    compatible ``::a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``)
    is judged by the IPv4 address it reaches.
    """
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        for net4, label in _FORBIDDEN_V4:
            if address in net4:
                return label
        return None
    for net6, label in _FORBIDDEN_V6:
        if address in net6:
            return label
    embedded, form = _embedded_ipv4(address)
    if embedded is not None:
        inner = forbidden_reason(embedded)
        return None if inner is None else f"{inner}, as {form}"
    if address.is_private or address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped IPv6"
    if address in _COMPAT:
        return low32, "IPv4-compatible IPv6"
    if address in _NAT64:
        return low32, "NAT64 IPv6"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4 IPv6"
    return None, ""


# -- host names ------------------------------------------------------------------

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


def _literal(host: str) -> IPAddress | None:
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
        if _literal(suffix) is not None:
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
            if host.endswith(pattern[1:]) and _literal(host) is None:
                return True
        elif host == pattern:
            return True
    return False


# -- URLs -----------------------------------------------------------------------


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
        return _literal(self.host)

    @property
    def authority(self) -> str:
        """``host[:port]`` as the Host header writes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

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
    whitespace, backslashes and control characters, fragments are dropped.
    ``field``: how errors name the URL (``metadata.baseUrl`` when one is stored).
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
        path=parts.path or "/",
        query=parts.query,
    )


# -- the policy -------------------------------------------------------------------


def check_allowance(entry: str) -> str:
    """A ``--fetch-allow-private`` entry: a host name, an IP address or a CIDR network."""
    text = entry.strip()
    if "/" in text:
        try:
            return str(ipaddress.ip_network(text.strip("[]"), strict=False))
        except ValueError:
            raise ValidationError(f"--fetch-allow-private {entry!r}: not a network.") from None
    return canonical_host(text)


async def system_resolver(host: str, port: int) -> Sequence[IPAddress]:
    """The system resolver's addresses for ``host``, in its order, once each."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What the operator allows beyond the public internet, and how names resolve."""

    allow_private: tuple[str, ...] = ()
    """Canonical allowances (see :func:`check_allowance`)."""
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_allowances(
        cls, entries: Iterable[str], resolver: Resolver = system_resolver
    ) -> EgressPolicy:
        return cls(tuple(check_allowance(e) for e in entries), resolver)

    def _covers(self, host: str, address: IPAddress | None) -> bool:
        for entry in self.allow_private:
            if "/" in entry:
                if address is not None and address in ipaddress.ip_network(entry):
                    return True
            elif entry == host or (address is not None and entry == str(address)):
                return True
        return False

    def allows_http(self, target: Target) -> bool:
        """Plain http is allowed only to a host the operator named in an allowance."""
        return self._covers(target.host, target.literal)

    def refusal(self, target: Target, address: IPAddress) -> str | None:
        """Why ``address`` (of ``target``) may not be reached, or None.

        A cloud metadata address needs an allowance naming that exact address.
        """
        reason = forbidden_reason(address)
        if reason is None:
            return None
        if address in METADATA_ADDRESSES:
            return None if str(address) in self.allow_private else reason
        return None if self._covers(target.host, address) else reason

    async def pin(self, target: Target) -> IPAddress:
        """Resolve ``target`` once and return the first address it may reach: the
        one to connect to. Refuses with 400 ``forbidden_address`` when none may."""
        literal = target.literal
        if literal is not None:
            addresses: Sequence[IPAddress] = [literal]
        else:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    addresses = await self.resolver(target.host, target.port)
            except (OSError, TimeoutError):
                raise BadGatewayError(
                    f"Could not resolve {target.host}.", reason="dns_failed"
                ) from None
            if not addresses:
                raise BadGatewayError(f"Could not resolve {target.host}.", reason="dns_failed")
        reasons = []
        for address in addresses:
            why = self.refusal(target, address)
            if why is None:
                return address
            reasons.append(f"{address} ({why})")
        raise BadRequestError(
            f"{target.host} resolves only to addresses brokered requests may not reach: "
            f"{', '.join(reasons)}. An operator can allow a host with "
            "--fetch-allow-private HOST.",
            reason="forbidden_address",
        )
