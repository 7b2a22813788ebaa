/**
 * `loomal.approvals`: the person's side of request rules (`/v0/approvals`). A
 * brokered request a credential's rule holds throws `ApprovalPendingError`
 * from `vault.fetch`; a person's key (vault:approve or vault:write, never the
 * key that asked) approves or denies it here, and the agent repeats the fetch
 * with `approvalId`.
 */

import type { Transport } from "./http.js";
import type { Approval, ApprovalList, ApprovalStatus } from "./types.js";

export class ApprovalsResource {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** The identity's approvals, pending first (GET /v0/approvals). */
  list(options: { status?: ApprovalStatus; limit?: number } = {}): Promise<ApprovalList> {
    return this.#transport.send({
      method: "GET",
      path: "/v0/approvals",
      query: { status: options.status, limit: options.limit },
      safeToRetry: true,
    });
  }

  /** One approval and its status (GET /v0/approvals/{id}): an agent polls this. */
  get(approvalId: string): Promise<Approval> {
    return this.#transport.send({ method: "GET", path: approvalPath(approvalId), safeToRetry: true });
  }

  /**
   * Approve a held request (POST /v0/approvals/{id}/approve). `windowSeconds`:
   * let the same rule through for that long without asking (default: the rule's).
   */
  approve(approvalId: string, options: { windowSeconds?: number } = {}): Promise<Approval> {
    const call = { method: "POST" as const, path: approvalPath(approvalId, "/approve"), safeToRetry: false };
    return this.#transport.send(
      options.windowSeconds === undefined ? call : { ...call, body: { windowSeconds: options.windowSeconds } },
    );
  }

  /** Deny a held request (POST /v0/approvals/{id}/deny): the agent gets 403 approval_denied. */
  deny(approvalId: string): Promise<Approval> {
    return this.#transport.send({ method: "POST", path: approvalPath(approvalId, "/deny"), safeToRetry: false });
  }
}

function approvalPath(approvalId: string, suffix = ""): string {
  return `/v0/approvals/${encodeURIComponent(approvalId)}${suffix}`;
}
