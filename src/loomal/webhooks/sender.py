"""One webhook POST, sent as the vault's own POSTs are
(:func:`loomal.broker.pinned_post.pinned_post`): no loopback, private or
metadata address unless the operator allows it with ``--fetch-allow-private``,
plain http only to an allowed host, no redirect followed, the whole exchange
bounded by one timeout. Only the status of the answer counts.

The outcome is a short reason (``status_500``, ``timeout``, ``connect_failed``,
``forbidden_address``...) or None for a 2xx: never the receiver's text, never
the URL (a webhook URL may hold a token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from loomal.broker.addresses import EgressPolicy
from loomal.broker.pinned_post import pinned_post
from loomal.broker.transport import Transport
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
                answer = await pinned_post(
                    self._transport,
                    self._policy,
                    self._target,
                    {**headers, "user-agent": "loomal-vault-webhook"},
                    body,
                    connect_timeout=min(5.0, self.timeout),
                    max_answer_bytes=MAX_ANSWER_BYTES,
                    plain_http=BadRequestError(
                        "The webhook URL is plain http.", reason="insecure_url"
                    ),
                    unresolved=BadGatewayError(
                        "The webhook host did not resolve.", reason="dns_failed"
                    ),
                )
        except TimeoutError:
            return "timeout"
        except LoomalError as error:
            return error.reason or error.code
        return None if 200 <= answer.status < 300 else f"status_{answer.status}"
