"""One POST the vault sends on its own behalf (a webhook, an OAuth token request),
through the same egress policy as a brokered request: plain http refused before
any name is looked up, the name resolved once, the address checked and pinned
(TLS still checked for the name), no redirect followed, at most a bounded answer
read. The caller bounds the whole exchange with its own timeout.

The refusals are the caller's to word: each speaks of its own URL (a webhook
URL, a token endpoint), and the webhook's never reaches a person but as a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loomal.broker.addresses import EgressPolicy
from loomal.broker.transport import Transport, UpstreamRequest
from loomal.broker.urls import IPAddress, Target
from loomal.errors import BadGatewayError, BadRequestError

__all__ = ["PostAnswer", "pinned_address", "pinned_post"]


@dataclass(frozen=True, slots=True)
class PostAnswer:
    status: int
    body: bytes | None
    """None when the answer was longer than allowed: the rest was not read."""


async def pinned_address(
    transport: Transport, policy: EgressPolicy, target: Target, unresolved: BadGatewayError
) -> IPAddress:
    """The one address a request to ``target`` goes to: its literal, or its name
    resolved once (``unresolved`` when nothing comes back), as the egress policy
    allows (a refusal for a loopback, private or metadata address otherwise).
    Sending to this address, never to the name again, is what keeps a second
    lookup from changing where the request goes."""
    literal = target.literal
    addresses = [literal] if literal else await transport.resolve(target.host, target.port)
    if not addresses:
        raise unresolved
    return policy.choose_address(target, addresses)


async def pinned_post(
    transport: Transport,
    policy: EgressPolicy,
    target: Target,
    headers: Mapping[str, str],
    body: bytes,
    *,
    connect_timeout: float,
    max_answer_bytes: int,
    plain_http: BadRequestError,
    unresolved: BadGatewayError,
) -> PostAnswer:
    """POST ``body`` to ``target``; ``plain_http`` is raised for an http URL the
    policy does not allow, ``unresolved`` for a name without addresses."""
    if target.scheme == "http" and not policy.allows_http(target):
        raise plain_http
    address = await pinned_address(transport, policy, target, unresolved)
    literal = target.literal
    request = UpstreamRequest(
        method="POST",
        url=target.url(address=address),
        address=address,
        server_name=None if literal else target.host,
        headers=tuple(
            (k.encode("ascii"), v.encode("ascii"))
            for k, v in {
                **headers,
                "host": target.authority,
                "accept-encoding": "identity",
            }.items()
        ),
        body=body,
        connect_timeout=connect_timeout,
    )
    async with transport.send(request) as answer:
        chunks, size = [], 0
        async for chunk in answer.raw_body():
            size += len(chunk)
            if size > max_answer_bytes:
                return PostAnswer(answer.status, None)
            chunks.append(chunk)
        return PostAnswer(answer.status, b"".join(chunks))
