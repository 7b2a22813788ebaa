// History, restore and recoverable delete against a real `loomal serve`.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ConflictError, Loomal, NotFoundError, PreconditionFailedError } from "@loomal/sdk";

import { realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const skip = realServerSkipReason();

describe("versions and undelete against a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let loomal: Loomal;

  before(async () => {
    vault = await startVault();
    loomal = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
  });
  after(async () => {
    await vault?.stop();
  });

  test("store with ifMatch / ifNoneMatch refuses a credential that moved on", async () => {
    const first = await loomal.vault.store("cas", { type: "LOGIN", data: { password: "a" } });
    const version = first.version;
    assert.ok(version !== undefined);
    const login = { type: "LOGIN", data: { password: "b" } } as const;
    const second = await loomal.vault.store("cas", login, { ifMatch: version });
    assert.equal(second.version, version + 1);
    await assert.rejects(
      loomal.vault.store("cas", login, { ifMatch: version }),
      (err: unknown) => err instanceof PreconditionFailedError && err.code === "version_conflict",
    );
    await assert.rejects(
      loomal.vault.store("cas", login, { ifNoneMatch: "*" }),
      (err: unknown) => err instanceof PreconditionFailedError,
    );
    const created = await loomal.vault.store("cas-new", login, { ifNoneMatch: "*" });
    assert.equal(created.version, 1);
  });

  test("every write is a version; an old one reads and restores", async () => {
    await loomal.vault.store("gh", { type: "LOGIN", data: { password: "one" } });
    const second = await loomal.vault.store("gh", { type: "LOGIN", data: { password: "two" } });
    assert.equal(second.version, 2);
    const history = await loomal.vault.versions("gh");
    assert.deepEqual(
      history.versions.map((v) => [v.version, v.kind, v.current]),
      [
        [2, "store", true],
        [1, "store", false],
      ],
    );
    assert.ok(!JSON.stringify(history).includes("one"));
    const old = await loomal.vault.get("gh", { version: 1 });
    assert.equal(old.type === "LOGIN" && old.data.password, "one");
    const restored = await loomal.vault.restore("gh", 1);
    assert.equal(restored.version, 3);
    const now = await loomal.vault.get("gh");
    assert.equal(now.type === "LOGIN" && now.data.password, "one");
  });

  test("a delete is taken back, under another name when its own is reused", async () => {
    await loomal.vault.store("mail", { type: "SMTP", data: { password: "first" } });
    await loomal.vault.delete("mail");
    await assert.rejects(loomal.vault.get("mail"), NotFoundError);
    const listed = await loomal.vault.deleted();
    assert.deepEqual(
      listed.deleted.map((d) => [d.name, d.version, d.nameInUse]),
      [["mail", 1, false]],
    );
    await loomal.vault.store("mail", { type: "SMTP", data: { password: "reused" } });
    await assert.rejects(
      loomal.vault.undelete("mail"),
      (error: unknown) => error instanceof ConflictError && error.code === "name_in_use",
    );
    const back = await loomal.vault.undelete("mail", { as: "mail-old" });
    assert.equal(back.name, "mail-old");
    const got = await loomal.vault.get("mail-old");
    assert.equal(got.type === "SMTP" && got.data.password, "first");
    await loomal.vault.delete("mail-old", { destroy: true });
    assert.equal((await loomal.vault.deleted()).count, 0);
    await assert.rejects(loomal.vault.undelete("mail-old"), NotFoundError);
  });
});
