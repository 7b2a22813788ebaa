/**
 * `new Loomal({ apiKey, baseUrl })`: configuration, read once and checked in
 * the constructor, so a missing key fails at construction, not at the first
 * call (MissingApiKeyError). Under Node the key and URL default to `LOOMAL_API_KEY` and
 * `LOOMAL_API_URL` (alias `LOOMAL_BASE_URL`); elsewhere (browsers, edge
 * runtimes) they must be passed.
 */

import { AuthenticationError, MissingApiKeyError } from "./errors.js";
import { Transport, type FetchLike } from "./http.js";
import { ApprovalsResource } from "./approvals.js";
import { RequestsResource } from "./requests.js";
import { IdentityResource } from "./identity.js";
import { Vault } from "./vault.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8470";
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RETRIES = 2;

/** `new Loomal(options)`; also `new LoomalPlatform(options)`, whose key is a platform key. */
export interface LoomalOptions {
  /** `loid-...` (default `LOOMAL_API_KEY`); for `LoomalPlatform`, `lopk-...` (default `LOOMAL_PLATFORM_KEY`). */
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

/** The official SDK's name for the options (it has `apiKey` and `baseUrl`). */
export type LoomalConfig = LoomalOptions;

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

/** What every client needs to know about its key: where it comes from, how to name it. */
interface KeySource {
  /** The environment variable read when `apiKey` is not given. */
  env: string;
  /** How the key is named in messages ("API key", "platform key"). */
  name: string;
  /** How a key of this kind starts, for the message of one a header cannot carry. */
  prefix: string;
  /** How to construct the client, for the message of a missing key. */
  example: string;
}

/** The checked configuration of a client, and the transport that sends its calls. */
export interface ClientConfig {
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  transport: Transport;
}

/**
 * Read and check `options` once, in the constructor, so that a missing key or a
 * bad URL fails there, not at the first call. Shared by `Loomal` and `LoomalPlatform`.
 */
export function configure(options: LoomalOptions, key: KeySource): ClientConfig {
  // Trimmed: a key read from a file often ends in a newline, which fetch would
  // refuse as a header value with an error that reads like a network failure.
  const apiKey = (options.apiKey || readEnv(key.env))?.trim();
  if (!apiKey) {
    throw new MissingApiKeyError({
      status: 0,
      code: "missing_api_key",
      message: `No ${key.name}: pass ${key.example} or set ${key.env}.`,
    });
  }
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new AuthenticationError({
      status: 0,
      code: "invalid_api_key",
      message: `The ${key.name} holds characters an HTTP header cannot carry (it should be ${key.prefix}...).`,
    });
  }
  const baseUrl = checkBaseUrl(
    options.baseUrl || readEnv("LOOMAL_API_URL") || readEnv("LOOMAL_BASE_URL") || DEFAULT_BASE_URL,
  );
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError("Loomal: timeoutMs must be a positive number of milliseconds.");
  }
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new RangeError("Loomal: maxRetries must be a whole number, 0 or more.");
  }
  if (options.fetch === undefined && typeof globalThis.fetch !== "function") {
    throw new TypeError("Loomal: no global fetch here (Node 18+ has one); pass options.fetch.");
  }
  const transport = new Transport({
    apiKey,
    baseUrl,
    timeoutMs,
    maxRetries,
    // Looked up at each call and called on globalThis: some platforms' fetch
    // throws when called as a method of another object.
    fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
  });
  return { baseUrl, timeoutMs, maxRetries, transport };
}

export class Loomal {
  /** The vault endpoints: store, get, list, listAll, delete, totp, totpUseBackup, helpers. */
  readonly vault: Vault;
  /** `whoami()`. */
  readonly identity: IdentityResource;
  /** `list`, `get`, `approve`, `deny`: requests a credential's rules hold for a person. */
  readonly approvals: ApprovalsResource;
  /** `create`, `get`, `list`, `fulfill`, `decline`: agents ask for the credentials they lack. */
  readonly requests: RequestsResource;
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;

  constructor(options: LoomalOptions = {}) {
    const config = configure(options, {
      env: "LOOMAL_API_KEY",
      name: "API key",
      prefix: "loid-",
      example: "new Loomal({ apiKey })",
    });
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.timeoutMs;
    this.maxRetries = config.maxRetries;
    this.vault = new Vault(config.transport);
    this.identity = new IdentityResource(config.transport);
    this.approvals = new ApprovalsResource(config.transport);
    this.requests = new RequestsResource(config.transport);
  }
}
