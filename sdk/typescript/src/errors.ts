/**
 * One error tree, mapped from the server's flat error body
 * `{"error": code, "message", "status", "reason"?}`: the class comes from the
 * HTTP status (and, for 5xx, the code), so `catch (e) { if (e instanceof
 * NotFoundError) ... }` works across every call.
 *
 *     LoomalApiError              .status, .code, .message, .reason (alias LoomalError)
 *     ├── ApprovalPendingError    202 approval_pending: vault.fetch waits for a person
 *     │                           (.approvalId, .approvalUrl, .expiresAt); nothing was sent
 *     ├── BadRequestError         400 bad_request (e.g. reason no_backup_codes)
 *     ├── AuthenticationError     401 unauthorized
 *     │   └── MissingApiKeyError  no API key at construction (code missing_api_key, status 0)
 *     ├── PermissionDeniedError   403 the key lacks the scope; request_not_allowed, approval_denied
 *     ├── NotFoundError           404 not_found
 *     ├── ConflictError           409
 *     ├── ExpiredError            410 expired
 *     ├── PreconditionFailedError 412 version_conflict (If-Match / If-None-Match did not hold)
 *     ├── PayloadTooLargeError    413 body over 64 KiB
 *     ├── ValidationError         422 (the message names the field)
 *     ├── RateLimitError          429 (also budget_exhausted), .retryAfter in seconds
 *     ├── ServerError             5xx
 *     │   ├── IntegrityError      500 integrity_error (a stored ciphertext failed its check)
 *     │   └── BadGatewayError     502 bad_gateway: a brokered request's upstream failed (.reason)
 *     ├── SealedError             503 sealed (the server awaits `loomal admin unseal`)
 *     └── ConnectionError         network failure or timeout (status 0)
 *
 * The tree is the Python SDK's (`loomal.errors`), class for class. Its base
 * is the official SDK's `LoomalApiError` (same fields, and its constructor
 * `new LoomalApiError(status, code, message)` works too), so code written for
 * the official SDK catches every error of this one; `LoomalError` is the same
 * class under the Python SDK's name.
 *
 * Messages are the server's own (which never hold a secret) or written here;
 * no error carries a request body, a header or the API key.
 */

export interface LoomalErrorInit {
  status: number;
  code: string;
  message: string;
  reason?: string | undefined;
}

export class LoomalApiError extends Error {
  /** HTTP status, or 0 when no answer came (ConnectionError). */
  readonly status: number;
  /** Stable snake_case code, e.g. `not_found`, `expired`, `integrity_error`. */
  readonly code: string;
  /** A finer code some errors carry, e.g. `no_backup_codes`, `not_totp`. */
  readonly reason: string | undefined;

  constructor(init: LoomalErrorInit);
  /** The official SDK's form. */
  constructor(status: number, code: string, message: string);
  constructor(initOrStatus: LoomalErrorInit | number, code?: string, message?: string) {
    const init: LoomalErrorInit =
      typeof initOrStatus === "number"
        ? { status: initOrStatus, code: code ?? "unknown_error", message: message ?? "" }
        : initOrStatus;
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.reason = init.reason;
  }
}

/** The Python SDK's name for the base class: the same class. */
export { LoomalApiError as LoomalError };

/**
 * 202 `approval_pending`: a credential's rule holds this `vault.fetch` for a
 * person; nothing was sent. Show `approvalUrl`, wait (`approvals.get`), then
 * repeat the same fetch with `approvalId`.
 */
export class ApprovalPendingError extends LoomalApiError {
  readonly approvalId: string;
  readonly approvalUrl: string;
  readonly expiresAt: string;

  constructor(init: { approvalId: string; approvalUrl: string; expiresAt: string }) {
    super({
      status: 202,
      code: "approval_pending",
      message: `This request waits for a person's approval at ${init.approvalUrl}; nothing was sent. Repeat it with approvalId once approved.`,
    });
    this.approvalId = init.approvalId;
    this.approvalUrl = init.approvalUrl;
    this.expiresAt = init.expiresAt;
  }
}
export class BadRequestError extends LoomalApiError {}
export class AuthenticationError extends LoomalApiError {}
/** No API key was given and `LOOMAL_API_KEY` is unset: thrown by `new Loomal()`. */
export class MissingApiKeyError extends AuthenticationError {}
export class PermissionDeniedError extends LoomalApiError {}
export class NotFoundError extends LoomalApiError {}
export class ConflictError extends LoomalApiError {}
export class ExpiredError extends LoomalApiError {}
export class PreconditionFailedError extends LoomalApiError {}
export class PayloadTooLargeError extends LoomalApiError {}
export class ValidationError extends LoomalApiError {}
export class RateLimitError extends LoomalApiError {
  /** Seconds the server asked to wait (`Retry-After`), when it said. */
  readonly retryAfter: number | undefined;

  constructor(init: LoomalErrorInit & { retryAfter?: number | undefined }) {
    super(init);
    this.retryAfter = init.retryAfter;
  }
}
export class ServerError extends LoomalApiError {}
export class SealedError extends LoomalApiError {}
export class IntegrityError extends ServerError {}
/** 502 `bad_gateway`: `vault.fetch` reached its upstream, which failed (reason dns_failed, timeout, ...). */
export class BadGatewayError extends ServerError {}
export class ConnectionError extends LoomalApiError {}

// The name lives on each prototype (not as a field) so that it is already right
// when Error's constructor writes the stack's first line; spelled out because
// a minifier may rename the classes.
const NAMES: ReadonlyArray<readonly [Function, string]> = [
  [LoomalApiError, "LoomalApiError"],
  [ApprovalPendingError, "ApprovalPendingError"],
  [BadRequestError, "BadRequestError"],
  [AuthenticationError, "AuthenticationError"],
  [MissingApiKeyError, "MissingApiKeyError"],
  [PermissionDeniedError, "PermissionDeniedError"],
  [NotFoundError, "NotFoundError"],
  [ConflictError, "ConflictError"],
  [ExpiredError, "ExpiredError"],
  [PreconditionFailedError, "PreconditionFailedError"],
  [PayloadTooLargeError, "PayloadTooLargeError"],
  [ValidationError, "ValidationError"],
  [RateLimitError, "RateLimitError"],
  [ServerError, "ServerError"],
  [SealedError, "SealedError"],
  [BadGatewayError, "BadGatewayError"],
  [IntegrityError, "IntegrityError"],
  [ConnectionError, "ConnectionError"],
];
for (const [cls, name] of NAMES) {
  Object.defineProperty(cls.prototype, "name", { value: name, writable: true, configurable: true });
}

type ErrorClass = new (init: LoomalErrorInit) => LoomalApiError;

/** Status → class, in one table (the 5xx codes are refined below). */
const BY_STATUS: Readonly<Record<number, ErrorClass>> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  410: ExpiredError,
  412: PreconditionFailedError,
  413: PayloadTooLargeError,
  422: ValidationError,
};

/** The error for an HTTP error answer, from its status and its parsed code. */
export function errorFromResponse(
  init: LoomalErrorInit & { retryAfter?: number | undefined },
): LoomalApiError {
  const { retryAfter, ...rest } = init;
  if (init.status === 429) return new RateLimitError({ ...rest, retryAfter });
  if (init.code === "integrity_error") return new IntegrityError(rest);
  if (init.code === "sealed") return new SealedError(rest);
  if (init.code === "bad_gateway" || init.status === 502) return new BadGatewayError(rest);
  if (init.status >= 500) return new ServerError(rest);
  const cls = BY_STATUS[init.status] ?? LoomalApiError;
  return new cls(rest);
}
