// Every call of the SDK against a real `loomal serve` (started here on a free
// loopback port with its own data dir): the seed's example, results, paging,
// TOTP and backup codes, whoami and the typed helpers.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { BadRequestError, type FetchInit, Loomal, NotFoundError } from "@loomal/sdk";

import { totpAt } from "./support/totp.js";
import { realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SEED = "JBSWY3DPEHPK3PXP";
const REDACTED_SEED = "[use /v0/vault/:name/totp]";

const skip = realServerSkipReason();

describe("the SDK against a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let loomal: Loomal;

  before(async () => {
    vault = await startVault();
    loomal = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
  });
  after(async () => {
    await vault?.stop();
  });

  test("the seed's first example runs as written", async () => {
    process.env["LOOMAL_API_KEY"] = vault.apiKey;
    process.env["LOOMAL_API_URL"] = vault.baseUrl;
    try {
      const { credential } = await import("./fixtures/seed-example.js");
      assert.match(credential.credentialId, /^cred_/);
      assert.equal(credential.type, "API_KEY");
      assert.equal(credential.name, "stripe");
      assert.deepEqual(credential.metadata, { service: "stripe", prefix: "sk_live_...c123" });
      assert.equal(credential.expiresAt, null);
      assert.match(credential.createdAt, ISO_UTC);
    } finally {
      delete process.env["LOOMAL_API_KEY"];
      delete process.env["LOOMAL_API_URL"];
    }
    const stored = await loomal.vault.get("stripe");
    assert.equal(stored.type, "API_KEY");
    assert.deepEqual(stored.data, { key: "sk_live_abc123..." });
  });

  test("get answers the decrypted data, hasTOTP and when it was last used", async () => {
    await loomal.vault.store("github", {
      type: "LOGIN",
      data: { password: "s3cret!", totp: SEED },
      metadata: { uri: "https://github.com", username: "agent-bot" },
    });
    const credential = await loomal.vault.get("github");
    assert.equal(credential.type, "LOGIN");
    if (credential.type !== "LOGIN") return;
    assert.equal(credential.data.password, "s3cret!");
    assert.equal(credential.data.totp, REDACTED_SEED);
    assert.equal(credential.hasTOTP, true);
    assert.equal(credential.metadata.username, "agent-bot");
    assert.match(credential.credentialId, /^cred_/);
    assert.match(credential.createdAt, ISO_UTC);
    const summary = (await loomal.vault.list()).credentials.find((c) => c.name === "github");
    assert.ok(summary?.lastUsedAt, "lastUsedAt is set after a get");
    assert.match(summary.lastUsedAt, ISO_UTC);
  });

  test("overwriting keeps credentialId and createdAt and sets lastRotatedAt", async () => {
    const first = await loomal.vault.store("rotating", { type: "SMTP", data: { password: "one" } });
    const second = await loomal.vault.store("rotating", {
      type: "SMTP",
      data: { password: "two" },
      metadata: { host: "smtp.example.com", port: 587 },
    });
    assert.equal(second.credentialId, first.credentialId);
    assert.equal(second.createdAt, first.createdAt);
    assert.deepEqual(second.metadata, { host: "smtp.example.com", port: 587 });
    const summary = (await loomal.vault.list()).credentials.find((c) => c.name === "rotating");
    assert.ok(summary?.lastRotatedAt);
    const credential = await loomal.vault.get("rotating");
    assert.equal(credential.type === "SMTP" && credential.data.password, "two");
  });

  test("list answers summaries without any secret, and their count", async () => {
    await loomal.vault.store("aws-prod", {
      type: "AWS",
      data: { secretAccessKey: "aws-secret-value", sessionToken: "aws-session-value" },
      metadata: { accessKeyId: "AKIAEXAMPLE", region: "eu-west-1" },
    });
    const list = await loomal.vault.list();
    assert.equal(list.count, list.credentials.length);
    const summary = list.credentials.find((c) => c.name === "aws-prod");
    assert.ok(summary);
    assert.equal(summary.type, "AWS");
    assert.deepEqual(summary.metadata, { accessKeyId: "AKIAEXAMPLE", region: "eu-west-1" });
    assert.equal(summary.expiresAt, null);
    assert.equal(summary.lastRotatedAt, null);
    assert.ok(!("data" in summary));
    assert.ok(!JSON.stringify(list).includes("aws-secret-value"));
  });

  test("list pages with limit and cursor; listAll follows every page", async () => {
    const names = ["page-a", "page-b", "page-c", "page-d", "page-e"];
    for (const name of names) await loomal.vault.store(name, { type: "CUSTOM", data: { n: name } });
    const total = (await loomal.vault.list()).count;
    assert.ok(total > 4);

    const first = await loomal.vault.list({ limit: 2 });
    assert.equal(first.credentials.length, 2);
    assert.equal(typeof first.nextCursor, "string");
    const second = await loomal.vault.list({ limit: 2, cursor: first.nextCursor! });
    assert.equal(second.credentials.length, 2);
    assert.deepEqual(
      new Set([...first.credentials, ...second.credentials].map((c) => c.name)).size,
      4,
      "pages do not overlap",
    );

    const requests: string[] = [];
    const counting = new Loomal({
      apiKey: vault.apiKey,
      baseUrl: vault.baseUrl,
      fetch: (url: string, init: FetchInit) => {
        requests.push(url);
        return fetch(url, init);
      },
    });
    const seen: string[] = [];
    for await (const summary of counting.vault.listAll({ pageSize: 2 })) seen.push(summary.name);
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total);
    for (const name of names) assert.ok(seen.includes(name), name);
    // ceil(total / 2) pages, plus an empty last one if the server cannot tell a full page is the last
    assert.ok(requests.length >= Math.ceil(total / 2) && requests.length <= Math.ceil(total / 2) + 1);
    assert.ok(requests.every((url) => url.includes("limit=2")));
    assert.ok(requests.slice(1).every((url) => url.includes("cursor=")));
  });

  test("delete answers nothing; the credential is gone", async () => {
    await loomal.vault.store("to-delete", { type: "CUSTOM", data: { x: 1 } });
    assert.equal(await loomal.vault.delete("to-delete"), undefined);
    await assert.rejects(loomal.vault.get("to-delete"), NotFoundError);
    await assert.rejects(loomal.vault.delete("to-delete"), NotFoundError);
  });

  test("totp answers the RFC 6238 code, its validity and the backup codes left", async () => {
    await loomal.vault.store("github-2fa", {
      type: "TOTP",
      data: { secret: SEED, backupCodes: ["abcd-1234", "efgh-5678"] },
      metadata: { issuer: "GitHub", account: "agent-bot" },
    });
    const now = Date.now() / 1000;
    const { code, remaining } = await loomal.vault.totp("github-2fa");
    const totp = await loomal.vault.totp("github-2fa");
    const expected = [now - 30, now, now + 30].map((t) => totpAt(SEED, t));
    assert.ok(expected.includes(code), `${code} is not one of ${expected.join(", ")}`);
    assert.ok(remaining >= 1 && remaining <= 30, `remaining ${remaining}`);
    assert.equal(totp.backupCodesRemaining, 2);
    assert.ok(!JSON.stringify(totp).includes("abcd-1234"));

    const credential = await loomal.vault.get("github-2fa");
    assert.equal(credential.type, "TOTP");
    if (credential.type !== "TOTP") return;
    assert.equal(credential.data.secret, REDACTED_SEED);
    assert.deepEqual(credential.data.backupCodes, ["abcd-1234", "efgh-5678"]);
    assert.equal(credential.hasTOTP, true);
  });

  test("totpUseBackup hands out each code once, in order, then refuses", async () => {
    await loomal.vault.store("gitlab-2fa", {
      type: "TOTP",
      data: { secret: SEED, backupCodes: ["abcd-1234", "efgh-5678"] },
    });
    const first = await loomal.vault.totpUseBackup("gitlab-2fa");
    assert.equal(first.code, "abcd-1234");
    assert.equal(first.remaining, 1);
    const second = await loomal.vault.totpUseBackup("gitlab-2fa");
    assert.equal(second.code, "efgh-5678");
    assert.equal(second.remaining, 0);
    const error = await loomal.vault.totpUseBackup("gitlab-2fa").catch((e: unknown) => e);
    assert.ok(error instanceof BadRequestError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "bad_request");
    assert.equal((await loomal.vault.totp("gitlab-2fa")).backupCodesRemaining, 0);
    const credential = await loomal.vault.get("gitlab-2fa");
    assert.ok(credential.type === "TOTP");
    assert.deepEqual(credential.data.backupCodes, []);
    assert.deepEqual(credential.data.usedBackupCodes, ["abcd-1234", "efgh-5678"]);
  });

  test("concurrent totpUseBackup calls get distinct codes, none lost", async () => {
    const codes = Array.from({ length: 8 }, (_, i) => `code-${i}`);
    await loomal.vault.store("many-codes", { type: "TOTP", data: { secret: SEED, backupCodes: codes } });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => loomal.vault.totpUseBackup("many-codes")),
    );
    const handedOut = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.code] : []));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    assert.deepEqual([...handedOut].sort(), codes);
    assert.equal(refused.length, 2);
    assert.ok(refused.every((e) => e instanceof BadRequestError && e.reason === "no_backup_codes"));
  });

  test("oauthStatus and oauthRefresh answer the token's state, never a token", async () => {
    await loomal.vault.store("plain-oauth", { type: "OAUTH", data: { accessToken: "at-1" } });
    const state = await loomal.vault.oauthStatus("plain-oauth");
    assert.deepEqual(state, {
      name: "plain-oauth",
      refreshable: false,
      oauthStatus: "live",
      expiresAt: null,
      version: 1,
    });
    const error = await loomal.vault.oauthRefresh("plain-oauth").catch((e: unknown) => e);
    assert.ok(error instanceof BadRequestError);
    assert.equal(error.reason, "not_refreshable");
  });

  test("whoami answers the key's identity", async () => {
    const me = await loomal.identity.whoami();
    assert.match(me.identityId, /^id_/);
    assert.equal(typeof me.name, "string");
    assert.deepEqual([...me.scopes].sort(), ["vault:read", "vault:write"]);
    assert.equal(typeof me.usageCount, "number");
    assert.match(me.createdAt, ISO_UTC);
    for (const field of ["email", "displayName", "type", "purpose", "lastUsedAt"]) {
      assert.ok(field in me, field);
    }
  });

  test("storeApiKey stores a single key, or a client pair with clientId in metadata", async () => {
    const single = await loomal.vault.storeApiKey("openai", "sk-proj-123", { metadata: { service: "openai" } });
    assert.equal(single.type, "API_KEY");
    assert.deepEqual(single.metadata, { service: "openai" });
    assert.deepEqual((await loomal.vault.get("openai")).data, { key: "sk-proj-123" });

    const pair = await loomal.vault.storeApiKey("google-oauth", { clientId: "client-1", secret: "shh" });
    assert.deepEqual(pair.metadata, { clientId: "client-1" });
    assert.deepEqual((await loomal.vault.get("google-oauth")).data, { clientId: "client-1", secret: "shh" });
  });

  test("storeCard takes last4 from the number, spaces and dashes removed", async () => {
    const card = {
      number: "4000 0566-5566 5556",
      cardholder: "Agent Bot",
      expMonth: "12",
      expYear: "2030",
      cvc: "123",
    };
    const stored = await loomal.vault.storeCard("visa", card, { metadata: { brand: "visa" } });
    assert.equal(stored.type, "CARD");
    assert.deepEqual(stored.metadata, { last4: "5556", brand: "visa" });
    const credential = await loomal.vault.get("visa");
    assert.deepEqual(credential.data, card);
    assert.ok(!JSON.stringify((await loomal.vault.list()).credentials).includes("4000 0566"));
  });

  test("storeShippingAddress stores every field as data", async () => {
    const address = { name: "Agent Bot", line1: "1 Main St", city: "Springfield", postcode: "12345", country: "US" };
    const stored = await loomal.vault.storeShippingAddress("home", address, {
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    assert.equal(stored.type, "SHIPPING_ADDRESS");
    assert.match(stored.expiresAt ?? "", ISO_UTC);
    assert.deepEqual((await loomal.vault.get("home")).data, address);
  });

  test("names with every allowed character go through the path intact", async () => {
    const name = "Prod.db_main-2";
    await loomal.vault.store(name, { type: "DATABASE", data: { connectionString: "postgresql://u:p@h/db" } });
    const credential = await loomal.vault.get(name);
    assert.equal(credential.name, name);
    assert.equal((await loomal.vault.list()).credentials.filter((c) => c.name === name).length, 1);
  });
});
