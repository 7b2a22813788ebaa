/**
 * A small `node:http` server on 127.0.0.1 that answers from a script, one
 * step per request, and records every request it saw: for what a real vault
 * cannot be made to do on demand (a 503 followed by a 200, a dropped
 * connection, a slow answer), to watch the SDK's retries from the outside.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Step =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { drop: true };

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface ScriptedServer {
  baseUrl: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Answer request i with steps[i]; after the script, repeat its last step. */
export async function scriptedServer(steps: Step[]): Promise<ScriptedServer> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const step = steps[Math.min(requests.length - 1, steps.length - 1)];
      if (step === undefined || "drop" in step) {
        req.socket.destroy();
        return;
      }
      const send = (): void => {
        if (res.destroyed) return;
        const text =
          step.body === undefined ? "" : typeof step.body === "string" ? step.body : JSON.stringify(step.body);
        res.writeHead(step.status, {
          ...(typeof step.body === "object" ? { "Content-Type": "application/json" } : {}),
          ...step.headers,
        });
        res.end(text);
      };
      if (step.delayMs) setTimeout(send, step.delayMs);
      else send();
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A flat error body in the SPEC's shape. */
export function errorBody(status: number, error: string, message: string, reason?: string): unknown {
  return reason === undefined ? { error, message, status } : { error, message, status, reason };
}
