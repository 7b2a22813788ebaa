/**
 * A real `loomal serve` for the tests: the Python package's CLI, started on a
 * free loopback port with its own temporary data dir, its first identity's key
 * read from its output. Without the binary the tests skip saying why, except
 * under CI=true, where they fail.
 */

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** sdk/typescript, from build/test/support/. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

export function loomalBin(): string {
  return process.env["LOOMAL_BIN"] || resolve(PACKAGE_ROOT, "../../.venv/bin/loomal");
}

/**
 * Why the real-server tests cannot run here, or undefined when they can.
 * Under CI a missing binary is an error, never a skip.
 */
export function realServerSkipReason(): string | undefined {
  const bin = loomalBin();
  if (existsSync(bin)) return undefined;
  const reason = `no loomal binary at ${bin} (set LOOMAL_BIN, or run \`make .venv/.installed-dev\` at the repo root)`;
  if (process.env["CI"] === "true") throw new Error(`CI=true and ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface RunningVault {
  baseUrl: string;
  /** The first identity's key (vault:read and vault:write). */
  apiKey: string;
  dataDir: string;
  /** A new identity's key, e.g. with scopes "vault:read" only. */
  createIdentity(name: string, scopes: string): Promise<string>;
  /** Another key for an existing identity, e.g. with scopes "vault:use" only. */
  addKey(name: string, scopes: string): Promise<string>;
  /** A new platform key (lopk-...), which provisions identities. */
  platformKey(name: string): Promise<string>;
  stop(): Promise<void>;
}

const KEY_LINE = /export LOOMAL_API_KEY=(loid-[A-Za-z0-9_-]+)/;

/** Start a vault; `extraArgs` go to `loomal serve` (e.g. `--fetch-allow-private 127.0.0.1`). */
export async function startVault(extraArgs: readonly string[] = []): Promise<RunningVault> {
  const bin = loomalBin();
  const dataDir = await mkdtemp(join(tmpdir(), "loomal-ts-sdk-"));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const env = { ...process.env };
  for (const name of ["LOOMAL_MASTER_KEY", "LOOMAL_MASTER_KEY_FILE", "LOOMAL_DATABASE_URL"]) {
    delete env[name];
  }
  const child = spawn(
    bin,
    ["serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir, ...extraArgs],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  // If the test process dies before stop() (an uncaught error), the server must not outlive
  // it. SIGTERM, not SIGKILL: the server then stops its worker processes too. (Ctrl+C reaches
  // it directly: it stays in the terminal's process group.)
  const killOnExit = (): void => {
    child.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));

  try {
    const apiKey = await waitForKey(child, () => output);
    await waitForHealth(baseUrl, child, () => output);
    return {
      baseUrl,
      apiKey,
      dataDir,
      async createIdentity(name, scopes) {
        return keyFrom(["identity", "create", name, "--scopes", scopes, "--data-dir", dataDir]);
      },
      async addKey(name, scopes) {
        return keyFrom(["identity", "add-key", name, "--scopes", scopes, "--data-dir", dataDir]);
      },
      async platformKey(name) {
        return keyFrom(["platform-key", "create", name, "--data-dir", dataDir], "lopk-");
      },
      stop: () => stopChild(child).then(() => rm(dataDir, { recursive: true, force: true })),
    };
    async function keyFrom(args: string[], prefix = "loid-"): Promise<string> {
        const { stdout } = await execFileAsync(bin, args, { env });
        const last = stdout.trim().split("\n").at(-1)?.trim() ?? "";
        if (!last.startsWith(prefix)) throw new Error(`${args[0]} create printed no key`);
        return last;
    }
  } catch (error) {
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function waitForKey(child: ChildProcess, output: () => string): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const match = KEY_LINE.exec(output());
    if (match?.[1]) return match[1];
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`loomal serve printed no API key; its output:\n${masked(output())}`);
}

async function waitForHealth(baseUrl: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      // Any HTTP answer means it listens (a vault without /v0/health answers 404 there).
      const response = await fetch(`${baseUrl}/v0/health`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`loomal serve did not answer HTTP; its output:\n${masked(output())}`);
}

/** The output with every API key masked. */
function masked(text: string): string {
  return text.replace(/loid-[A-Za-z0-9_-]+/g, "loid-***");
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
