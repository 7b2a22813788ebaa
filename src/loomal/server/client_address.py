"""The client's address, as every consumer (authentication's throttle, the audit
log, /mcp) must see it.

Directly connected, it is the peer address. Behind reverse proxies the peer is
the proxy, so ``X-Forwarded-For`` / ``Forwarded`` are read, but only when the
peer is inside a configured trusted network (``--trusted-proxy``): anyone else
could write those headers to pick any address, and so escape the throttle or
blame another client. The client is the right-most address of the chain that
is not a trusted proxy (proxies append; what lies left of the first untrusted
hop was written by the client and is not believed).

:class:`ClientAddresses` rewrites ``scope["client"]`` once, at the edge, so
every reader of the scope (Litestar's ``request.client``, the hot read path,
the MCP mount) sees the same address; :func:`client_address` is the one way to
read it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["ClientAddresses", "client_address"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_MAX_HOPS = 32
"""Longest forwarding chain read (a longer header is truncated from the left)."""
_MAX_VERDICTS = 10_000
_LONGEST_HOP = 64
"""``[`` + the longest IPv6 text (45) + ``]:65535``, rounded up."""


def client_address(scope: Any) -> str:
    """The client's address of an ASGI scope ("" when unknown), after the edge has
    applied the trusted proxies."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class ClientAddresses:
    """Resolves the client address of a request from its peer and, for trusted
    proxies only, its forwarding headers."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in trusted
        )
        self._verdicts: dict[str, tuple[str | None, bool]] = {}
        """hop as written -> (normalised address or None, trusted?): parsing an
        address costs microseconds, and the same few hops recur on every request."""

    def __bool__(self) -> bool:
        return bool(self._networks)

    def apply(self, scope: Any) -> None:
        """Replace ``scope["client"]`` by the resolved client (port 0 when it came
        from a header)."""
        peer = scope.get("client")
        if not peer:
            return
        resolved = self.resolve(str(peer[0]), scope.get("headers") or ())
        if resolved != peer[0]:
            scope["client"] = (resolved, 0)

    def resolve(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The right-most address of ``<header chain>, peer`` outside the trusted
        networks; if every hop is trusted, the left-most. A hop that is not an
        address (``unknown``, an obfuscated name, garbage) ends the walk: the
        trusted hop to its right is taken as the client."""
        current, trusted = self._verdict(peer)
        if current is None or not trusted:
            return peer
        for hop in reversed(_forwarded_chain(headers)):
            address, trusted = self._verdict(hop)
            if address is None:
                return current
            current = address
            if not trusted:
                break
        return current

    def _verdict(self, hop: str) -> tuple[str | None, bool]:
        if len(hop) > _LONGEST_HOP:  # no address is this long; never cached
            return None, False
        verdict = self._verdicts.get(hop)
        if verdict is None:
            address = _parse(hop)
            verdict = (None, False) if address is None else (str(address), self._contains(address))
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[hop] = verdict
        return verdict

    def _contains(self, address: _Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)


def _forwarded_chain(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The hops of ``Forwarded`` (RFC 7239) if present, else of ``X-Forwarded-For``,
    left to right; several header lines are one list, in order."""
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            for element in value.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, hop = pair.strip().partition("=")
                    if key.lower() == "for":
                        forwarded.append(hop.strip().strip('"'))
        elif name == b"x-forwarded-for":
            x_forwarded += (h.strip() for h in value.decode("latin-1").split(","))
    chain = forwarded or x_forwarded
    return chain[-_MAX_HOPS:]


def _parse(hop: str) -> _Address | None:
    """An address from a hop as proxies write it: ``1.2.3.4``, ``1.2.3.4:80``,
    ``2001:db8::1``, ``[2001:db8::1]:80``."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:  # IPv4 with a port
        hop = hop.partition(":")[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None
