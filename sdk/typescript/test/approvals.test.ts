// Approvals against a real `loomal serve --fetch-allow-private 127.0.0.1` and an
// upstream on 127.0.0.1: a held fetch throws ApprovalPendingError and sends
// nothing, a person's vault:approve key approves, the repeat with approvalId
// goes through once; a rule no request matches is PermissionDeniedError.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";

import { ApprovalPendingError, ExpiredError, Loomal, PermissionDeniedError } from "@loomal/sdk";

import { realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const skip = realServerSkipReason();
const RULES = [
  { methods: ["GET"], paths: ["/contacts/**"] },
  { methods: ["DELETE"], paths: ["/contacts/*"], approval: { windowSeconds: 0 } },
];

describe("approvals against a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let upstream: Server;
  let upstreamUrl: string;
  let agent: Loomal;
  let person: Loomal;
  const seen: string[] = [];

  before(async () => {
    upstream = createServer((request, response) => {
      seen.push(`${request.method} ${request.url}`);
      response.writeHead(200, { "content-type": "application/json" });
      response.end("{}");
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    const address = upstream.address();
    upstreamUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    vault = await startVault(["--fetch-allow-private", "127.0.0.1"]);
    const owner = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
    await owner.vault.store("crm", {
      type: "API_KEY",
      data: { key: "sk_live_" + "Ts4".repeat(10) },
      metadata: { allowedHosts: ["127.0.0.1"], rules: RULES },
    });
    const me = await owner.identity.whoami();
    agent = new Loomal({ apiKey: await vault.addKey(me.name, "vault:use"), baseUrl: vault.baseUrl });
    person = new Loomal({ apiKey: await vault.addKey(me.name, "vault:approve"), baseUrl: vault.baseUrl });
  });
  after(async () => {
    await vault?.stop();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  });

  test("a held fetch is approved by a person and then goes through once", async () => {
    const url = `${upstreamUrl}/contacts/42`;
    let approvalId = "";
    await assert.rejects(agent.vault.fetch("crm", { method: "DELETE", url }), (error: unknown) => {
      assert.ok(error instanceof ApprovalPendingError);
      assert.equal(error.status, 202);
      assert.equal(new URL(error.approvalUrl).pathname, `/approvals/${error.approvalId}`); // the console page
      approvalId = error.approvalId;
      return true;
    });
    assert.deepEqual(seen, []);
    assert.equal((await agent.approvals.get(approvalId)).status, "pending");
    const pending = await person.approvals.list({ status: "pending" });
    assert.deepEqual(pending.approvals.map((a) => a.approvalId), [approvalId]);
    await assert.rejects(agent.approvals.approve(approvalId), PermissionDeniedError);
    assert.equal((await person.approvals.approve(approvalId, { windowSeconds: 0 })).status, "approved");
    const answer = await agent.vault.fetch("crm", { method: "DELETE", url, approvalId });
    assert.equal(answer.status, 200);
    assert.deepEqual(seen, ["DELETE /contacts/42"]);
    await assert.rejects(agent.vault.fetch("crm", { method: "DELETE", url, approvalId }), (error: unknown) => {
      assert.ok(error instanceof ExpiredError);
      assert.equal(error.reason, "approval_used");
      return true;
    });
  });

  test("a request no rule allows is refused before it is sent", async () => {
    const before = seen.length;
    await assert.rejects(agent.vault.fetch("crm", { method: "PUT", url: `${upstreamUrl}/contacts/1` }), (error: unknown) => {
      assert.ok(error instanceof PermissionDeniedError);
      assert.equal(error.code, "request_not_allowed");
      assert.equal(error.reason, "method_not_allowed");
      return true;
    });
    assert.equal(seen.length, before);
  });
});
