"""What each error status of an endpoint means, for the OpenAPI document: the
texts the endpoint table (``server/endpoints.py``) gives its entries."""

from __future__ import annotations

from loomal.core.approval_models import ApprovalPending

__all__ = [
    "APPROVAL_TEXT",
    "FETCH_ERRORS",
    "HEALTH_ERRORS",
    "HELD",
    "OAUTH_ERRORS",
    "VAULT_ERRORS",
    "VERSION_ERRORS",
    "approval_errors",
    "platform_errors",
    "reveal_errors",
    "vault_errors",
]

VAULT_ERRORS = {
    400: "bad_request: malformed JSON, a Host header that is not a host name, "
    "or (reason) not_totp / no_backup_codes",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks the scope this route needs",
    404: "No credential of this identity has that name",
    408: "request_timeout: the body did not arrive within the server's deadline",
    409: "Conflict (credential_limit)",
    410: "The credential has expired (expired)",
    412: "version_conflict: If-Match / If-None-Match did not hold (reason exists, not_found, "
    "changed); nothing was written",
    413: "Body larger than 64 KiB",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
    500: "Integrity error or internal error (never with a secret)",
    502: "bad_gateway: reason dns_failed, connect_failed, tls_failed, timeout, "
    "response_too_large, unsupported_encoding, redirect_not_allowed, too_many_redirects "
    "or upstream_error",
    503: "Sealed",
}
VAULT_COMMON = (400, 401, 403, 404, 422, 429, 500)


def vault_errors(*extra: int, **replaced: str) -> dict[int, str]:
    chosen = sorted({*VAULT_COMMON, *extra})
    texts = {**VAULT_ERRORS, **{int(k.removeprefix("e")): v for k, v in replaced.items()}}
    return {status: texts[status] for status in chosen}


PLATFORM_ERRORS = {
    400: "bad_request: malformed JSON",
    401: "Missing, unknown or revoked platform key",
    403: "An identity's key (loid-...) on a platform route (platform_key_required)",
    404: "No identity with this id",
    408: VAULT_ERRORS[408],
    409: "An identity with this name exists (identity_exists)",
    413: "Body larger than 64 KiB",
    422: "Validation failed; the message names the field (an unknown scope, limit, pageToken)",
    429: "Rate limited",
    500: "Internal error",
}


def platform_errors(*extra: int) -> dict[int, str]:
    chosen = sorted({400, 401, 403, 422, 429, 500, *extra})
    return {status: PLATFORM_ERRORS[status] for status in chosen}


FETCH_ERRORS = vault_errors(
    202,
    408,
    409,
    410,
    413,
    502,
    503,
    e202="approval_pending: a rule holds the request for a person; repeat it with "
    "approvalId once approved (nothing was sent)",
    e400="bad_request: reason not_injectable, no_allowed_hosts, host_not_allowed, "
    "https_required, forbidden_address or vault_key_in_request (nothing was sent)",
    e403="The API key lacks vault:use (or vault:read); request_not_allowed (no rule allows "
    "it); approval_denied",
    e404="No credential of this identity has that name (or no such approvalId)",
    e409="approval_mismatch: the approval was given for another request",
    e410="The credential has expired (expired); reason approval_expired, approval_used",
    e413="Request body larger than 1 MiB",
    e422="Validation failed (a forbidden header, a bad URL or method); the message names it",
    e429="Rate limited; budget_exhausted (a rule's budget, with Retry-After)",
)
HELD = {202: ApprovalPending}
"""A brokered request a rule holds for a person answers 202 with this body."""


def reveal_errors(*extra: int) -> dict[int, str]:
    """A read of a secret, which ``reveal: "approval"`` may hold for a person."""
    return vault_errors(
        202,
        409,
        410,
        *extra,
        e202='approval_pending: the credential says reveal: "approval"; repeat the read with '
        "a Loomal-Approval header once a person approved (nothing was revealed)",
        e403="The API key lacks the scope this route needs; approval_denied",
        e404="No credential of this identity has that name (or no such approval)",
        e409="approval_mismatch: the approval was given for another read",
        e410="The credential has expired (expired); reason approval_expired, approval_used",
    )


VERSION_ERRORS = vault_errors(
    409,
    e404="No such credential, kept version (no_such_version) or recoverable deletion",
    e409="name_in_use: a credential holds the name now (undelete with ?as=OTHER); credential_limit",
)
OAUTH_ERRORS = {
    400: "not_refreshable: the credential has no metadata.oauth",
    401: "Missing, unknown, revoked or expired API key",
    403: "The API key lacks vault:use",
    404: "No credential of this identity has that name",
    409: "needs_reauth: the provider refused the refresh token; a person must connect again",
    410: "The credential has expired (expired)",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
    500: "Internal error (never with a secret)",
    502: "bad_gateway (oauth_refused): the token endpoint refused the client",
    503: "unavailable: the provider did not answer and no valid token is left (Retry-After)",
}
APPROVAL_TEXT = {
    400: "bad_request: malformed JSON",
    401: VAULT_ERRORS[401],
    403: "insufficient_scope (deciding needs vault:approve or vault:write) or own_request "
    "(the key that asked never decides)",
    404: "No approval of this identity has that id",
    408: VAULT_ERRORS[408],
    409: "approval_decided: already approved or denied",
    410: "approval_expired",
    422: "Validation failed; the message names the field",
    429: "Rate limited",
}


def approval_errors(*extra: int) -> dict[int, str]:
    return {status: APPROVAL_TEXT[status] for status in sorted({400, 401, 422, 429, *extra})}


REQUEST_TEXT = {
    400: "bad_request: malformed JSON",
    401: VAULT_ERRORS[401],
    403: "insufficient_scope (asking needs a key that may use the vault; fulfilling "
    "vault:write; declining vault:write or vault:approve)",
    404: "No request of this identity has that id",
    408: VAULT_ERRORS[408],
    409: "request_answered: already fulfilled or declined; credential_limit",
    410: "expired, reason request_expired (7 days without an answer)",
    412: "version_conflict: the name is taken (create-only unless If-Match names its version)",
    413: "Request body larger than 64 KiB",
    422: "Validation failed (name, type, reason, allowedHosts, the credential's data); the "
    "message names the field",
    429: "rate_limited; reason too_many_pending_requests (20 open per identity)",
}


def request_errors(*extra: int) -> dict[int, str]:
    return {status: REQUEST_TEXT[status] for status in sorted({400, 401, 422, 429, *extra})}


HEALTH_ERRORS = {
    400: "bad_request: a Host header that is not a host name",
    503: "Not serving: status sealed, store_unreachable or starting",
}
