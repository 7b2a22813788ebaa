/** `loomal.identity`: who the API key belongs to. */

import type { Transport } from "./http.js";
import type { Identity } from "./types.js";

export class IdentityResource {
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  /** The identity that owns the API key (GET /v0/whoami; any valid key, no scope needed). */
  whoami(): Promise<Identity> {
    return this.#transport.send({ method: "GET", path: "/v0/whoami", safeToRetry: true });
  }
}
