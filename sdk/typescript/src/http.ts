/**
 * Sending one API call: the URL, the bearer header, a timeout per attempt, the
 * retry policy and the mapping of answers to results or errors. The resources
 * (`vault`, `identity`) only describe calls; every rule about the wire lives
 * here, once.
 *
 * Retries: a call marked safe to repeat (GET, PUT, PATCH, DELETE) is retried on a
 * connection failure or timeout, 429, 500, 502, 503 and 504, after
 * `Retry-After` when the server sent one (up to 8 s; a longer one throws the
 * error at once), else after an exponential backoff with jitter. Never retried: the backup-code POST (a repeat could hand out a
 * second code) and `integrity_error` (a tampered row stays tampered), which is
 * decided from the parsed `error` code, never by searching the body.
 */

import {
  ConnectionError,
  errorFromResponse,
  LoomalError,
} from "./errors.js";

/** What the SDK passes to `fetch`: a subset of `RequestInit`. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

/** What the SDK reads from `fetch`'s answer: a subset of `Response`. */
export interface FetchResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** A `fetch`-compatible function (the platform's is used by default). */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

export type HttpMethod = "GET" | "PUT" | "PATCH" | "DELETE" | "POST";

/** One API call, as the resources describe it. */
export interface ApiCall {
  method: HttpMethod;
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Extra request headers (a store's `If-Match` / `If-None-Match`). */
  headers?: Record<string, string>;
  /** False for calls a repeat would change the outcome of (the backup-code POST, creating an identity, rotating its key). */
  safeToRetry: boolean;
}

export interface TransportConfig {
  apiKey: string;
  baseUrl: string;
  timeoutMs: number;
  maxRetries: number;
  fetch: FetchLike;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 8_000;
/**
 * The longest `Retry-After` the SDK waits out itself; a longer one is the
 * caller's decision, so the error is thrown at once (never a shorter wait, which
 * the server would refuse again). The Python SDK has the same cap
 * (`RETRY_AFTER_MAX` in src/loomal/client/_base.py).
 */
const RETRY_AFTER_MAX_MS = 8_000;

export class Transport {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  // Private fields: neither util.inspect, JSON.stringify nor a spread shows them.
  readonly #apiKey: string;
  readonly #fetch: FetchLike;

  constructor(config: TransportConfig) {
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.timeoutMs;
    this.maxRetries = config.maxRetries;
    this.#apiKey = config.apiKey;
    this.#fetch = config.fetch;
  }

  /** Send `call`, retrying when that is safe; resolve to the parsed JSON (undefined for 204). */
  async send<T>(call: ApiCall): Promise<T> {
    const url = this.#url(call);
    const headers: Record<string, string> = {
      ...call.headers,
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: "application/json",
    };
    const init: Omit<FetchInit, "signal"> =
      call.body === undefined
        ? { method: call.method, headers }
        : {
            method: call.method,
            headers: { ...headers, "Content-Type": "application/json" },
            body: JSON.stringify(call.body),
          };

    for (let attempt = 0; ; attempt++) {
      const mayRetry = call.safeToRetry && attempt < this.maxRetries;
      let status: number;
      let text: string;
      let retryAfterHeader: string | null;
      try {
        const response = await this.#fetch(url, { ...init, signal: timeoutSignal(this.timeoutMs) });
        status = response.status;
        retryAfterHeader = response.headers.get("retry-after");
        text = await response.text();
      } catch (caught) {
        const error = this.#connectionError(caught);
        if (!mayRetry) throw error;
        await sleep(backoffMs(attempt));
        continue;
      }

      if (status >= 200 && status < 300) return this.#parseSuccess<T>(status, text);

      const retryAfterMs = parseRetryAfterMs(retryAfterHeader);
      const error = this.#parseError(status, text, retryAfterMs);
      if (!mayRetry || !RETRY_STATUSES.has(status) || error.code === "integrity_error") {
        throw error;
      }
      if (retryAfterMs !== undefined && retryAfterMs > RETRY_AFTER_MAX_MS) throw error;
      await sleep(retryAfterMs ?? backoffMs(attempt));
    }
  }

  #url(call: ApiCall): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) params.set(key, String(value));
    }
    const query = params.toString();
    return `${this.baseUrl}${call.path}${query ? `?${query}` : ""}`;
  }

  #parseSuccess<T>(status: number, text: string): T {
    if (status === 204 || text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      // Never the body itself in the message: a success body holds secrets.
      throw new LoomalError({
        status,
        code: "invalid_response",
        message: `Unexpected answer from ${this.baseUrl} (HTTP ${status}, not JSON).`,
      });
    }
  }

  #parseError(status: number, text: string, retryAfterMs: number | undefined): LoomalError {
    let code = "http_error";
    let message = `HTTP ${status} from ${this.baseUrl}.`;
    let reason: string | undefined;
    try {
      const body: unknown = JSON.parse(text);
      if (isRecord(body) && typeof body["error"] === "string") {
        code = body["error"];
        if (typeof body["message"] === "string") message = body["message"];
        if (typeof body["reason"] === "string") reason = body["reason"];
      }
    } catch {
      // Not JSON (a proxy's page): keep the generic message, never the page.
    }
    const retryAfter = retryAfterMs === undefined ? undefined : retryAfterMs / 1000;
    return errorFromResponse({ status, code, message, reason, retryAfter });
  }

  #connectionError(caught: unknown): ConnectionError {
    // Only the error's name and a system code (ECONNREFUSED) are kept: a custom
    // fetch's error could hold the request, headers included.
    const name = caught instanceof Error ? caught.name : "";
    if (name === "TimeoutError" || name === "AbortError") {
      return new ConnectionError({
        status: 0,
        code: "timeout",
        message: `No answer from ${this.baseUrl} within ${this.timeoutMs} ms.`,
      });
    }
    const cause = caught instanceof Error ? (caught as { cause?: unknown }).cause : undefined;
    const systemCode = isRecord(cause) && typeof cause["code"] === "string" ? cause["code"] : "";
    const detail = /^[A-Z][A-Z0-9_]{1,40}$/.test(systemCode) ? ` (${systemCode})` : "";
    return new ConnectionError({
      status: 0,
      code: "connection_error",
      message: `Could not reach Loomal at ${this.baseUrl}${detail}; is \`loomal serve\` running?`,
    });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function timeoutSignal(ms: number): AbortSignal {
  if (typeof AbortSignal.timeout === "function") return AbortSignal.timeout(ms);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), ms);
  return controller.signal;
}

/** Exponential backoff with jitter: attempt 0 waits 125..250 ms, then twice that, up to 8 s. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling * (0.5 + Math.random() / 2);
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
function parseRetryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
