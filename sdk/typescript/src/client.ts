/**
 * `new Loomal({ apiKey, baseUrl })`: configuration, read once and checked in
 * the constructor, so a missing key fails at construction, not at the first
 * call (MissingApiKeyError). Under Node the key and URL default to `LOOMAL_API_KEY` and
 * `LOOMAL_API_URL` (alias `LOOMAL_BASE_URL`); elsewhere (browsers, edge
 * runtimes) they must be passed.
 */

import { AuthenticationError, MissingApiKeyError } from "./errors.js";
import { Transport, type FetchLike } from "./http.js";
import { IdentityResource } from "./identity.js";
import { Vault } from "./vault.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8470";
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RETRIES = 2;

export interface LoomalOptions {
  /** `loid-...`; default `LOOMAL_API_KEY`. */
  apiKey?: string;
  /** Default `LOOMAL_API_URL`, then `LOOMAL_BASE_URL`, then http://127.0.0.1:8470. */
  baseUrl?: string;
  /** Per attempt, in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Retries of a call that is safe to repeat (default 2; 0 turns them off). */
  maxRetries?: number;
  /** A fetch-compatible function (default: the platform's `fetch`). */
  fetch?: FetchLike;
}

/** An environment variable when running under Node (or a runtime that mimics it). */
function readEnv(name: string): string | undefined {
  try {
    const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } })
      .process;
    const value = proc?.env?.[name];
    return value ? value : undefined;
  } catch {
    return undefined; // e.g. Deno without --allow-env
  }
}

function checkBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError("Loomal: baseUrl must be an absolute http(s) URL.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError("Loomal: baseUrl must be an absolute http(s) URL.");
  }
  return raw.replace(/\/+$/, "");
}

export class Loomal {
  /** The vault endpoints: store, get, list, listAll, delete, totp, totpUseBackup, helpers. */
  readonly vault: Vault;
  /** `whoami()`. */
  readonly identity: IdentityResource;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;

  constructor(options: LoomalOptions = {}) {
    // Trimmed: a key read from a file often ends in a newline, which fetch would
    // refuse as a header value with an error that reads like a network failure.
    const apiKey = (options.apiKey || readEnv("LOOMAL_API_KEY"))?.trim();
    if (!apiKey) {
      throw new MissingApiKeyError({
        status: 0,
        code: "missing_api_key",
        message: "No API key: pass new Loomal({ apiKey }) or set LOOMAL_API_KEY.",
      });
    }
    if (!/^[\x21-\x7e]+$/.test(apiKey)) {
      throw new AuthenticationError({
        status: 0,
        code: "invalid_api_key",
        message: "The API key holds characters an HTTP header cannot carry (it should be loid-...).",
      });
    }
    this.baseUrl = checkBaseUrl(
      options.baseUrl || readEnv("LOOMAL_API_URL") || readEnv("LOOMAL_BASE_URL") || DEFAULT_BASE_URL,
    );
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw new RangeError("Loomal: timeoutMs must be a positive number of milliseconds.");
    }
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) {
      throw new RangeError("Loomal: maxRetries must be a whole number, 0 or more.");
    }
    if (options.fetch === undefined && typeof globalThis.fetch !== "function") {
      throw new TypeError("Loomal: no global fetch here (Node 18+ has one); pass options.fetch.");
    }
    const transport = new Transport({
      apiKey,
      baseUrl: this.baseUrl,
      timeoutMs: this.timeoutMs,
      maxRetries: this.maxRetries,
      // Looked up at each call and called on globalThis: some platforms' fetch
      // throws when called as a method of another object.
      fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    });
    this.vault = new Vault(transport);
    this.identity = new IdentityResource(transport);
  }
}
