/**
 * `new LoomalPlatform({ apiKey: "lopk-..." })`: provisioning identities over
 * the platform API, as the official SDK's client of the same name. Under Node
 * the key defaults to `LOOMAL_PLATFORM_KEY` and the URL to `LOOMAL_API_URL`
 * (as for `Loomal`). A platform key manages identities and never reads a
 * credential: the keys it hands out (`rawKey`) do that, with `Loomal`.
 */

import { configure, type LoomalOptions } from "./client.js";
import { ValidationError } from "./errors.js";
import type { ApiCall, Transport } from "./http.js";
import type {
  CreateIdentityParams,
  CreateIdentityResponse,
  IdentityDetail,
  IdentitySummary,
  ListIdentitiesParams,
  PaginatedIdentities,
  RotateKeyResponse,
  UpdateIdentityParams,
} from "./platform-types.js";
import type { JsonObject } from "./types.js";

const IDENTITIES = "/v0/platform/identities";

/** `/v0/platform/identities/{id}{suffix}`, the id kept one path segment. */
function identityPath(identityId: string, suffix = ""): string {
  // "." and ".." would be resolved away by the URL parser, "" would reach the list.
  if (typeof identityId !== "string" || identityId === "" || identityId === "." || identityId === "..") {
    throw new ValidationError({ status: 0, code: "invalid_identity_id", message: "An identity id is required." });
  }
  return `${IDENTITIES}/${encodeURIComponent(identityId)}${suffix}`;
}

/** The fields of `params` that are set, as a JSON body. */
function setFields(params: object): JsonObject {
  return Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
}

export class LoomalPlatform {
  /** create, list, listAll, get, update, updateScopes, delete, rotateKey. */
  readonly identities: PlatformIdentities;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;

  constructor(options: LoomalOptions = {}) {
    const config = configure(options, {
      env: "LOOMAL_PLATFORM_KEY",
      name: "platform key",
      prefix: "lopk-",
      example: "new LoomalPlatform({ apiKey })",
    });
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.timeoutMs;
    this.maxRetries = config.maxRetries;
    this.identities = new PlatformIdentities(config.transport);
  }
}

/** `platform.identities`: each method's doc names its verb and path. */
export class PlatformIdentities {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /**
   * A new identity and its key, `rawKey`, shown this once (POST
   * /v0/platform/identities). Every field is optional. Never retried: a repeat
   * would make a second identity.
   */
  async create(params: CreateIdentityParams = {}): Promise<CreateIdentityResponse> {
    return this.#send({ method: "POST", path: IDENTITIES, body: setFields(params), safeToRetry: false });
  }

  /** One page of identities (GET /v0/platform/identities?limit=&pageToken=). */
  async list(params: ListIdentitiesParams = {}): Promise<PaginatedIdentities> {
    return this.#send({
      method: "GET",
      path: IDENTITIES,
      query: { limit: params.limit, pageToken: params.pageToken || undefined },
      safeToRetry: true,
    });
  }

  /** Every identity, fetching `pageSize` at a time and following `nextPageToken`. */
  async *listAll(options: { pageSize?: number } = {}): AsyncGenerator<IdentitySummary, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.list({ limit: options.pageSize ?? 100, pageToken });
      yield* page.identities;
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }

  /** One identity and its key's prefix (GET /v0/platform/identities/{identityId}). */
  async get(identityId: string): Promise<IdentityDetail> {
    return this.#send({ method: "GET", path: identityPath(identityId), safeToRetry: true });
  }

  /** Rename and/or change scopes (PATCH /v0/platform/identities/{identityId}). */
  async update(identityId: string, params: UpdateIdentityParams): Promise<IdentitySummary> {
    return this.#send({
      method: "PATCH",
      path: identityPath(identityId),
      body: setFields(params),
      safeToRetry: true,
    });
  }

  /** The official SDK's older name for `update` with scopes only. */
  async updateScopes(
    identityId: string,
    params: { addScopes?: string[] | undefined; removeScopes?: string[] | undefined },
  ): Promise<IdentitySummary> {
    return this.update(identityId, params);
  }

  /** Delete an identity, its keys and its credentials (DELETE /v0/platform/identities/{identityId}, 204). */
  async delete(identityId: string): Promise<void> {
    await this.#send<undefined>({ method: "DELETE", path: identityPath(identityId), safeToRetry: true });
  }

  /**
   * A new key for the identity; the old one stops working (POST
   * /v0/platform/identities/{identityId}/rotate-key). Never retried: a repeat
   * would revoke the key the first call made before anyone saw it.
   */
  async rotateKey(identityId: string): Promise<RotateKeyResponse> {
    return this.#send({ method: "POST", path: identityPath(identityId, "/rotate-key"), safeToRetry: false });
  }

  #send<T>(call: ApiCall): Promise<T> {
    return this.#transport.send<T>(call);
  }
}
