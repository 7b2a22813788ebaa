"""Which addresses a brokered request may reach: the check that keeps the vault
from being used against its own network, and the operator's allowances.

Why it is strict: the vault holds secrets and runs next to things an agent must
not reach (the cloud metadata service, databases, admin ports on loopback). A
brokered request goes out from the server, so every address is checked
*after* resolution, the name is resolved once, and the connection is made to
the very address that was checked (:meth:`EgressPolicy.choose_address` picks
it; the transport connects to it), so a DNS answer that changes between check
and connect (rebinding) gains nothing.

Refused unless the operator allows them (``--fetch-allow-private HOST``):
loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast, broadcast,
unspecified, documentation and other reserved ranges, cloud metadata
addresses, and any IPv6 form that carries one of those IPv4 addresses
(IPv4-mapped, IPv4-compatible, NAT64, 6to4).

One meaning in every spelling: an IPv6 address that carries an IPv4 address
is judged, refused *and allowed* as that IPv4 address. So an IPv6 allowance
(``::/0``) never opens ``[::ffff:127.0.0.1]``, an allowance spelled
``::ffff:10.0.0.1`` means ``10.0.0.1``, and an IPv6 network made of IPv4
spellings (``::ffff:0:0/96``) is refused as an allowance: name the IPv4
network. A cloud metadata address opens only with an allowance naming that
exact address (in any spelling), never through a network or a host name.

Pure functions over ``ipaddress`` objects: tested without a packet sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loomal.broker.urls import IPAddress, Target, canonical_host, ip_literal
from loomal.errors import BadRequestError, ValidationError

__all__ = [
    "METADATA_ADDRESSES",
    "EgressPolicy",
    "check_allowance",
    "effective_address",
    "forbidden_reason",
]

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


def effective_address(address: IPAddress) -> IPAddress:
    """The address ``address`` reaches: the IPv4 address an IPv6 spelling carries
    (mapped, compatible, NAT64, 6to4), else itself. Loopback ``::1`` and ``::`` are
    IPv6 addresses of their own, not IPv4-compatible spellings."""
    if isinstance(address, ipaddress.IPv4Address) or int(address) <= 1:
        return address
    embedded, _ = _embedded_ipv4(address)
    return address if embedded is None else embedded


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


_IPV4_SPELLINGS: tuple[_V6, ...] = (
    _V6("::ffff:0:0/96"),
    _V6("::/96"),
    _NAT64,
    _V6("2002::/16"),
)
"""IPv6 ranges whose addresses are spellings of IPv4 ones."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_allowance(entry: str) -> str:
    """A ``--fetch-allow-private`` entry, canonical: a host name, an IP address (an
    IPv6 spelling of an IPv4 address becomes that IPv4 address) or a CIDR network
    (one made of IPv4 spellings is refused: it would mean IPv4 addresses)."""
    text = entry.strip()
    if "/" in text:
        try:
            network = ipaddress.ip_network(text.strip("[]"), strict=False)
        except ValueError:
            raise ValidationError(f"--fetch-allow-private {entry!r}: not a network.") from None
        spells_ipv4 = isinstance(network, ipaddress.IPv6Network) and any(
            network.subnet_of(spelling) for spelling in _IPV4_SPELLINGS
        )
        if spells_ipv4 and network.prefixlen < 127:
            raise ValidationError(
                f"--fetch-allow-private {entry!r}: an IPv6 network of IPv4 addresses "
                "(mapped, compatible, NAT64 or 6to4); allow the IPv4 network itself, "
                "e.g. 10.0.0.0/8."
            )
        return str(network)
    host = canonical_host(text)
    literal = ip_literal(host)
    return host if literal is None else str(effective_address(literal))


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What the operator allows beyond the public internet."""

    allow_private: tuple[str, ...] = ()
    """Canonical allowances (see :func:`check_allowance`)."""

    @classmethod
    def from_allowances(cls, entries: Iterable[str]) -> EgressPolicy:
        return cls(tuple(check_allowance(e) for e in entries))

    @property
    def _networks(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(e) for e in self.allow_private if "/" in e]

    def _names_exactly(self, address: IPAddress) -> bool:
        return str(address) in self.allow_private

    def _covers(self, host: str, address: IPAddress | None) -> bool:
        """An allowance names ``host``, or the address it reaches, or a network of it."""
        if host in self.allow_private:
            return True
        if address is None:
            return False
        reached = effective_address(address)
        return self._names_exactly(reached) or any(
            reached.version == net.version and reached in net for net in self._networks
        )

    def allows_http(self, target: Target) -> bool:
        """Plain http is allowed only to a host the operator named in an allowance."""
        return self._covers(target.host, target.literal)

    def refusal(self, target: Target, address: IPAddress) -> str | None:
        """Why ``address`` (of ``target``) may not be reached, or None."""
        reason = forbidden_reason(address)
        if reason is None:
            return None
        reached = effective_address(address)
        if reached in METADATA_ADDRESSES:
            return None if self._names_exactly(reached) else reason
        return None if self._covers(target.host, address) else reason

    def choose_address(self, target: Target, addresses: Sequence[IPAddress]) -> IPAddress:
        """The first of ``target``'s resolved ``addresses`` it may reach: the one to
        connect to. Refuses with 400 ``forbidden_address`` when none may."""
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
