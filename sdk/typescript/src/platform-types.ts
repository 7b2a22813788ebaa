/**
 * The platform API's shapes (`/v0/platform/identities`), under the official
 * SDK's names: what `LoomalPlatform` sends and answers. Field names are the
 * API's own (camelCase). Parameters accept `undefined` for an absent field, so
 * code built with or without `exactOptionalPropertyTypes` compiles alike.
 */

import type { LoomalOptions } from "./client.js";
import type { IdentityPurpose } from "./types.js";

/** `new LoomalPlatform(config)`: the official SDK's name; the options are `Loomal`'s. */
export type PlatformConfig = LoomalOptions;

/** An identity as the platform API lists it. */
export interface IdentitySummary {
  identityId: string;
  name: string;
  /** "AGENT" for every identity of a self-hosted vault. */
  type: string;
  purpose: IdentityPurpose;
  /** Always null here: this server has no mail. */
  email: string | null;
  /** The scopes of the identity's live keys. */
  scopes: string[];
  usageCount: number;
  lastUsedAt: string | null;
  createdAt: string;
}

/** `identities.get(id)`: the summary and the prefix of its key. */
export interface IdentityDetail extends IdentitySummary {
  apiKeyPrefix: string;
}

/** `identities.create(params)`: every field optional. */
export interface CreateIdentityParams {
  /** BUYER (the default) or SELLER; stored and shown, nothing else here depends on it. */
  purpose?: IdentityPurpose | undefined;
  /** Display name; without it the server picks a fresh readable slug. */
  name?: string | undefined;
  /** Accepted and ignored: this server has no mail. */
  emailName?: string | undefined;
  /** Default: vault:read and vault:write. */
  scopes?: string[] | undefined;
}

/** What creating an identity answers: its key, `rawKey`, shown this once. */
export interface CreateIdentityResponse {
  identityId: string;
  name: string;
  type: string;
  purpose: IdentityPurpose;
  /** Always null here: this server has no mail. */
  emailAddress: string | null;
  scopes: string[];
  apiKeyPrefix: string;
  /** The identity's API key (`loid-...`). */
  rawKey: string;
  createdAt: string;
}

/** `identities.update(id, params)`. */
export interface UpdateIdentityParams {
  /** New display name. */
  name?: string | undefined;
  /** Scopes to add. */
  addScopes?: string[] | undefined;
  /** Scopes to remove. */
  removeScopes?: string[] | undefined;
}

/** `identities.rotateKey(id)`: the new key, shown this once; the old one stops working. */
export interface RotateKeyResponse {
  rawKey: string;
  apiKeyPrefix: string;
}

/** `identities.list(params)`: one page; `nextPageToken` is absent on the last. */
export interface PaginatedIdentities {
  identities: IdentitySummary[];
  count: number;
  nextPageToken?: string;
}

/** `identities.list(params)`: `limit` defaults to 50 (at most 100). */
export interface ListIdentitiesParams {
  limit?: number | undefined;
  /** `nextPageToken` of the previous page. */
  pageToken?: string | undefined;
}
