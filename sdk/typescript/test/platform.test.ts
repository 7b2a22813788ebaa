// LoomalPlatform, and the official SDK's error base: against a scripted
// loopback server (what each call sends, what it answers, which calls are
// retried), and the whole life of an identity against a real vault.

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { inspect } from "node:util";

import {
  AuthenticationError,
  Loomal,
  LoomalApiError,
  LoomalError,
  LoomalPlatform,
  MissingApiKeyError,
  NotFoundError,
  SealedError,
  ValidationError,
} from "@loomal/sdk";

import { errorBody, scriptedServer, type ScriptedServer } from "./support/scripted-server.js";
import { realServerSkipReason, startVault } from "./support/vault-server.js";

const KEY = "lopk-" + "P".repeat(43);
const SUMMARY = {
  identityId: "id-1",
  name: "sales-agent",
  type: "AGENT",
  purpose: "BUYER",
  email: null,
  scopes: ["vault:read"],
  usageCount: 0,
  lastUsedAt: null,
  createdAt: "2026-01-01T00:00:00Z",
};
const CREATED = { ...SUMMARY, email: undefined, emailAddress: null, apiKeyPrefix: "loid-abcdefgh", rawKey: "loid-" + "k".repeat(43) };

describe("LoomalPlatform", () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  test("every call sends the official SDK's request and returns the answer", async () => {
    server = await scriptedServer([
      { status: 201, body: CREATED },
      { status: 200, body: { identities: [SUMMARY], count: 1, nextPageToken: "t1" } },
      { status: 200, body: { identities: [], count: 0 } },
      { status: 200, body: { ...SUMMARY, apiKeyPrefix: "loid-abcdefgh" } },
      { status: 200, body: { ...SUMMARY, name: "renamed" } },
      { status: 200, body: { ...SUMMARY, scopes: [] } },
      { status: 200, body: { rawKey: "loid-" + "n".repeat(43), apiKeyPrefix: "loid-nnnnnnnn" } },
      { status: 204 },
    ]);
    const platform = new LoomalPlatform({ apiKey: KEY, baseUrl: server.baseUrl });
    const created = await platform.identities.create({ name: "sales-agent", emailName: "sales", scopes: ["vault:read"] });
    assert.equal(created.rawKey, CREATED.rawKey);
    const names: string[] = [];
    for await (const identity of platform.identities.listAll({ pageSize: 1 })) names.push(identity.name);
    assert.deepEqual(names, ["sales-agent"]);
    assert.equal((await platform.identities.get("id-1")).apiKeyPrefix, "loid-abcdefgh");
    assert.equal((await platform.identities.update("id-1", { name: "renamed" })).name, "renamed");
    assert.deepEqual((await platform.identities.updateScopes("id-1", { removeScopes: ["vault:read"] })).scopes, []);
    assert.equal((await platform.identities.rotateKey("id/1")).apiKeyPrefix, "loid-nnnnnnnn");
    assert.equal(await platform.identities.delete("id-1"), undefined);
    const sent = server.requests.map((r) => [r.method, r.url, r.body]);
    assert.deepEqual(sent, [
      ["POST", "/v0/platform/identities", '{"name":"sales-agent","emailName":"sales","scopes":["vault:read"]}'],
      ["GET", "/v0/platform/identities?limit=1", ""],
      ["GET", "/v0/platform/identities?limit=1&pageToken=t1", ""],
      ["GET", "/v0/platform/identities/id-1", ""],
      ["PATCH", "/v0/platform/identities/id-1", '{"name":"renamed"}'],
      ["PATCH", "/v0/platform/identities/id-1", '{"removeScopes":["vault:read"]}'],
      ["POST", "/v0/platform/identities/id%2F1/rotate-key", ""],
      ["DELETE", "/v0/platform/identities/id-1", ""],
    ]);
    assert.ok(server.requests.every((r) => r.headers["authorization"] === `Bearer ${KEY}`));
  });

  test("create with no argument sends an empty object", async () => {
    server = await scriptedServer([{ status: 201, body: CREATED }]);
    await new LoomalPlatform({ apiKey: KEY, baseUrl: server.baseUrl }).identities.create();
    assert.equal(server.requests[0]?.body, "{}");
  });

  test("create and rotateKey are never retried; list, update and delete are", async () => {
    const sealed = { status: 503, body: errorBody(503, "sealed", "sealed"), headers: { "Retry-After": "0" } };
    server = await scriptedServer([sealed]);
    const platform = new LoomalPlatform({ apiKey: KEY, baseUrl: server.baseUrl, maxRetries: 2 });
    await assert.rejects(platform.identities.create(), SealedError);
    await assert.rejects(platform.identities.rotateKey("id-1"), SealedError);
    assert.equal(server.requests.length, 2);
    await assert.rejects(platform.identities.list(), SealedError);
    assert.equal(server.requests.length, 5);
  });

  test("errors are the SDK's classes, all LoomalApiError", async () => {
    server = await scriptedServer([
      { status: 401, body: errorBody(401, "unauthorized", "A valid API key is required.", "invalid_api_key") },
      { status: 404, body: errorBody(404, "not_found", "No such identity.") },
    ]);
    const platform = new LoomalPlatform({ apiKey: KEY, baseUrl: server.baseUrl, maxRetries: 0 });
    await assert.rejects(platform.identities.list(), (e: unknown) =>
      e instanceof AuthenticationError && e instanceof LoomalApiError && e.code === "unauthorized" && e.status === 401,
    );
    await assert.rejects(platform.identities.get("nope"), NotFoundError);
    await assert.rejects(platform.identities.get(""), ValidationError);
    assert.equal(server.requests.length, 2);
  });
});

