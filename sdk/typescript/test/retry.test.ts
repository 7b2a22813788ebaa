// Retries, timeouts and the request's shape, watched from a scripted node:http
// server on 127.0.0.1 that counts the attempts it received.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { inspect } from "node:util";

import {
  ConnectionError,
  IntegrityError,
  Loomal,
  NotFoundError,
  RateLimitError,
  SealedError,
  ServerError,
  ValidationError,
} from "@loomal/sdk";

import { errorBody, scriptedServer, type ScriptedServer, type Step } from "./support/scripted-server.js";

const API_KEY = "loid-test-key-that-must-never-leak-0123456789";
const servers: ScriptedServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function serve(steps: Step[]): Promise<ScriptedServer> {
  const server = await scriptedServer(steps);
  servers.push(server);
  return server;
}

function client(server: ScriptedServer, options: { maxRetries?: number; timeoutMs?: number } = {}): Loomal {
  return new Loomal({ apiKey: API_KEY, baseUrl: server.baseUrl, ...options });
}

const TOTP = { code: "492039", remaining: 17, backupCodesRemaining: 2 };
const SEALED: Step = { status: 503, body: errorBody(503, "sealed", "The vault is sealed."), headers: { "Retry-After": "0" } };

describe("retries of calls that are safe to repeat", () => {
  test("a GET answered 503 then 200 succeeds on the second attempt", async () => {
    const server = await serve([SEALED, { status: 200, body: TOTP }]);
    const result = await client(server).vault.totp("github-2fa");
    assert.deepEqual(result, TOTP);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(
      server.requests.map((r) => `${r.method} ${r.url}`),
      ["GET /v0/vault/github-2fa/totp", "GET /v0/vault/github-2fa/totp"],
    );
  });

  test("without Retry-After the wait is an exponential backoff with jitter", async () => {
    const server = await serve([
      { status: 502, body: "<html>bad gateway</html>" },
      { status: 500, body: errorBody(500, "internal_error", "An internal error occurred.") },
      { status: 200, body: TOTP },
    ]);
    const started = performance.now();
    await client(server).vault.totp("x");
    const elapsed = performance.now() - started;
    assert.equal(server.requests.length, 3);
    // attempt 0 waits 125..250 ms, attempt 1 250..500 ms
    assert.ok(elapsed >= 370, `waited ${elapsed} ms`);
    assert.ok(elapsed < 2000, `waited ${elapsed} ms`);
  });

  test("Retry-After on 429 is honoured", async () => {
    const server = await serve([
      { status: 429, body: errorBody(429, "rate_limited", "Too many requests."), headers: { "Retry-After": "1" } },
      { status: 200, body: { credentials: [], count: 0 } },
    ]);
    const started = performance.now();
    const list = await client(server).vault.list();
    assert.deepEqual(list, { credentials: [], count: 0 });
    assert.equal(server.requests.length, 2);
    assert.ok(performance.now() - started >= 950);
  });

  test("a Retry-After beyond 8 s is left to the caller: RateLimitError at once", async () => {
    const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
    for (const retryAfter of ["9", "3600", inAnHour]) {
      const server = await serve([
        { status: 429, body: errorBody(429, "rate_limited", "Too many requests."), headers: { "Retry-After": retryAfter } },
        { status: 200, body: {} },
      ]);
      const started = performance.now();
      const error = await client(server).vault.get("stripe").catch((e: unknown) => e);
      assert.ok(performance.now() - started < 1000, `waited for Retry-After: ${retryAfter}`);
      assert.ok(error instanceof RateLimitError, retryAfter);
      assert.ok(error.retryAfter !== undefined && error.retryAfter >= 9, retryAfter);
      assert.equal(error.status, 429);
      assert.equal(server.requests.length, 1, retryAfter);
    }
  });

  test("the cap holds for any retried status: a 503 with a long Retry-After throws at once", async () => {
    const server = await serve([
      { status: 503, body: errorBody(503, "sealed", "The vault is sealed."), headers: { "Retry-After": "30" } },
      { status: 200, body: TOTP },
    ]);
    const started = performance.now();
    await assert.rejects(client(server).vault.totp("x"), SealedError);
    assert.ok(performance.now() - started < 1000);
    assert.equal(server.requests.length, 1);
  });

  test("maxRetries bounds the attempts, then the last error is thrown", async () => {
    const server = await serve([SEALED]);
    const error = await client(server, { maxRetries: 2 }).vault.get("stripe").catch((e: unknown) => e);
    assert.ok(error instanceof SealedError);
    assert.equal(error.code, "sealed");
    assert.equal(error.status, 503);
    assert.equal(server.requests.length, 3);
  });

  test("maxRetries: 0 turns retries off", async () => {
    const server = await serve([SEALED]);
    await assert.rejects(client(server, { maxRetries: 0 }).vault.get("stripe"), SealedError);
    assert.equal(server.requests.length, 1);
  });

  test("PUT and DELETE are retried", async () => {
    const stored = {
      credentialId: "cred_1",
      type: "LOGIN",
      name: "github",
      metadata: {},
      expiresAt: null,
      createdAt: "2026-01-01T00:00:00Z",
    };
    const put = await serve([SEALED, { status: 201, body: stored }]);
    const result = await client(put).vault.store("github", { type: "LOGIN", data: { password: "s3cret!" } });
    assert.deepEqual(result, stored);
    assert.equal(put.requests.length, 2);
    assert.equal(put.requests[0]?.body, put.requests[1]?.body);

    const del = await serve([SEALED, { status: 204 }]);
    assert.equal(await client(del).vault.delete("github"), undefined);
    assert.deepEqual(del.requests.map((r) => r.method), ["DELETE", "DELETE"]);
  });

  test("a dropped connection is retried for a GET", async () => {
    const server = await serve([{ drop: true }, { status: 200, body: TOTP }]);
    assert.deepEqual(await client(server).vault.totp("x"), TOTP);
    assert.equal(server.requests.length, 2);
  });

  test("a timed-out attempt is retried, and the last timeout is a ConnectionError", async () => {
    const slowThenFast = await serve([{ status: 200, body: TOTP, delayMs: 1500 }, { status: 200, body: TOTP }]);
    assert.deepEqual(await client(slowThenFast, { timeoutMs: 200 }).vault.totp("x"), TOTP);
    assert.equal(slowThenFast.requests.length, 2);

    const slow = await serve([{ status: 200, body: TOTP, delayMs: 1500 }]);
    const started = performance.now();
    const error = await client(slow, { timeoutMs: 200, maxRetries: 0 }).vault.totp("x").catch((e: unknown) => e);
    assert.ok(error instanceof ConnectionError);
    assert.equal(error.code, "timeout");
    assert.equal(error.status, 0);
    assert.match(error.message, /within 200 ms/);
    assert.ok(performance.now() - started < 1400);
  });
});

