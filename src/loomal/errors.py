"""The one error tree of Loomal Vault, shared by the server core and the SDK.

Every error carries a stable snake_case ``code``, the HTTP ``status`` it maps to
and, where one helps, a finer ``reason``. The server turns any of them into the
hosted Loomal API's flat body ``{"error": code, "message", "status", "reason"?}``
in one place (``server/responses.py``); the SDK turns that body back into the
same class with :func:`error_from_status`. Messages are written for people and
never contain a secret value: callers pass field *names*, never field values.

    LoomalError                    base; code, status (also http_status), message, reason
    ├── ApprovalPendingError       202 approval_pending: a brokered request waits for a person
    │                              (approval_id, approval_url, expires_at); nothing was sent
    ├── BadRequestError            400 bad_request; reason malformed_json, not_totp, no_backup_codes
    ├── AuthenticationError        401 unauthorized; reason missing_api_key, invalid_api_key
    │   └── MissingApiKeyError     the SDK has no key (also a ValueError, as the official SDK's)
    ├── PermissionDeniedError      403 forbidden; reason insufficient_scope; also
    │                              request_not_allowed, approval_denied (request rules)
    ├── NotFoundError              404 not_found
    ├── MethodNotAllowedError      405 method_not_allowed
    ├── RequestTimeoutError        408 request_timeout (a request body not received in time)
    ├── ConflictError              409 conflict, credential_limit, identity_exists,
    │                              approval_mismatch
    ├── ExpiredError               410 expired; reason approval_expired, approval_used
    ├── PreconditionFailedError    412 version_conflict; reason exists, not_found, changed
    ├── PayloadTooLargeError       413 payload_too_large
    ├── ValidationError            422 validation_error
    ├── RateLimitError             429 rate_limited, budget_exhausted (retry_after)
    ├── ServerError                500 internal_error
    │   ├── IntegrityError         500 integrity_error (tampered or mis-bound ciphertext)
    │   ├── BadGatewayError        502 bad_gateway: a brokered request's upstream failed; reason
    │   │                          dns_failed, connect_failed, timeout, response_too_large, ...
    │   └── ServiceUnavailableError 503 unavailable; retry_after (an OAuth provider down, no
    │                              valid token left: reason provider_unavailable)
    ├── SealedError                503 sealed
    │   └── KeyUnavailableError    503 key_unavailable (a row under a master key this server lacks)
    └── ConnectionError            the SDK could not reach the server (no status)
"""

from __future__ import annotations

__all__ = [
    "ApprovalPendingError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "ConnectionError",
    "ExpiredError",
    "IntegrityError",
    "KeyUnavailableError",
    "LoomalError",
    "MethodNotAllowedError",
    "MissingApiKeyError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "RequestTimeoutError",
    "SealedError",
    "ServerError",
    "ServiceUnavailableError",
    "ValidationError",
    "error_from_status",
]


class LoomalError(Exception):
    """Base of every Loomal error: a stable ``code``, a ``status``, a message, maybe a reason.

    ``status`` and ``code`` are what the official SDK's ``LoomalError`` carries,
    so ``except LoomalError as e: e.status, e.code`` works with either SDK.
    """

    http_status: int = 500
    default_code: str = "internal_error"
    default_message: str = "An internal error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.reason = reason
        if status is not None:
            self.http_status = status
        super().__init__(self.message)

    @property
    def status(self) -> int:
        """The HTTP status (0 when no answer came back: a connection error)."""
        return self.http_status

    def __repr__(self) -> str:
        reason = f", reason={self.reason!r}" if self.reason else ""
        return (
            f"{type(self).__name__}(status={self.http_status}, code={self.code!r}{reason}, "
            f"message={self.message!r})"
        )


