"""One webhook POST, over the broker's transport port and through its egress
policy, like an OAuth token request: the name resolved once, the address checked
(no loopback, private or metadata address unless the operator allows it with
``--fetch-allow-private``), plain http only to an allowed host, no redirect
followed, the whole exchange bounded by one timeout.

The outcome is a short reason (``status_500``, ``timeout``, ``connect_failed``,
``forbidden_address``...) or None for a 2xx: never the receiver's text, never
the URL (a webhook URL may hold a token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from loomal.broker.addresses import EgressPolicy
from loomal.broker.transport import Transport, UpstreamRequest
from loomal.broker.urls import Target, parse_url
from loomal.errors import BadGatewayError, BadRequestError, LoomalError

__all__ = ["WebhookSender"]

MAX_ANSWER_BYTES = 16 * 1024
"""What is read of a receiver's answer before it is dropped (only the status counts)."""


class WebhookSender:
    def __init__(
        self, url: str, transport: Transport, policy: EgressPolicy, *, timeout: float = 10.0
    ) -> None:
        self._target: Target = parse_url(url, field="webhook URL")
        self._transport, self._policy, self.timeout = transport, policy, timeout

    @property
    def host(self) -> str:
        return self._target.host

    async def post(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """POST ``body``; None when the receiver answered 2xx, else why not."""
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._post(headers, body)
        except TimeoutError:
            return "timeout"
        except LoomalError as error:
            return error.reason or error.code
        return None if 200 <= status < 300 else f"status_{status}"

    async def _post(self, headers: Mapping[str, str], body: bytes) -> int:
        target = self._target
        literal = target.literal
        addresses = (
            [literal] if literal else await self._transport.resolve(target.host, target.port)
        )
        if not addresses:
            raise BadGatewayError("The webhook host did not resolve.", reason="dns_failed")
        address = self._policy.choose_address(target, addresses)
        if target.scheme == "http" and not self._policy.allows_http(target):
            raise BadRequestError("The webhook URL is plain http.", reason="insecure_url")
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
                    "user-agent": "loomal-vault-webhook",
                    "accept-encoding": "identity",
                }.items()
            ),
            body=body,
            connect_timeout=min(5.0, self.timeout),
        )
        async with self._transport.send(request) as answer:
            size = 0
            async for chunk in answer.raw_body():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    break
            return answer.status
