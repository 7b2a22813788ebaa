"""One request to a provider's token endpoint, sent as the vault's own POSTs are
(:func:`loomal.broker.pinned_post.pinned_post`): no loopback, private or
metadata address unless the operator allows it with ``--fetch-allow-private``,
plain http only to an allowed host, no redirects followed, the whole exchange
bounded by one timeout.

What comes back is judged here and nothing of the provider's text leaves: a
refused grant is :class:`GrantRefused` with the provider's ``error`` code when it
is a plain OAuth code (never ``error_description``, never the body, which may
echo the refresh token), a 5xx, timeout or unreachable endpoint is
:class:`ProviderUnavailable`.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from loomal.broker.addresses import EgressPolicy
from loomal.broker.pinned_post import pinned_post
from loomal.broker.transport import Transport
from loomal.broker.urls import parse_url
from loomal.core.oauth_tokens import RefreshedTokens
from loomal.errors import BadGatewayError, BadRequestError
from loomal.oauth.presets import ClientConfig

__all__ = ["GrantRefused", "ProviderUnavailable", "TokenClient"]

MAX_ANSWER_BYTES = 64 * 1024
_OAUTH_CODE = re.compile(r"[a-z_]{1,64}")


class GrantRefused(Exception):
    """The provider refused the grant: ``code`` is its OAuth error code (``invalid_grant``...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ProviderUnavailable(Exception):
    """The provider did not answer usably (5xx, timeout, unreachable): ``why`` says which."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class TokenClient:
    def __init__(self, transport: Transport, policy: EgressPolicy, *, timeout: float = 10.0):
        self._transport, self._policy, self.timeout = transport, policy, timeout

    async def refresh(self, config: ClientConfig, refresh_token: str) -> RefreshedTokens:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if config.scopes:
            form["scope"] = " ".join(config.scopes)
        return await self._token(config, form)

    async def exchange_code(
        self, config: ClientConfig, code: str, verifier: str, redirect_uri: str
    ) -> RefreshedTokens:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        }
        return await self._token(config, form)

    async def _token(self, config: ClientConfig, form: dict[str, str]) -> RefreshedTokens:
        headers = {
            "accept": "application/json",
            "content-type": "application/x-www-form-urlencoded",
        }
        if config.resource:
            form["resource"] = config.resource
        if config.auth_method == "client_secret_basic":
            pair = (
                f"{quote(config.client_id, safe='')}:{quote(config.client_secret or '', safe='')}"
            )
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = config.client_id
            if config.auth_method == "client_secret_post":
                form["client_secret"] = config.client_secret or ""
        target = parse_url(config.token_url, field="metadata.oauth.tokenUrl")
        try:
            async with asyncio.timeout(self.timeout):
                answer = await pinned_post(
                    self._transport,
                    self._policy,
                    target,
                    headers,
                    urlencode(form).encode(),
                    connect_timeout=min(5.0, self.timeout),
                    max_answer_bytes=MAX_ANSWER_BYTES,
                    plain_http=BadRequestError(
                        f"{target.host}: a token endpoint must use https (plain http only to a "
                        "host allowed with --fetch-allow-private).",
                        reason="insecure_token_url",
                    ),
                    unresolved=BadGatewayError(
                        f"Could not resolve {target.host}.", reason="dns_failed"
                    ),
                )
        except TimeoutError:
            raise ProviderUnavailable("timeout") from None
        except BadGatewayError as error:
            raise ProviderUnavailable(error.reason or "unreachable") from None
        if answer.body is None:
            raise ProviderUnavailable("answer_too_large")
        return _judged(answer.status, answer.body)


def _judged(status: int, body: bytes) -> RefreshedTokens:
    if status >= 500 or status == 429:
        raise ProviderUnavailable(f"status_{status}")
    try:
        answer: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise ProviderUnavailable(f"status_{status}_not_json")
    if status != 200 or "error" in answer:  # GitHub answers errors with 200
        code = answer.get("error")
        raise GrantRefused(code if isinstance(code, str) and _OAUTH_CODE.fullmatch(code) else "")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProviderUnavailable("no_access_token")
    refresh = answer.get("refresh_token")
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    return RefreshedTokens(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=float(expires_in) if isinstance(expires_in, int | float) else None,
    )
