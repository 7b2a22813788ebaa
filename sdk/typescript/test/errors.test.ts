// The SPEC's error paths against a real `loomal serve`: each answer maps to its
// class with the server's status, code and message, and no secret sent in the
// request ever shows up in the error.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";

import {
  AuthenticationError,
  BadRequestError,
  ExpiredError,
  Loomal,
  LoomalError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  type StoreCredentialInput,
  ValidationError,
} from "@loomal/sdk";

import { realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const skip = realServerSkipReason();

/** Every way an error can be shown, to search for a secret in. */
function renderings(error: unknown): string[] {
  return [
    String(error),
    error instanceof Error ? (error.stack ?? "") : "",
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(error),
  ];
}

function assertNoLeak(error: unknown, ...secrets: string[]): void {
  for (const text of renderings(error)) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `a secret leaked into: ${text}`);
  }
}

async function caught(promise: Promise<unknown>): Promise<LoomalError> {
  const error = await promise.then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof LoomalError, String(error));
  return error;
}

describe("error answers of a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let loomal: Loomal;

  before(async () => {
    vault = await startVault();
    loomal = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
    await loomal.vault.store("github", { type: "LOGIN", data: { password: "s3cret!" } });
  });
  after(async () => {
    await vault?.stop();
  });

  test("401: an unknown key", async () => {
    const wrongKey = `loid-${"x".repeat(40)}`;
    const stranger = new Loomal({ apiKey: wrongKey, baseUrl: vault.baseUrl });
    const error = await caught(stranger.vault.get("github"));
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.status, 401);
    assert.ok(error.message.length > 0);
    assertNoLeak(error, wrongKey);
    await assert.rejects(stranger.identity.whoami(), AuthenticationError);
  });

  test("403: a read-only key may read but not store, delete or use a backup code", async () => {
    const readOnlyKey = await vault.createIdentity("reader", "vault:read");
    const reader = new Loomal({ apiKey: readOnlyKey, baseUrl: vault.baseUrl });
    assert.deepEqual((await reader.identity.whoami()).scopes, ["vault:read"]);
    assert.equal((await reader.vault.list()).count, 0, "another identity's credentials are not listed");

    const error = await caught(reader.vault.store("mine", { type: "LOGIN", data: { password: "reader-secret" } }));
    assert.ok(error instanceof PermissionDeniedError);
    assert.equal(error.status, 403);
    assertNoLeak(error, "reader-secret", readOnlyKey);
    await assert.rejects(reader.vault.delete("github"), PermissionDeniedError);
    await assert.rejects(reader.vault.totpUseBackup("github"), PermissionDeniedError);
  });

  test("404: a missing name, and another identity's name alike", async () => {
    const error = await caught(loomal.vault.get("no-such-credential"));
    assert.ok(error instanceof NotFoundError);
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");

    const otherKey = await vault.createIdentity("other", "vault:read,vault:write");
    const other = new Loomal({ apiKey: otherKey, baseUrl: vault.baseUrl });
    const foreign = await caught(other.vault.get("github"));
    assert.ok(foreign instanceof NotFoundError);
    await assert.rejects(other.vault.totp("github"), NotFoundError);
  });

  test("410: an expired credential is listed but not readable", async () => {
    await loomal.vault.store("old-token", {
      type: "OAUTH",
      data: { accessToken: "expired-access-token", totp: "JBSWY3DPEHPK3PXP" },
      expiresAt: "2020-01-01T00:00:00Z",
    });
    const error = await caught(loomal.vault.get("old-token"));
    assert.ok(error instanceof ExpiredError);
    assert.equal(error.status, 410);
    assert.equal(error.code, "expired");
    assertNoLeak(error, "expired-access-token");
    await assert.rejects(loomal.vault.totp("old-token"), ExpiredError);
    const summary = (await loomal.vault.list()).credentials.find((c) => c.name === "old-token");
    assert.equal(summary?.expiresAt?.slice(0, 10), "2020-01-01");
    assert.equal(summary?.expired, true);
  });

  test("422: an unknown type, named in the message", async () => {
    const input = { type: "PASSWORD", data: { password: "typed-secret" } } as unknown as StoreCredentialInput;
    const error = await caught(loomal.vault.store("bad-type", input));
    assert.ok(error instanceof ValidationError);
    assert.equal(error.status, 422);
    assert.match(error.message, /type/i);
    assertNoLeak(error, "typed-secret");
  });

  test("422: a LOGIN whose password is misspelt is refused, naming the field, not the value", async () => {
    const input = { type: "LOGIN", data: { pasword: "misspelt-secret" } } as unknown as StoreCredentialInput;
    const error = await caught(loomal.vault.store("typo", input));
    assert.ok(error instanceof ValidationError);
    assert.match(error.message, /password/);
    assertNoLeak(error, "misspelt-secret");
    await assert.rejects(loomal.vault.get("typo"), NotFoundError);
  });

  test("400: no backup codes left, and no TOTP on the credential", async () => {
    await loomal.vault.store("no-codes", { type: "TOTP", data: { secret: "JBSWY3DPEHPK3PXP" } });
    const none = await caught(loomal.vault.totpUseBackup("no-codes"));
    assert.ok(none instanceof BadRequestError);
    assert.equal(none.status, 400);
    assert.equal(none.code, "bad_request");
    assert.equal(none.reason, "no_backup_codes");

    const notTotp = await caught(loomal.vault.totpUseBackup("github"));
    assert.ok(notTotp instanceof BadRequestError);
    assert.equal(notTotp.status, 400);
    assert.equal(notTotp.reason, "not_totp");
    const totp = await caught(loomal.vault.totp("github"));
    assert.ok(totp instanceof BadRequestError);
    assert.equal(totp.reason, "not_totp");
  });

  test("413: a body over 64 KiB, without the body in the error", async () => {
    const big = `big-secret-${"z".repeat(70 * 1024)}`;
    const error = await caught(loomal.vault.store("huge", { type: "CUSTOM", data: { blob: big } }));
    assert.ok(error instanceof PayloadTooLargeError);
    assert.equal(error.status, 413);
    assertNoLeak(error, "big-secret-");
  });

  test("an invalid name is refused by the server with its own message", async () => {
    const error = await caught(loomal.vault.get("has space"));
    assert.ok(error instanceof ValidationError, error.name);
    assert.equal(error.status, 422);
    assert.match(error.message, /name/);
    await assert.rejects(
      loomal.vault.store(".hidden", { type: "CUSTOM", data: { a: 1 } }),
      ValidationError,
    );
  });
});
