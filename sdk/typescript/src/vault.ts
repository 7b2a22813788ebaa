/**
 * `loomal.vault`: the vault endpoints, one method each, plus the typed helpers
 * of the official Python SDK (`storeApiKey`, `storeCard`,
 * `storeShippingAddress`). Each method's doc names its verb and path.
 */

import { ApprovalPendingError, ValidationError } from "./errors.js";
import type { ApiCall, Transport } from "./http.js";
import type {
  ApiKeyMetadata,
  BackupCode,
  CardData,
  CardMetadata,
  Credential,
  CredentialList,
  CredentialSummary,
  DeletedList,
  DeleteOptions,
  GetOptions,
  JsonObject,
  ListAllOptions,
  ListOptions,
  OAuthState,
  ShippingAddressData,
  StoreCredentialInput,
  StoreHelperOptions,
  StoredCredential,
  TotpCode,
  UndeleteOptions,
  VaultFetchInput,
  VaultFetchResult,
  VersionList,
} from "./types.js";

/** `{clientId, secret}` for OAuth-style client credentials. */
export interface ClientCredentials {
  clientId: string;
  secret: string;
}

/**
 * `/v0/vault/{name}{suffix}`, the name encoded so that it stays one path segment.
 * Every method is async so that this refusal is a rejection like any other error.
 */
function credentialPath(name: string, suffix = ""): string {
  // "." and ".." survive encodeURIComponent and would be resolved away by the
  // URL parser, sending the call to another route; an empty name would hit the
  // list. The server refuses such names anyway, so refuse them before sending.
  if (typeof name !== "string" || name === "" || name === "." || name === "..") {
    throw new ValidationError({
      status: 0,
      code: "invalid_name",
      message:
        "A credential name is 1-128 characters of A-Z a-z 0-9 . _ - and does not start with '.'.",
    });
  }
  return `/v0/vault/${encodeURIComponent(name)}${suffix}`;
}

/** Digits of a card number without spaces or dashes, last four. */
function last4(cardNumber: string): string {
  return cardNumber.replace(/[\s-]/g, "").slice(-4);
}

/** Check-and-set for `vault.store`: the store happens only if the condition holds, else PreconditionFailedError (412 `version_conflict`). */
export interface StoreOptions {
  /** The version the credential must still be at (a number, or an ETag as received, or "*": it must exist). */
  ifMatch?: number | string;
  /** "*": create only; refused when the name exists. */
  ifNoneMatch?: "*";
}

