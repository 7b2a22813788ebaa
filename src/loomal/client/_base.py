"""Everything the SDK does that is not I/O: configuration, request building,
response parsing, error mapping and the retry policy.

``Loomal`` and ``AsyncLoomal`` only send the :class:`Call` objects built here,
so no rule is written twice for sync and async.
"""

from __future__ import annotations

import base64
import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from loomal import errors
from loomal._version import __version__
from loomal.core.access_request_models import (
    AccessRequest,
    AccessRequestCreated,
    AccessRequestList,
)
from loomal.core.approval_models import Approval, ApprovalList, ApprovalPending
from loomal.core.models import (
    ConnectRequest,
    ConnectStarted,
    Credential,
    CredentialList,
    FetchResponse,
    IdentityResponse,
    OAuthState,
    StoreResponse,
    TotpBackupResponse,
    TotpResponse,
)
from loomal.core.version_models import DeletedList, VersionList
from loomal.errors import (
    ApprovalPendingError,
    LoomalError,
    MissingApiKeyError,
    RateLimitError,
    error_from_status,
)

__all__ = ["DEFAULT_BASE_URL", "BaseClient", "Call", "FetchBody", "calls", "env_base_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:8470"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NEVER_RETRIED_CODES = frozenset({"integrity_error"})  # retrying cannot mend a tampered row
_MAX_BACKOFF = 8.0
RETRY_AFTER_MAX = 8.0
"""The longest ``Retry-After`` (seconds) the SDK waits out itself; a longer one is the
caller's decision, so the error is raised at once. The TypeScript SDK has the same
cap (``RETRY_AFTER_MAX_MS`` in sdk/typescript/src/http.ts)."""
_DELAY_SECONDS = re.compile(r"[0-9]+")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API call: what to send and what the answer decodes to."""

    method: str
    path: str
    result: type[T] | None
    json: Any = None
    params: Mapping[str, Any] | None = None
    idempotent: bool = True
    headers: Mapping[str, str | bytes] | None = None

    def __repr__(self) -> str:  # the body may hold secrets
        return f"Call({self.method} {self.path})"


FetchBody = str | bytes | Mapping[str, Any] | list[Any] | None
"""A brokered request's body: text, bytes (sent as base64), or JSON (a dict or list)."""


def _path(name: str, suffix: str = "") -> str:
    return f"/v0/vault/{quote(name, safe='')}{suffix}"


def _last4(card_number: str) -> str:
    return card_number.replace(" ", "").replace("-", "")[-4:]


class calls:
    """The endpoints, as data. Each docstring names its verb and path. The
    ``store_*`` helpers build what the official SDK's helpers build."""

    @staticmethod
    def store(
        name: str,
        type: str,  # noqa: A002 - the API's field name, as the seed writes it
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
        *,
        if_match: int | str | None = None,
        if_none_match: Literal["*"] | None = None,
    ) -> Call[StoreResponse]:
        """PUT /v0/vault/{name}; ``if_match`` (a version, ``"*"`` or an ETag as
        received) and ``if_none_match="*"`` (create only) go as headers. A store with
        either is not retried: had the first attempt landed unseen, the retry would
        be refused 412 although the write was made."""
        # data goes as given: the server checks it (and its errors never repeat a value).
        body: dict[str, Any] = {"type": type, "data": data}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if expires_at is not None:
            body["expiresAt"] = expires_at
        headers: dict[str, str] = {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"' if isinstance(if_match, int) else if_match
        if if_none_match is not None:
            headers["If-None-Match"] = if_none_match
        return Call(
            "PUT",
            _path(name),
            StoreResponse,
            json=body,
            idempotent=not headers,
            headers=headers or None,
        )

    @staticmethod
    def store_api_key(
        name: str,
        secret_or_pair: str | Mapping[str, str],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> Call[StoreResponse]:
        """PUT /v0/vault/{name} as API_KEY: a key string, or ``{"clientId", "secret"}``
        (whose clientId, not secret, is also put in metadata for display)."""
        meta: dict[str, Any] = dict(metadata or {})
        if isinstance(secret_or_pair, str):
            data: dict[str, Any] = {"key": secret_or_pair}
        else:
            data = {"clientId": secret_or_pair["clientId"], "secret": secret_or_pair["secret"]}
            meta["clientId"] = secret_or_pair["clientId"]
        return calls.store(name, "API_KEY", data, meta, expires_at)

    @staticmethod
    def store_card(
        name: str,
        card: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> Call[StoreResponse]:
        """PUT /v0/vault/{name} as CARD; metadata gets ``last4`` of the number."""
        number = card.get("number")
        meta: dict[str, Any] = {"last4": _last4(number)} if isinstance(number, str) else {}
        meta.update(metadata or {})
        return calls.store(name, "CARD", dict(card), meta, expires_at)

    @staticmethod
    def store_shipping_address(
        name: str,
        address: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
    ) -> Call[StoreResponse]:
        """PUT /v0/vault/{name} as SHIPPING_ADDRESS (every field encrypted)."""
        return calls.store(name, "SHIPPING_ADDRESS", dict(address), metadata, expires_at)

    @staticmethod
    def get(
        name: str,
        version: int | None = None,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> Call[Credential]:
        """GET /v0/vault/{name} (``?version=N``: a kept version)"""
        params = None if version is None else {"version": version}
        headers = _reveal_headers(approval_id, reason)
        return Call("GET", _path(name), Credential, params=params, headers=headers)

    @staticmethod
    def list(limit: int | None = None, cursor: str | None = None) -> Call[CredentialList]:
        """GET /v0/vault (every credential; with ``limit``, one page)"""
        params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
        return Call("GET", "/v0/vault", CredentialList, params=params)

    @staticmethod
    def delete(name: str, destroy: bool = False) -> Call[None]:
        """DELETE /v0/vault/{name} (``?destroy=true``: every version, now)"""
        return Call("DELETE", _path(name), None, params={"destroy": "true"} if destroy else None)

    @staticmethod
    def versions(name: str) -> Call[VersionList]:
        """GET /v0/vault/{name}/versions"""
        return Call("GET", _path(name, "/versions"), VersionList)

    @staticmethod
    def restore(name: str, version: int) -> Call[StoreResponse]:
        """POST /v0/vault/{name}/versions/{version}/restore (not retried: a retry
        would make one more version)"""
        path = _path(name, f"/versions/{int(version)}/restore")
        return Call("POST", path, StoreResponse, idempotent=False)

    @staticmethod
    def undelete(name: str, as_name: str | None = None) -> Call[StoreResponse]:
        """POST /v0/vault/{name}/undelete (``?as=OTHER``: under another name)"""
        params = None if as_name is None else {"as": as_name}
        return Call("POST", _path(name, "/undelete"), StoreResponse, params=params)

    @staticmethod
    def deleted() -> Call[DeletedList]:
        """GET /v0/vault?deleted=true"""
        return Call("GET", "/v0/vault", DeletedList, params={"deleted": "true"})

    @staticmethod
    def totp(
        name: str, approval_id: str | None = None, reason: str | None = None
    ) -> Call[TotpResponse]:
        """GET /v0/vault/{name}/totp"""
        headers = _reveal_headers(approval_id, reason)
        return Call("GET", _path(name, "/totp"), TotpResponse, headers=headers)

    @staticmethod
    def oauth_refresh(name: str) -> Call[OAuthState]:
        """POST /v0/vault/{name}/oauth/refresh"""
        return Call("POST", _path(name, "/oauth/refresh"), OAuthState)

    @staticmethod
    def oauth_status(name: str) -> Call[OAuthState]:
        """GET /v0/vault/{name}/oauth"""
        return Call("GET", _path(name, "/oauth"), OAuthState)

    @staticmethod
    def oauth_connect(name: str, settings: ConnectRequest) -> Call[ConnectStarted]:
        """POST /v0/vault/{name}/oauth/connect (never retried: each call mints a state)."""
        body = msgspec.to_builtins(settings)
        return Call(
            "POST", _path(name, "/oauth/connect"), ConnectStarted, json=body, idempotent=False
        )

    @staticmethod
    def totp_use_backup(name: str) -> Call[TotpBackupResponse]:
        """POST /v0/vault/{name}/totp/backup (never retried: a retry could take a second code)."""
        return Call("POST", _path(name, "/totp/backup"), TotpBackupResponse, idempotent=False)

    @staticmethod
    def fetch(
        name: str,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: FetchBody = None,
        approval_id: str | None = None,
        reason: str | None = None,
    ) -> Call[FetchResponse]:
        """POST /v0/vault/{name}/fetch: the server makes the request with the credential
        injected. ``bytes`` go as base64; a dict or list as JSON. Never retried: the
        upstream request may have effects. A 202 (a rule holds it for a person) raises
        :class:`~loomal.ApprovalPendingError`; repeat with its ``approval_id``."""
        request: dict[str, Any] = {"method": method, "url": url}
        if approval_id is not None:
            request["approvalId"] = approval_id
        if reason is not None:
            request["reason"] = reason
        if headers:
            request["headers"] = dict(headers)
        if isinstance(body, bytes):
            request["body"] = base64.b64encode(body).decode("ascii")
            request["bodyEncoding"] = "base64"
        elif body is not None:
            request["body"] = body if isinstance(body, str | list) else dict(body)
        return Call("POST", _path(name, "/fetch"), FetchResponse, json=request, idempotent=False)

    @staticmethod
    def list_approvals(status: str | None = None, limit: int | None = None) -> Call[ApprovalList]:
        """GET /v0/approvals (pending first)"""
        params = {k: v for k, v in (("status", status), ("limit", limit)) if v is not None}
        return Call("GET", "/v0/approvals", ApprovalList, params=params)

    @staticmethod
    def get_approval(approval_id: str) -> Call[Approval]:
        """GET /v0/approvals/{id}"""
        return Call("GET", f"/v0/approvals/{quote(approval_id, safe='')}", Approval)

    @staticmethod
    def approve(approval_id: str, window_seconds: int | None = None) -> Call[Approval]:
        """POST /v0/approvals/{id}/approve (optional body {"windowSeconds": N})"""
        body = None if window_seconds is None else {"windowSeconds": window_seconds}
        path = f"/v0/approvals/{quote(approval_id, safe='')}/approve"
        return Call("POST", path, Approval, json=body, idempotent=False)

    @staticmethod
    def deny(approval_id: str) -> Call[Approval]:
        """POST /v0/approvals/{id}/deny"""
        path = f"/v0/approvals/{quote(approval_id, safe='')}/deny"
        return Call("POST", path, Approval, idempotent=False)

    @staticmethod
    def create_request(
        name: str, ctype: str, reason: str, allowed_hosts: Sequence[str] | None = None
    ) -> Call[AccessRequestCreated]:
        """POST /v0/requests (never retried: a retry would ask twice)"""
        body: dict[str, Any] = {"name": name, "type": ctype, "reason": reason}
        if allowed_hosts is not None:
            body["allowedHosts"] = list(allowed_hosts)
        return Call("POST", "/v0/requests", AccessRequestCreated, json=body, idempotent=False)

    @staticmethod
    def list_requests(
        status: str | None = None, limit: int | None = None
    ) -> Call[AccessRequestList]:
        """GET /v0/requests (pending first)"""
        params = {k: v for k, v in (("status", status), ("limit", limit)) if v is not None}
        return Call("GET", "/v0/requests", AccessRequestList, params=params)

    @staticmethod
    def get_request(request_id: str) -> Call[AccessRequest]:
        """GET /v0/requests/{id}"""
        return Call("GET", f"/v0/requests/{quote(request_id, safe='')}", AccessRequest)

    @staticmethod
    def fulfill_request(
        request_id: str,
        data: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        expires_at: str | None = None,
        replace_version: int | None = None,
    ) -> Call[AccessRequest]:
        """POST /v0/requests/{id}/fulfill; create-only unless ``replace_version``
        (If-Match) names the version of a held name it replaces"""
        body: dict[str, Any] = {"data": dict(data)}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if expires_at is not None:
            body["expiresAt"] = expires_at
        headers = None if replace_version is None else {"If-Match": f'"{replace_version}"'}
        path = f"/v0/requests/{quote(request_id, safe='')}/fulfill"
        return Call("POST", path, AccessRequest, json=body, idempotent=False, headers=headers)

    @staticmethod
    def decline_request(request_id: str) -> Call[AccessRequest]:
        """POST /v0/requests/{id}/decline"""
        path = f"/v0/requests/{quote(request_id, safe='')}/decline"
        return Call("POST", path, AccessRequest, idempotent=False)

    @staticmethod
    def whoami() -> Call[IdentityResponse]:
        """GET /v0/whoami"""
        return Call("GET", "/v0/whoami", IdentityResponse)


def env_base_url() -> str | None:
    """``LOOMAL_API_URL`` (the official SDK's name), else its alias ``LOOMAL_BASE_URL``."""
    return os.environ.get("LOOMAL_API_URL") or os.environ.get("LOOMAL_BASE_URL") or None


class BaseClient:
    """Configuration and the parts of a call that do no I/O."""

    key_env: ClassVar[str] = "LOOMAL_API_KEY"
    """Where the key is read from when none is passed."""
    key_name: ClassVar[str] = "API key"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
    ) -> None:
        api_key = api_key or os.environ.get(self.key_env)
        if not api_key:
            raise MissingApiKeyError(
                f"No {self.key_name}: pass api_key=... or set {self.key_env}.",
                env_var=self.key_env,
            )
        self._api_key = api_key
        self.base_url = (base_url or env_base_url() or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key='{self._api_key[:9]}***')"
        )

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": f"loomal-python/{__version__}",
        }

    def build_request(
        self, client: httpx.Client | httpx.AsyncClient, call: Call[Any]
    ) -> httpx.Request:
        return client.build_request(
            call.method,
            self.base_url + call.path,
            json=call.json,
            params=call.params,
            headers=self.headers if call.headers is None else _raw_headers(self.headers, call),
            timeout=self.timeout,
        )

    def parse(self, call: Call[T], response: httpx.Response) -> T:
        """Decode a success into the call's model, or raise the error the server named."""
        if response.status_code == 202 and call.result in _HELD_RESULTS:
            raise _approval_pending(response)
        if response.is_success:
            if call.result is None:
                return None  # type: ignore[return-value]
            try:
                return msgspec.json.decode(response.content, type=call.result)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise LoomalError(
                    f"Unexpected response from {self.base_url} (HTTP {response.status_code}).",
                    code="invalid_response",
                    status=response.status_code,
                ) from None
        raise self.error_for(response)

    def error_for(self, response: httpx.Response) -> LoomalError:
        """The error a response names (``{"error": code, "message", "reason"?}``), or one
        that says what came back when the body is not of that shape."""
        code, message, reason = "unknown_error", None, None
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            code = body["error"]
            message = body.get("message") if isinstance(body.get("message"), str) else None
            reason = body.get("reason") if isinstance(body.get("reason"), str) else None
        error = error_from_status(
            response.status_code,
            code,
            message or f"Request failed with status {response.status_code}.",
            reason,
        )
        if isinstance(error, RateLimitError):
            retry_after = retry_after_seconds(response)
            if retry_after is not None and math.isfinite(retry_after):
                error.retry_after = math.ceil(retry_after)
        return error

    def retry_delay(
        self, call: Call[Any], attempt: int, response: httpx.Response | None
    ) -> float | None:
        """Seconds to wait before retrying, or None to stop.

        Only idempotent calls are retried, on a transport error (``response`` is
        None), 429 or a 5xx other than an integrity error (retrying cannot help
        a tampered row). The wait is the answer's ``Retry-After`` when it has one:
        up to :data:`RETRY_AFTER_MAX` it is waited out, beyond it the error is
        raised at once (never a shorter wait, which the server would refuse
        again). Without one, an exponential backoff with jitter.
        """
        if not call.idempotent or attempt >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in _RETRY_STATUSES:
                return None
            if self.error_for(response).code in _NEVER_RETRIED_CODES:
                return None
            retry_after = retry_after_seconds(response)
            if retry_after is not None:
                return retry_after if retry_after <= RETRY_AFTER_MAX else None
        return min(_MAX_BACKOFF, 0.25 * 2.0**attempt) * (0.5 + random.random() / 2)  # noqa: S311

    def connection_error(self, exc: Exception) -> LoomalError:
        return errors.ConnectionError(
            f"Could not reach Loomal at {self.base_url} ({type(exc).__name__}); "
            "is `loomal serve` running?"
        )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number of seconds or an HTTP date); None when
    absent or unreadable."""
    value = response.headers.get("retry-after", "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _raw_headers(base: Mapping[str, str], call: Call[Any]) -> list[tuple[bytes, bytes]]:
    """``base`` with the call's own headers over it, as bytes (a Loomal-Reason may be
    UTF-8, which httpx's text headers refuse)."""
    merged: dict[str, str | bytes] = {**base, **(call.headers or {})}
    return [
        (k.encode("ascii"), v if isinstance(v, bytes) else v.encode("utf-8"))
        for k, v in merged.items()
    ]


_HELD_RESULTS: tuple[type, ...] = (FetchResponse, Credential, TotpResponse)
"""Calls a person's approval may hold (a rule; a credential's reveal: "approval")."""


def _reveal_headers(approval_id: str | None, reason: str | None) -> dict[str, str | bytes] | None:
    """A read of a ``reveal: "approval"`` credential: the approval to spend and the
    agent's reason (UTF-8, as the server reads it)."""
    headers: dict[str, str | bytes] = {}
    if approval_id is not None:
        headers["Loomal-Approval"] = approval_id
    if reason is not None:
        headers["Loomal-Reason"] = reason.encode("utf-8")
    return headers or None


def _approval_pending(response: httpx.Response) -> LoomalError:
    """The 202 of a held fetch, as the error the caller catches to wait and repeat."""
    try:
        held = msgspec.json.decode(response.content, type=ApprovalPending)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return LoomalError("Unexpected 202 response.", code="invalid_response", status=202)
    return ApprovalPendingError(
        f"This request waits for a person's approval at {held.approval_url}; nothing was "
        "sent. Repeat it with approval_id once approved.",
        approval_id=held.approval_id,
        approval_url=held.approval_url,
        expires_at=held.expires_at.isoformat().replace("+00:00", "Z"),
    )
