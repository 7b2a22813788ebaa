// Access requests against a real `loomal serve`: an agent's vault:use key asks for
// a credential it lacks, a person's key fulfils it (create-only unless it names
// the version it replaces) or declines, the agent's poll sees the outcome.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ConflictError, Loomal, PermissionDeniedError, PreconditionFailedError } from "@loomal/sdk";

import { realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const skip = realServerSkipReason();

describe("access requests against a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let agent: Loomal;
  let person: Loomal;

  before(async () => {
    vault = await startVault();
    person = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
    const me = await person.identity.whoami();
    agent = new Loomal({ apiKey: await vault.addKey(me.name, "vault:use"), baseUrl: vault.baseUrl });
  });
  after(async () => {
    await vault?.stop();
  });

  test("an agent asks, a person fulfils, the agent finds and lists it", async () => {
    const created = await agent.requests.create("resend", {
      type: "API_KEY",
      reason: "To send the weekly report",
      allowedHosts: ["api.resend.com"],
    });
    assert.equal(created.status, "pending");
    assert.equal(created.url, `${vault.baseUrl}/requests/${created.requestId}`);
    assert.equal((await agent.requests.get(created.requestId)).status, "pending");
    await assert.rejects(agent.requests.fulfill(created.requestId, { data: { key: "re_1" } }), PermissionDeniedError);
    const pending = await person.requests.list({ status: "pending" });
    assert.deepEqual(pending.requests.map((r) => r.requestId), [created.requestId]);
    const done = await person.requests.fulfill(created.requestId, { data: { key: "re_1" } });
    assert.equal(done.status, "fulfilled");
    assert.equal((await agent.requests.get(created.requestId)).status, "fulfilled");
    const listed = await agent.vault.list();
    const stored = listed.credentials.find((c) => c.name === "resend");
    assert.deepEqual(stored?.metadata.allowedHosts, ["api.resend.com"]);
    await assert.rejects(person.requests.decline(created.requestId), (error: unknown) => {
      assert.ok(error instanceof ConflictError);
      assert.equal(error.code, "request_answered");
      return true;
    });
  });

  test("a held name is replaced only for the version named; decline", async () => {
    const again = await agent.requests.create("resend", { type: "API_KEY", reason: "The key was revoked" });
    await assert.rejects(person.requests.fulfill(again.requestId, { data: { key: "re_2" } }), PreconditionFailedError);
    const replaced = await person.requests.fulfill(again.requestId, { data: { key: "re_2" }, replaceVersion: 1 });
    assert.equal(replaced.status, "fulfilled");
    assert.equal((await person.vault.get("resend")).data.key, "re_2");
    const other = await agent.requests.create("smtp", { type: "SMTP", reason: "alerts" });
    assert.equal((await person.requests.decline(other.requestId)).status, "declined");
  });
});