class ApprovalPendingError(LoomalError):
    """202 ``approval_pending``: a credential's rule wants a person to approve this
    brokered request first; nothing was sent. Repeat the same request with
    ``approval_id`` once ``GET /v0/approvals/{id}`` says ``approved``."""

    http_status = 202
    default_code = "approval_pending"
    default_message = "This request waits for a person's approval; nothing was sent."

    def __init__(
        self,
        message: str | None = None,
        *,
        approval_id: str = "",
        approval_url: str = "",
        expires_at: str = "",
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.approval_id = approval_id
        self.approval_url = approval_url
        self.expires_at = expires_at


class BadRequestError(LoomalError):
    """400 ``bad_request``, as the public reference spells it; ``reason`` says which."""

    http_status = 400
    default_code = "bad_request"
    default_message = "The request is not valid."


class AuthenticationError(LoomalError):
    """401 ``unauthorized``, the hosted API's code (its official clients test for it);
    ``reason`` tells a missing key from one that is not valid, never more: an unknown,
    revoked or expired key answers alike."""

    http_status = 401
    default_code = "unauthorized"
    default_message = "A valid API key is required."


class MissingApiKeyError(AuthenticationError, ValueError):
    """The SDK was given no API key. Also a ``ValueError``, which is what the
    official SDK raises here, so code written for it catches this too."""

    default_code = "missing_api_key"
    default_message = "No API key: pass api_key=... or set LOOMAL_API_KEY."

    def __init__(
        self, message: str | None = None, *, env_var: str = "LOOMAL_API_KEY", **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.env_var = env_var
        """The variable the client looked in (a CLI tells its user to set it)."""

    @property
    def shell_hint(self) -> str:
        """The same news for a shell user, who sets a variable or an option, not
        the SDK's ``api_key=`` argument (the CLI and ``python -m loomal.mcp``)."""
        prefix = "lopk-" if self.env_var == "LOOMAL_PLATFORM_KEY" else "loid-"
        return f"No API key: export {self.env_var}={prefix}... (or pass --api-key)."


class PermissionDeniedError(LoomalError):
    """403 ``forbidden``, the hosted API's code; a key without the scope a route needs
    says so in ``reason`` (``insufficient_scope``)."""

    http_status = 403
    default_code = "forbidden"
    default_message = "This API key lacks the scope this operation needs."


class NotFoundError(LoomalError):
    http_status = 404
    default_code = "not_found"
    default_message = "Not found."


class MethodNotAllowedError(LoomalError):
    http_status = 405
    default_code = "method_not_allowed"
    default_message = "This method is not allowed on this path."


class RequestTimeoutError(LoomalError):
    """408 ``request_timeout``: the request's body did not arrive within the server's
    deadline (``LOOMAL_BODY_TIMEOUT_SECONDS``); the server closes the connection."""

    http_status = 408
    default_code = "request_timeout"
    default_message = "The request body was not received in time."


class ConflictError(LoomalError):
    http_status = 409
    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class ExpiredError(LoomalError):
    http_status = 410
    default_code = "expired"
    default_message = "The credential has expired."


class PreconditionFailedError(LoomalError):
    """412 ``version_conflict``: a check-and-set store (``If-Match``, ``If-None-Match: *``)
    found the credential in another state than the caller expected; nothing was written."""

    http_status = 412
    default_code = "version_conflict"
    default_message = "The credential changed since it was read."


class PayloadTooLargeError(LoomalError):
    http_status = 413
    default_code = "payload_too_large"
    default_message = "The request body is larger than 64 KiB."


class ValidationError(LoomalError):
    http_status = 422
    default_code = "validation_error"
    default_message = "The request is not valid."


class RateLimitError(LoomalError):
    http_status = 429
    default_code = "rate_limited"
    default_message = "Too many requests; retry later."

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = max(1, retry_after)


class ServerError(LoomalError):
    http_status = 500
    default_code = "internal_error"
    default_message = "An internal error occurred."


class IntegrityError(ServerError):
    """A stored ciphertext or wrapped key failed authentication.

    Raised for every decrypt failure alike (tampering, a row moved to another
    identity or name, a missing master key) so that nothing is learnt from
    which check failed.
    """

    default_code = "integrity_error"
    default_message = "A stored credential failed its integrity check."


class BadGatewayError(ServerError):
    """502 ``bad_gateway``: the vault made a brokered request and its upstream
    failed (no answer, a bad answer, or one too large); ``reason`` says which.

    A ServerError, so ``except ServerError`` still catches every 5xx (a 502 from
    a proxy in front of the vault is one too, without a reason)."""

    http_status = 502
    default_code = "bad_gateway"
    default_message = "The upstream server of a brokered request failed."


class ServiceUnavailableError(ServerError):
    """503 ``unavailable``: something the vault depends on (an OAuth provider's token
    endpoint) did not answer and nothing valid is left to serve; ``retry_after``
    seconds is when trying again makes sense (sent as ``Retry-After``)."""

    http_status = 503
    default_code = "unavailable"
    default_message = "A service the vault depends on is unavailable; retry later."

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = max(1, retry_after)


class SealedError(LoomalError):
    http_status = 503
    default_code = "sealed"
    default_message = "The vault is sealed."


class KeyUnavailableError(SealedError):
    """A credential is wrapped by a master key this server does not hold (another
    server's key, or one retired too soon): this server cannot serve it until an
    operator gives it that key, and nothing was tampered with."""

    default_code = "key_unavailable"
    default_message = "The master key this credential is wrapped by is not available here."


class ConnectionError(LoomalError):  # noqa: A001 - the SDK's documented name
    """The SDK could not reach the server (refused, timed out, DNS)."""

    http_status = 0
    default_code = "connection_error"
    default_message = "Could not connect to the Loomal server."


_BY_STATUS: dict[int, type[LoomalError]] = {
    cls.http_status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        MethodNotAllowedError,
        RequestTimeoutError,
        ConflictError,
        ExpiredError,
        PreconditionFailedError,
        PayloadTooLargeError,
        ValidationError,
        RateLimitError,
        BadGatewayError,
    )
}
_BY_CODE: dict[str, type[LoomalError]] = {
    IntegrityError.default_code: IntegrityError,
    SealedError.default_code: SealedError,
    BadGatewayError.default_code: BadGatewayError,
    ServiceUnavailableError.default_code: ServiceUnavailableError,
    KeyUnavailableError.default_code: KeyUnavailableError,
}


def error_from_status(
    status: int, code: str, message: str, reason: str | None = None
) -> LoomalError:
    """Rebuild the error a server answered with (the SDK's side of the mapping)."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else LoomalError
    return cls(message, code=code, status=status, reason=reason)