test("the SDK logs nothing, not even while retrying and failing", async () => {
  const server = await serve([{ drop: true }, SEALED, { status: 500, body: errorBody(500, "integrity_error", "x") }]);
  const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const saved = methods.map((m) => console[m]);
  const written: string[] = [];
  for (const m of methods) console[m] = (...args: unknown[]) => void written.push(args.map(String).join(" "));
  const stderrWrite = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof stderrWrite;
  try {
    await assert.rejects(client(server).vault.get("stripe"), IntegrityError);
  } finally {
    methods.forEach((m, i) => (console[m] = saved[i]!));
    process.stderr.write = stderrWrite;
  }
  assert.equal(server.requests.length, 3);
  assert.deepEqual(written, []);
});

describe("calls and answers that are never retried", () => {
  test("totpUseBackup is not retried on 503", async () => {
    const server = await serve([SEALED, { status: 200, body: { code: "abcd-1234", remaining: 1 } }]);
    await assert.rejects(client(server).vault.totpUseBackup("github-2fa"), SealedError);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]?.method, "POST");
    assert.equal(server.requests[0]?.url, "/v0/vault/github-2fa/totp/backup");
  });

  test("totpUseBackup is not retried when the connection drops", async () => {
    const server = await serve([{ drop: true }, { status: 200, body: { code: "abcd-1234", remaining: 1 } }]);
    const error = await client(server).vault.totpUseBackup("github-2fa").catch((e: unknown) => e);
    assert.ok(error instanceof ConnectionError);
    assert.equal(error.code, "connection_error");
    assert.equal(server.requests.length, 1);
  });

  test("totpUseBackup is not retried after a timeout", async () => {
    const server = await serve([{ status: 200, body: { code: "abcd-1234", remaining: 1 }, delayMs: 1000 }]);
    await assert.rejects(client(server, { timeoutMs: 150 }).vault.totpUseBackup("x"), ConnectionError);
    assert.equal(server.requests.length, 1);
  });

  test("integrity_error is never retried", async () => {
    const server = await serve([
      { status: 500, body: errorBody(500, "integrity_error", "A stored credential failed its integrity check.") },
      { status: 200, body: {} },
    ]);
    const error = await client(server).vault.get("stripe").catch((e: unknown) => e);
    assert.ok(error instanceof IntegrityError);
    assert.ok(error instanceof ServerError);
    assert.equal(error.code, "integrity_error");
    assert.equal(server.requests.length, 1);
  });

  test("the decision reads the parsed code, not the body's text", async () => {
    const server = await serve([
      { status: 500, body: errorBody(500, "internal_error", "Not an integrity_error, just a hiccup.") },
      { status: 200, body: TOTP },
    ]);
    assert.deepEqual(await client(server).vault.totp("x"), TOTP);
    assert.equal(server.requests.length, 2);
  });

  test("4xx answers are not retried", async () => {
    const server = await serve([
      { status: 404, body: errorBody(404, "not_found", "No credential named stripe.") },
      { status: 200, body: {} },
    ]);
    const error = await client(server).vault.get("stripe").catch((e: unknown) => e);
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.message, "No credential named stripe.");
    assert.equal(server.requests.length, 1);
  });
});

