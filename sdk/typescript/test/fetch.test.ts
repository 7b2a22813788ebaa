// `vault.fetch` against a real `loomal serve --fetch-allow-private 127.0.0.1` and an
// upstream HTTP server on 127.0.0.1 that echoes what it received: the key is
// injected, never returned, and a vault:use key cannot read it.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { after, before, describe, test } from "node:test";

import { BadGatewayError, BadRequestError, Loomal, PermissionDeniedError } from "@loomal/sdk";

import { freePort, realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const KEY = "sk_live_ts/" + "Qw8+".repeat(8);
const skip = realServerSkipReason();

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

describe("vault.fetch against a real vault", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let upstream: Server;
  let upstreamUrl: string;
  let agent: Loomal;
  const seen: Seen[] = [];

  before(async () => {
    upstream = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
        if (request.url === "/binary") {
          response.writeHead(200, { "content-type": "application/octet-stream" });
          response.end(Buffer.from([0, 255, 1, 254]));
          return;
        }
        const echo = JSON.stringify({ headers: request.headers, body: body.toString("utf8") });
        response.writeHead(200, { "content-type": "application/json", "x-echo-auth": String(request.headers.authorization) });
        response.end(echo);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    const address = upstream.address();
    upstreamUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    vault = await startVault(["--fetch-allow-private", "127.0.0.1"]);
    const owner = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
    await owner.vault.store("stripe", {
      type: "API_KEY",
      data: { key: KEY },
      metadata: { allowedHosts: ["127.0.0.1"] },
    });
    const me = await owner.identity.whoami();
    agent = new Loomal({ apiKey: await vault.addKey(me.name, "vault:use"), baseUrl: vault.baseUrl });
  });
  after(async () => {
    await vault?.stop();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  });

  test("the key is injected upstream and redacted in what comes back", async () => {
    const answer = await agent.vault.fetch("stripe", {
      method: "POST",
      url: `${upstreamUrl}/echo?x=1`,
      headers: { "X-Trace": "ts" },
      body: { amount: 5 },
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.bodyEncoding, "text");
    assert.equal(answer.url, `${upstreamUrl}/echo`);
    const last = seen.at(-1)!;
    assert.equal(last.headers.authorization, `Bearer ${KEY}`);
    assert.equal(last.headers["x-trace"], "ts");
    assert.equal(last.body.toString(), '{"amount":5}');
    const echoed = JSON.parse(answer.body) as { headers: Record<string, string> };
    assert.equal(echoed.headers["authorization"], "Bearer [REDACTED]");
    assert.equal(answer.headers["x-echo-auth"], "Bearer [REDACTED]");
    assert.ok(!JSON.stringify(answer).includes(KEY));
  });

  test("bytes go as base64, binary answers come back as base64", async () => {
    await agent.vault.fetch("stripe", { method: "PUT", url: `${upstreamUrl}/echo`, body: new Uint8Array([0, 255]) });
    assert.deepEqual([...seen.at(-1)!.body], [0, 255]);
    const binary = await agent.vault.fetch("stripe", { url: `${upstreamUrl}/binary` });
    assert.equal(binary.bodyEncoding, "base64");
    assert.deepEqual([...Buffer.from(binary.body, "base64")], [0, 255, 1, 254]);
  });

  test("refusals and upstream failures are typed errors", async () => {
    await assert.rejects(agent.vault.get("stripe"), (error: unknown) => {
      assert.ok(error instanceof PermissionDeniedError);
      assert.match(error.message, /vault:use/);
      return true;
    });
    await assert.rejects(agent.vault.fetch("stripe", { url: "https://127.0.0.3/" }), (error: unknown) => {
      assert.ok(error instanceof BadRequestError);
      assert.equal(error.reason, "host_not_allowed");
      return true;
    });
    const closed = await freePort();
    await assert.rejects(agent.vault.fetch("stripe", { url: `http://127.0.0.1:${closed}/` }), (error: unknown) => {
      assert.ok(error instanceof BadGatewayError);
      assert.equal(error.status, 502);
      assert.equal(error.reason, "connect_failed");
      return true;
    });
    const listed = await agent.vault.list();
    assert.deepEqual(listed.credentials.map((c) => c.name), ["stripe"]);
  });
});
