/**
 * `@loomal/sdk`: the TypeScript client of Loomal Vault. No runtime
 * dependencies: the platform's `fetch` (Node 18+, Deno, Bun, browsers, edge).
 *
 *     import { Loomal } from "@loomal/sdk";
 *     const loomal = new Loomal({ apiKey: process.env.LOOMAL_API_KEY! });
 *     await loomal.vault.store("stripe", { type: "API_KEY", data: { key: "sk_live_..." } });
 *
 * A drop-in for the hosted service's official SDK: `LoomalApiError` (the base of
 * every error), `LoomalPlatform`, and its type names are exported too.
 */

export {
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  Loomal,
  type LoomalConfig,
  type LoomalOptions,
} from "./client.js";
export { ApprovalsResource } from "./approvals.js";
export { type CreateAccessRequest, type FulfillAccessRequest, RequestsResource } from "./requests.js";
export {
  ApprovalPendingError,
  AuthenticationError,
  BadGatewayError,
  BadRequestError,
  ConflictError,
  ConnectionError,
  ExpiredError,
  PreconditionFailedError,
  IntegrityError,
  LoomalApiError,
  LoomalError,
  type LoomalErrorInit,
  MissingApiKeyError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  SealedError,
  ServerError,
  ValidationError,
} from "./errors.js";
export type { FetchInit, FetchLike, FetchResponse } from "./http.js";
export { IdentityResource } from "./identity.js";
export { LoomalPlatform, PlatformIdentities } from "./platform.js";
export type * from "./platform-types.js";
export type * from "./types.js";
export { type ClientCredentials, type StoreOptions, Vault } from "./vault.js";
