/**
 * `loomal.requests`: agents ask for the credentials they lack (`/v0/requests`).
 * An agent's key (vault:use is enough) calls `create` and gets the console URL
 * where a person fills the credential in, then polls `get`; a person's key
 * answers with `fulfill` (vault:write) or `decline`.
 */

import type { Transport } from "./http.js";
import type {
  AccessRequest,
  AccessRequestCreated,
  AccessRequestList,
  AccessRequestStatus,
  CredentialType,
} from "./types.js";

export interface CreateAccessRequest {
  type: CredentialType;
  /** Why the agent needs it, shown to the person as plain text (at most 500 characters). */
  reason: string;
  /** Hosts the credential may be sent to; pre-fills its `metadata.allowedHosts`. */
  allowedHosts?: string[];
}

export interface FulfillAccessRequest {
  data: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  expiresAt?: string;
  /** The name is held already: replace exactly this version of it (`If-Match`). */
  replaceVersion?: number;
}

export class RequestsResource {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** Ask a person for credential `name` (POST /v0/requests): never retried, a retry would ask twice. */
  create(name: string, request: CreateAccessRequest): Promise<AccessRequestCreated> {
    const body: Record<string, unknown> = { name, type: request.type, reason: request.reason };
    if (request.allowedHosts !== undefined) body.allowedHosts = request.allowedHosts;
    return this.#transport.send({ method: "POST", path: "/v0/requests", body, safeToRetry: false });
  }

  /** One request and its status (GET /v0/requests/{id}): an agent polls this. Never a secret. */
  get(requestId: string): Promise<AccessRequest> {
    return this.#transport.send({ method: "GET", path: requestPath(requestId), safeToRetry: true });
  }

  /** The identity's requests, pending first (GET /v0/requests). */
  list(options: { status?: AccessRequestStatus; limit?: number } = {}): Promise<AccessRequestList> {
    return this.#transport.send({
      method: "GET",
      path: "/v0/requests",
      query: { status: options.status, limit: options.limit },
      safeToRetry: true,
    });
  }

  /** Store the requested credential (POST /v0/requests/{id}/fulfill; vault:write), create-only unless `replaceVersion`. */
  fulfill(requestId: string, answer: FulfillAccessRequest): Promise<AccessRequest> {
    const body: Record<string, unknown> = { data: answer.data };
    if (answer.metadata !== undefined) body.metadata = answer.metadata;
    if (answer.expiresAt !== undefined) body.expiresAt = answer.expiresAt;
    const call = { method: "POST" as const, path: requestPath(requestId, "/fulfill"), body, safeToRetry: false };
    return this.#transport.send(
      answer.replaceVersion === undefined ? call : { ...call, headers: { "If-Match": `"${answer.replaceVersion}"` } },
    );
  }

  /** Decline a request (POST /v0/requests/{id}/decline; vault:write or vault:approve). */
  decline(requestId: string): Promise<AccessRequest> {
    return this.#transport.send({ method: "POST", path: requestPath(requestId, "/decline"), safeToRetry: false });
  }
}

function requestPath(requestId: string, suffix = ""): string {
  return `/v0/requests/${encodeURIComponent(requestId)}${suffix}`;
}