export class Vault {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /**
   * Create or overwrite a credential (PUT /v0/vault/{name}). Overwriting keeps
   * `credentialId` and `createdAt`. Retried when safe: storing the same body
   * twice leaves the same credential.
   */
  async store(
    name: string,
    input: StoreCredentialInput,
    options: StoreOptions = {},
  ): Promise<StoredCredential> {
    const body: JsonObject = { type: input.type, data: input.data };
    if (input.metadata !== undefined) body["metadata"] = input.metadata;
    if (input.expiresAt !== undefined) {
      body["expiresAt"] =
        input.expiresAt instanceof Date ? input.expiresAt.toISOString() : input.expiresAt;
    }
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) {
      headers["If-Match"] =
        typeof options.ifMatch === "number" ? `"${options.ifMatch}"` : options.ifMatch;
    }
    if (options.ifNoneMatch !== undefined) headers["If-None-Match"] = options.ifNoneMatch;
    const conditional = Object.keys(headers).length > 0;
    // A conditional store is not retried: had the first attempt landed unseen, the
    // retry would be refused 412 although the write was made.
    return this.#send({
      method: "PUT",
      path: credentialPath(name),
      body,
      headers,
      safeToRetry: !conditional,
    });
  }

  /**
   * The credential with its decrypted `data` (GET /v0/vault/{name}). Expired:
   * ExpiredError. `{ version }`: a kept version instead (`?version=N`).
   */
  async get(name: string, options: GetOptions = {}): Promise<Credential> {
    return this.#send({
      method: "GET",
      path: credentialPath(name),
      query: { version: options.version },
      safeToRetry: true,
    });
  }

  /**
   * Summaries, never secrets (GET /v0/vault). Without options every
   * credential; with `limit` one page and `nextCursor` (null on the last).
   */
  async list(options: ListOptions = {}): Promise<CredentialList> {
    return this.#send({
      method: "GET",
      path: "/v0/vault",
      query: { limit: options.limit, cursor: options.cursor },
      safeToRetry: true,
    });
  }

  /** Every summary, fetching `pageSize` at a time and following `nextCursor`. */
  async *listAll(options: ListAllOptions = {}): AsyncGenerator<CredentialSummary, void, undefined> {
    const limit = options.pageSize ?? 100;
    let cursor: string | undefined;
    do {
      const page = await this.list(cursor === undefined ? { limit } : { limit, cursor });
      yield* page.credentials;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /**
   * Delete a credential (DELETE /v0/vault/{name}, 204): gone at once, yet
   * recoverable with `undelete` for the server's retention period (30 days by
   * default). `{ destroy: true }` removes it and every version now.
   */
  async delete(name: string, options: DeleteOptions = {}): Promise<void> {
    await this.#send<undefined>({
      method: "DELETE",
      path: credentialPath(name),
      query: { destroy: options.destroy ? "true" : undefined },
      safeToRetry: true,
    });
  }

  /** The kept versions, newest first, never a secret (GET /v0/vault/{name}/versions). */
  async versions(name: string): Promise<VersionList> {
    return this.#send({ method: "GET", path: credentialPath(name, "/versions"), safeToRetry: true });
  }

  /**
   * Make kept `version` current again, as a new version
   * (POST /v0/vault/{name}/versions/{version}/restore). A backup code used since
   * stays used. Never retried: a repeat would add one more version.
   */
  async restore(name: string, version: number): Promise<StoredCredential> {
    return this.#send({
      method: "POST",
      path: credentialPath(name, `/versions/${encodeURIComponent(String(version))}/restore`),
      safeToRetry: false,
    });
  }

  /**
   * Bring back a deleted credential (POST /v0/vault/{name}/undelete). Its name
   * holds another credential now: ConflictError (code `name_in_use`); pass
   * `{ as: "other-name" }`.
   */
  async undelete(name: string, options: UndeleteOptions = {}): Promise<StoredCredential> {
    return this.#send({
      method: "POST",
      path: credentialPath(name, "/undelete"),
      query: { as: options.as },
      safeToRetry: false,
    });
  }

  /** Deleted credentials that can still be undeleted (GET /v0/vault?deleted=true). */
  async deleted(): Promise<DeletedList> {
    return this.#send({
      method: "GET",
      path: "/v0/vault",
      query: { deleted: "true" },
      safeToRetry: true,
    });
  }

  /**
   * The live TOTP code, the seconds it stays valid and the backup codes left
   * (GET /v0/vault/{name}/totp); never the seed or the backup codes.
   */
  async totp(name: string): Promise<TotpCode> {
    return this.#send({ method: "GET", path: credentialPath(name, "/totp"), safeToRetry: true });
  }

  /**
   * Consume one backup code atomically (POST /v0/vault/{name}/totp/backup):
   * it moves from `data.backupCodes` to `data.usedBackupCodes` and is
   * returned. Never retried, since a repeat could consume a second code.
   * None left: BadRequestError (reason `no_backup_codes`).
   */
  async totpUseBackup(name: string): Promise<BackupCode> {
    return this.#send({
      method: "POST",
      path: credentialPath(name, "/totp/backup"),
      safeToRetry: false,
    });
  }

  /**
   * Refresh an OAUTH credential's access token now (POST
   * /v0/vault/{name}/oauth/refresh; vault:use). Answers the token's state, never
   * a token: `get` already hands out a live one, so this is for a token the
   * provider revoked early. A refresh token the provider refused:
   * ConflictError with code `needs_reauth` (a person must connect it again).
   */
  async oauthRefresh(name: string): Promise<OAuthState> {
    return this.#send({
      method: "POST",
      path: credentialPath(name, "/oauth/refresh"),
      safeToRetry: true,
    });
  }

  /** The state of an OAUTH credential's access token, no refresh (GET /v0/vault/{name}/oauth). */
  async oauthStatus(name: string): Promise<OAuthState> {
    return this.#send({ method: "GET", path: credentialPath(name, "/oauth"), safeToRetry: true });
  }

  /**
   * Make an HTTP request with credential `name` injected by the server, without
   * ever receiving the secret (POST /v0/vault/{name}/fetch; needs vault:use).
   * Never retried: the upstream request may have effects. The upstream failing
   * is a BadGatewayError (502, `reason` says how). A request a rule holds for a
   * person throws ApprovalPendingError; repeat with `approvalId` once approved.
   */
  async fetch(name: string, input: VaultFetchInput): Promise<VaultFetchResult> {
    const body: JsonObject = { method: input.method ?? "GET", url: input.url };
    if (input.headers !== undefined) body["headers"] = input.headers;
    if (input.body instanceof Uint8Array) {
      body["body"] = bytesToBase64(input.body);
      body["bodyEncoding"] = "base64";
    } else if (input.body !== undefined) {
      body["body"] = input.body as JsonObject;
    }
    if (input.approvalId !== undefined) body["approvalId"] = input.approvalId;
    if (input.reason !== undefined) body["reason"] = input.reason;
    const answer = await this.#send<VaultFetchResult | HeldForApproval>({
      method: "POST",
      path: credentialPath(name, "/fetch"),
      body,
      safeToRetry: false,
    });
    // A 202 held for a person has a string status ("pending"); an upstream's answer a number.
    if (typeof answer.status === "string") throw new ApprovalPendingError(answer as HeldForApproval);
    return answer as VaultFetchResult;
  }

  /**
   * Store an API_KEY credential: a string for a single secret key, or
   * `{clientId, secret}` for client credentials (the clientId is also put in
   * metadata, where it is shown without being a secret).
   */
  async storeApiKey(
    name: string,
    keyOrPair: string | ClientCredentials,
    options: StoreHelperOptions<ApiKeyMetadata> = {},
  ): Promise<StoredCredential> {
    const metadata: ApiKeyMetadata = { ...options.metadata };
    if (typeof keyOrPair === "string") {
      return this.store(name, { ...withExpiry(options), type: "API_KEY", data: { key: keyOrPair }, metadata });
    }
    metadata.clientId = keyOrPair.clientId;
    return this.store(name, {
      ...withExpiry(options),
      type: "API_KEY",
      data: { clientId: keyOrPair.clientId, secret: keyOrPair.secret },
      metadata,
    });
  }

  /**
   * Store a CARD credential; `metadata.last4` is taken from the number
   * (spaces and dashes removed) unless the metadata given sets it.
   */
  async storeCard(
    name: string,
    card: CardData,
    options: StoreHelperOptions<CardMetadata> = {},
  ): Promise<StoredCredential> {
    const metadata: CardMetadata = { last4: last4(card.number), ...options.metadata };
    return this.store(name, { ...withExpiry(options), type: "CARD", data: { ...card }, metadata });
  }

  /** Store a SHIPPING_ADDRESS credential (every field encrypted at rest). */
  async storeShippingAddress(
    name: string,
    address: ShippingAddressData,
    options: StoreHelperOptions = {},
  ): Promise<StoredCredential> {
    return this.store(name, {
      ...withExpiry(options),
      type: "SHIPPING_ADDRESS",
      data: { ...address },
      ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    });
  }

  #send<T>(call: ApiCall): Promise<T> {
    return this.#transport.send<T>(call);
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function withExpiry(options: StoreHelperOptions<JsonObject>): { expiresAt?: string | Date } {
  return options.expiresAt === undefined ? {} : { expiresAt: options.expiresAt };
}

/** The 202 body of a fetch a rule holds for a person. */
interface HeldForApproval {
  approvalId: string;
  status: "pending";
  approvalUrl: string;
  expiresAt: string;
}
