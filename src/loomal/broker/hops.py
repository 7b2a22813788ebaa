"""The decisions of each hop, without I/O: may this hop go where it says, and
where does an answer send the next one.

A hop is checked before any connection: the host against ``allowedHosts``
first (a host the credential may not reach is ``host_not_allowed``, whatever
its scheme), then the scheme (https, or http to a host the operator allowed),
then, once resolved, the address (:meth:`EgressPolicy.choose_address`).
Refusals of the first hop are the caller's (400); a redirect's are the
upstream's (502 ``redirect_not_allowed``), and the credential never follows it.

Redirects follow RFC 9110 as browsers and httpx do: 303 (and 301/302 after a
POST) become a GET without a body; 307/308 repeat the method and body.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loomal.broker.addresses import EgressPolicy
from loomal.broker.injection import BrokerPlan
from loomal.broker.urls import Target, host_allowed, parse_url
from loomal.errors import BadGatewayError, BadRequestError, ValidationError

__all__ = ["MAX_REDIRECTS", "Hop", "check_hop", "next_hop", "refused_redirect"]

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of an exchange (masked: its body may hold anything)."""

    number: int
    method: str
    target: Target
    headers: tuple[tuple[str, str], ...]
    """The caller's headers (the credential's are added when sent)."""
    body: bytes | None

    def __repr__(self) -> str:
        return f"Hop({self.number}, {self.method} {self.target.host})"


def check_hop(policy: EgressPolicy, plan: BrokerPlan, name: str, target: Target) -> None:
    """Refuse (400) a target the credential may not be sent to, before resolving it."""
    if not host_allowed(target.host, plan.allowed_hosts):
        raise BadRequestError(
            f"{target.host} is not in {name!r}'s metadata.allowedHosts.",
            reason="host_not_allowed",
        )
    if target.scheme != "https" and not policy.allows_http(target):
        raise BadRequestError(
            f"Brokered requests use https; http to {target.host} needs the operator's "
            f"--fetch-allow-private {target.host}.",
            reason="https_required",
        )


def refused_redirect(target: Target, error: BadRequestError) -> BadGatewayError:
    """A redirect's refusal: the upstream's fault, not the caller's."""
    return BadGatewayError(
        f"The upstream redirected to {target.display()}, which is refused: {error.message}",
        reason="redirect_not_allowed",
    )


def next_hop(hop: Hop, status: int, location: str | None) -> Hop | None:
    """The hop an answer redirects to, or None when it is the final answer."""
    if status not in _REDIRECTS or not location:
        return None
    if hop.number == MAX_REDIRECTS:
        raise BadGatewayError(
            f"The upstream redirected more than {MAX_REDIRECTS} times.",
            reason="too_many_redirects",
        )
    try:
        target = parse_url(location, base=hop.target)
    except ValidationError:
        raise BadGatewayError(
            "The upstream redirected to a URL that is not http(s).",
            reason="redirect_not_allowed",
        ) from None
    following = replace(hop, number=hop.number + 1, target=target)
    if status == 303 or (status in (301, 302) and hop.method == "POST"):
        return replace(
            following,
            method="HEAD" if hop.method == "HEAD" else "GET",
            body=None,
            headers=tuple((k, v) for k, v in hop.headers if k != "content-type"),
        )
    return following