describe("what goes on the wire", () => {
  test("bearer key, JSON body, encoded name, no secret anywhere but the body", async () => {
    const server = await serve([
      { status: 422, body: errorBody(422, "validation_error", "data.password is required for LOGIN.") },
    ]);
    const secret = "hunter2-do-not-leak";
    const error = await client(server)
      .vault.store("my key/..", {
        type: "LOGIN",
        data: { password: secret },
        metadata: { username: "bot" },
        expiresAt: new Date("2030-01-02T03:04:05Z"),
      })
      .catch((e: unknown) => e);
    const seen = server.requests[0];
    assert.ok(seen);
    assert.equal(seen.method, "PUT");
    assert.equal(seen.url, "/v0/vault/my%20key%2F..");
    assert.equal(seen.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(seen.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(seen.body), {
      type: "LOGIN",
      data: { password: secret },
      metadata: { username: "bot" },
      expiresAt: "2030-01-02T03:04:05.000Z",
    });
    assert.ok(error instanceof ValidationError);
    assert.equal(error.message, "data.password is required for LOGIN.");
    for (const text of [String(error), error.stack ?? "", inspect(error, { depth: 10 }), JSON.stringify(error)]) {
      assert.ok(!text.includes(secret), "the request body leaked into the error");
      assert.ok(!text.includes(API_KEY), "the API key leaked into the error");
    }
  });

  test("list passes limit and cursor as query parameters", async () => {
    const server = await serve([{ status: 200, body: { credentials: [], count: 0, nextCursor: null } }]);
    await client(server).vault.list({ limit: 2, cursor: "abc=" });
    assert.equal(server.requests[0]?.url, "/v0/vault?limit=2&cursor=abc%3D");
  });

  test("names that would leave their path segment are refused before sending", async () => {
    const server = await serve([{ status: 200, body: {} }]);
    const loomal = client(server);
    for (const name of ["", ".", ".."]) {
      const error = await loomal.vault.get(name).catch((e: unknown) => e);
      assert.ok(error instanceof ValidationError, `name ${JSON.stringify(name)}`);
      assert.equal(error.code, "invalid_name");
    }
    assert.equal(server.requests.length, 0);
  });

  test("a non-JSON error page gives a generic message, never the page", async () => {
    const server = await serve([{ status: 502, body: "<html>upstream says hunter2</html>" }]);
    const error = await client(server, { maxRetries: 0 }).vault.get("x").catch((e: unknown) => e);
    assert.ok(error instanceof ServerError);
    assert.equal(error.code, "http_error");
    assert.equal(error.message, `HTTP 502 from ${server.baseUrl}.`);
  });

  test("a non-JSON success is an invalid_response error without the body", async () => {
    const server = await serve([{ status: 200, body: "password=hunter2" }]);
    const error = await client(server).vault.get("x").catch((e: unknown) => e);
    assert.ok(error instanceof Error && "code" in error);
    assert.equal(error.code, "invalid_response");
    assert.ok(!error.message.includes("hunter2"));
  });
});