describe("configuration of LoomalPlatform", () => {
  const saved: Record<string, string | undefined> = {};
  const names = ["LOOMAL_PLATFORM_KEY", "LOOMAL_API_KEY", "LOOMAL_API_URL", "LOOMAL_BASE_URL"];
  beforeEach(() => {
    for (const name of names) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterEach(() => {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  test("the key comes from LOOMAL_PLATFORM_KEY, never LOOMAL_API_KEY, and never shows", () => {
    process.env["LOOMAL_API_KEY"] = "loid-" + "a".repeat(43);
    assert.throws(
      () => new LoomalPlatform(),
      (e: unknown) => e instanceof MissingApiKeyError && /LOOMAL_PLATFORM_KEY/.test((e as Error).message),
    );
    process.env["LOOMAL_PLATFORM_KEY"] = KEY;
    const platform = new LoomalPlatform();
    assert.equal(platform.baseUrl, "http://127.0.0.1:8470");
    assert.ok(!inspect(platform, { depth: 5 }).includes(KEY));
    assert.ok(!JSON.stringify(platform).includes(KEY));
  });
});

describe("LoomalApiError, the official SDK's error class", () => {
  test("takes the official constructor and is the base of every error", () => {
    const error = new LoomalApiError(404, "not_found", "Resource not found");
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
    assert.equal(error.message, "Resource not found");
    assert.equal(error.name, "LoomalApiError");
    assert.ok(error instanceof Error && error instanceof LoomalError);
    assert.equal(LoomalError, LoomalApiError);
    const typed = new NotFoundError(404, "not_found", "gone");
    assert.ok(typed instanceof LoomalApiError && typed.name === "NotFoundError");
  });
});

const realSkip = realServerSkipReason();

describe("LoomalPlatform against a real vault", { skip: realSkip ?? false }, () => {
  test("create, list with paging, get, update, rotate, delete; the key it made works", async () => {
    const vault = await startVault();
    try {
      const platform = new LoomalPlatform({ apiKey: await vault.platformKey("ts"), baseUrl: vault.baseUrl });
      const created = await platform.identities.create({ name: "ts-agent", scopes: ["vault:read", "vault:write"] });
      assert.equal(created.emailAddress, null);
      const other = await platform.identities.create();
      assert.deepEqual(other.scopes, ["vault:read", "vault:write"]);
      const names: string[] = [];
      for await (const identity of platform.identities.listAll({ pageSize: 1 })) names.push(identity.name);
      assert.deepEqual(names, ["default", "ts-agent", other.name]);
      assert.equal((await platform.identities.get(created.identityId)).apiKeyPrefix, created.apiKeyPrefix);
      const updated = await platform.identities.update(created.identityId, { name: "ts", addScopes: ["vault:use"] });
      assert.deepEqual([updated.name, updated.scopes], ["ts", ["vault:read", "vault:use", "vault:write"]]);
      const { rawKey } = await platform.identities.rotateKey(created.identityId);
      const agent = new Loomal({ apiKey: rawKey, baseUrl: vault.baseUrl });
      await agent.vault.storeApiKey("stripe", "sk_live_ts");
      assert.deepEqual((await agent.vault.get("stripe")).data, { key: "sk_live_ts" });
      const old = new Loomal({ apiKey: created.rawKey, baseUrl: vault.baseUrl, maxRetries: 0 });
      await assert.rejects(old.vault.list(), (e: unknown) => e instanceof LoomalApiError && e.status === 401);
      await platform.identities.delete(created.identityId);
      await assert.rejects(platform.identities.get(created.identityId), NotFoundError);
      const asAgent = new LoomalPlatform({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
      await assert.rejects(asAgent.identities.list(), (e: unknown) =>
        e instanceof LoomalApiError && e.status === 403 && e.code === "forbidden",
      );
    } finally {
      await vault.stop();
    }
  });
});
