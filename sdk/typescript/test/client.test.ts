// Construction, configuration from the environment, the package's shape, and
// failures to connect. No vault needed.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { inspect } from "node:util";

import * as sdk from "@loomal/sdk";
import {
  AuthenticationError,
  ConnectionError,
  DEFAULT_BASE_URL,
  Loomal,
  LoomalError,
  MissingApiKeyError,
  type FetchInit,
} from "@loomal/sdk";

import { freePort, PACKAGE_ROOT } from "./support/vault-server.js";

const ENV_NAMES = ["LOOMAL_API_KEY", "LOOMAL_API_URL", "LOOMAL_BASE_URL"] as const;
const KEY = "loid-abcdefghijklmnopqrstuvwxyz0123456789";

describe("configuration", () => {
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const name of ENV_NAMES) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterEach(() => {
    for (const name of ENV_NAMES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test("a missing key is an AuthenticationError at construction", () => {
    assert.throws(
      () => new Loomal(),
      (error: unknown) =>
        error instanceof MissingApiKeyError &&
        error instanceof AuthenticationError &&
        error instanceof LoomalError &&
        error.code === "missing_api_key" &&
        /LOOMAL_API_KEY/.test(error.message),
    );
    assert.throws(() => new Loomal({ apiKey: "" }), AuthenticationError);
  });

  test("a key is trimmed; one a header cannot carry is refused without echoing it", async () => {
    let sent = "";
    const loomal = new Loomal({
      apiKey: `  ${KEY}\n`,
      fetch: async (_url: string, init: FetchInit) => {
        sent = init.headers["Authorization"] ?? "";
        return new Response(null, { status: 204 });
      },
    });
    await loomal.vault.delete("x");
    assert.equal(sent, `Bearer ${KEY}`);
    const bad = "loid-\u00e9t\u00e9-secret";
    assert.throws(
      () => new Loomal({ apiKey: bad }),
      (error: unknown) =>
        error instanceof AuthenticationError &&
        error.code === "invalid_api_key" &&
        !String(error).includes(bad),
    );
  });

  test("the key comes from LOOMAL_API_KEY, the URL defaults to the local vault", () => {
    process.env["LOOMAL_API_KEY"] = KEY;
    const loomal = new Loomal();
    assert.equal(loomal.baseUrl, DEFAULT_BASE_URL);
    assert.equal(DEFAULT_BASE_URL, "http://127.0.0.1:8470");
    assert.equal(loomal.timeoutMs, 30_000);
    assert.equal(loomal.maxRetries, 2);
  });

  test("LOOMAL_API_URL, then its alias LOOMAL_BASE_URL; options win over both", () => {
    process.env["LOOMAL_BASE_URL"] = "http://127.0.0.2:9000/";
    assert.equal(new Loomal({ apiKey: KEY }).baseUrl, "http://127.0.0.2:9000");
    process.env["LOOMAL_API_URL"] = "http://127.0.0.3:9000";
    assert.equal(new Loomal({ apiKey: KEY }).baseUrl, "http://127.0.0.3:9000");
    assert.equal(new Loomal({ apiKey: KEY, baseUrl: "https://vault.example" }).baseUrl, "https://vault.example");
  });

  test("bad options are refused, without echoing them", () => {
    assert.throws(() => new Loomal({ apiKey: KEY, baseUrl: "ftp://x" }), TypeError);
    assert.throws(() => new Loomal({ apiKey: KEY, baseUrl: "not a url" }), /absolute http\(s\) URL/);
    assert.throws(() => new Loomal({ apiKey: KEY, timeoutMs: 0 }), RangeError);
    assert.throws(() => new Loomal({ apiKey: KEY, maxRetries: -1 }), RangeError);
    assert.throws(() => new Loomal({ apiKey: KEY, maxRetries: 1.5 }), RangeError);
  });

  test("the key is in no inspectable or serialisable part of the client", () => {
    const loomal = new Loomal({ apiKey: KEY });
    for (const text of [inspect(loomal, { depth: 10, showHidden: true }), JSON.stringify(loomal), String(loomal)]) {
      assert.ok(!text.includes(KEY), text);
    }
  });

  test("a custom fetch receives every request", async () => {
    const seen: string[] = [];
    const loomal = new Loomal({
      apiKey: KEY,
      baseUrl: "http://127.0.0.1:1",
      fetch: async (url: string, init: FetchInit) => {
        seen.push(`${init.method} ${url} ${init.headers["Authorization"] === `Bearer ${KEY}`}`);
        return new Response(JSON.stringify({ identityId: "id_1", scopes: [] }), { status: 200 });
      },
    });
    const me = await loomal.identity.whoami();
    assert.equal(me.identityId, "id_1");
    assert.deepEqual(seen, ["GET http://127.0.0.1:1/v0/whoami true"]);
  });
});

describe("connection failures", () => {
  test("a port nobody listens on is a ConnectionError naming the cause, not the key", async () => {
    const port = await freePort();
    const loomal = new Loomal({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}`, maxRetries: 1 });
    const error = await loomal.vault
      .store("x", { type: "LOGIN", data: { password: "hunter2-secret" } })
      .catch((e: unknown) => e);
    assert.ok(error instanceof ConnectionError);
    assert.ok(error instanceof LoomalError);
    assert.equal(error.status, 0);
    assert.equal(error.code, "connection_error");
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(error.cause, undefined);
    const text = `${inspect(error, { depth: 10, showHidden: true })} ${JSON.stringify(error)}`;
    assert.ok(!text.includes(KEY));
    assert.ok(!text.includes("hunter2-secret"));
  });
});

describe("the package", () => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as Record<string, unknown>;

  test("has no runtime dependencies", () => {
    assert.equal(pkg["dependencies"], undefined);
    assert.equal(pkg["peerDependencies"], undefined);
    assert.deepEqual(Object.keys(pkg["devDependencies"] as object).sort(), ["@types/node", "typescript"]);
  });

  test("ships ESM with type declarations", () => {
    assert.equal(pkg["name"], "@loomal/sdk");
    assert.equal(pkg["type"], "module");
    for (const file of ["dist/index.js", "dist/index.d.ts"]) {
      assert.ok(existsSync(join(PACKAGE_ROOT, file)), file);
    }
    assert.match(readFileSync(join(PACKAGE_ROOT, "dist/index.js"), "utf8"), /^export \{/m);
  });

  test("exports exactly the documented runtime names", () => {
    assert.deepEqual(Object.keys(sdk).sort(), [
      "ApprovalPendingError",
      "ApprovalsResource",
      "AuthenticationError",
      "BadGatewayError",
      "BadRequestError",
      "ConflictError",
      "ConnectionError",
      "DEFAULT_BASE_URL",
      "DEFAULT_MAX_RETRIES",
      "DEFAULT_TIMEOUT_MS",
      "ExpiredError",
      "IdentityResource",
      "IntegrityError",
      "Loomal",
      "LoomalApiError",
      "LoomalError",
      "LoomalPlatform",
      "MissingApiKeyError",
      "NotFoundError",
      "PayloadTooLargeError",
      "PermissionDeniedError",
      "PlatformIdentities",
      "PreconditionFailedError",
      "RateLimitError",
      "RequestsResource",
      "SealedError",
      "ServerError",
      "ValidationError",
      "Vault",
    ]);
  });

  test("errors carry their class name and a status-based hierarchy", () => {
    const error = new sdk.IntegrityError({ status: 500, code: "integrity_error", message: "tampered" });
    assert.equal(error.name, "IntegrityError");
    assert.match(error.stack ?? "", /^IntegrityError: tampered/);
    assert.ok(error instanceof sdk.ServerError && error instanceof sdk.LoomalError && error instanceof Error);
    // As in the Python SDK: sealed is its own branch, not a ServerError.
    const sealed = new sdk.SealedError({ status: 503, code: "sealed", message: "sealed" });
    assert.ok(sealed instanceof sdk.LoomalError && !(sealed instanceof sdk.ServerError));
  });
});
