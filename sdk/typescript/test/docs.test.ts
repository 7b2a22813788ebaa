// The TypeScript examples of docs/sdk.md compile (strict) and run, in order,
// as one module, against a real `loomal serve`.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { Loomal } from "@loomal/sdk";
import ts from "typescript";

import { PACKAGE_ROOT, realServerSkipReason, type RunningVault, startVault } from "./support/vault-server.js";

const DOC = resolve(PACKAGE_ROOT, "../../docs/sdk.md");
const OUT_DIR = join(PACKAGE_ROOT, "build", "docs");

function tsBlocks(): string[] {
  const text = readFileSync(DOC, "utf8");
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? "");
}

const skip = existsSync(DOC) ? realServerSkipReason() : `no ${DOC} (the SDK outside its repository)`;

describe("docs/sdk.md's TypeScript examples", skip ? { skip } : {}, () => {
  let vault: RunningVault;
  let source = "";
  const file = join(OUT_DIR, "sdk-md.ts");

  before(async () => {
    source = tsBlocks().join("\n");
    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(file, source);
    vault = await startVault();
  });
  after(async () => {
    await vault?.stop();
  });

  test("there are examples", () => {
    assert.ok(tsBlocks().length >= 8);
    assert.match(source, /const loomal = new Loomal\(\{ apiKey: process\.env\.LOOMAL_API_KEY! \}\);/);
  });

  test("they type-check under strict settings", () => {
    // Node's own types are replaced by the one global the examples use: loading
    // @types/node here would make this check several times slower.
    const ambient = join(OUT_DIR, "process.d.ts");
    writeFileSync(ambient, "declare const process: { env: Record<string, string | undefined> };\n");
    const program = ts.createProgram([file, ambient], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) =>
      ts.flattenDiagnosticMessageText(d.messageText, "\n"),
    );
    assert.deepEqual(diagnostics, []);
  });

  test("they run, in order, against a real vault", async () => {
    const js = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    const jsFile = join(OUT_DIR, "sdk-md.mjs");
    writeFileSync(jsFile, js);

    const printed: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => void printed.push(args.map(String).join(" "));
    process.env["LOOMAL_API_KEY"] = vault.apiKey;
    process.env["LOOMAL_API_URL"] = vault.baseUrl;
    try {
      await import(pathToFileURL(jsFile).href);
    } finally {
      console.log = log;
      delete process.env["LOOMAL_API_KEY"];
      delete process.env["LOOMAL_API_URL"];
    }
    assert.ok(printed.some((line) => /^cred_\S+ \d{4}-\d\d-\d\dT.*Z$/.test(line)), printed.join("\n"));
    assert.ok(printed.includes("agent-bot 7"));
    assert.ok(printed.includes("abcd-1234 1"));
    assert.ok(printed.some((line) => line.startsWith("404 not_found ")));
    // The last example deleted everything the others stored.
    const loomal = new Loomal({ apiKey: vault.apiKey, baseUrl: vault.baseUrl });
    assert.equal((await loomal.vault.list()).count, 0);
  });
});
