/**
 * The wire format as TypeScript types: the twelve credential types (a union
 * discriminated on `type`, so a LOGIN without its password does not compile)
 * and the result of every call. Field names are the API's own (camelCase), so
 * a result is exactly the JSON the server sent, typed.
 */

/** The twelve credential types the vault knows. */
export type CredentialType =
  | "LOGIN"
  | "API_KEY"
  | "OAUTH"
  | "TOTP"
  | "SSH_KEY"
  | "DATABASE"
  | "SMTP"
  | "AWS"
  | "CERTIFICATE"
  | "CARD"
  | "SHIPPING_ADDRESS"
  | "CUSTOM";

/** Any JSON object: metadata is free-form plaintext. */
export interface JsonObject {
  [field: string]: unknown;
}

/**
 * Fields every type may carry in `data`. `totp` is a base32 seed or an
 * `otpauth://` URI; with it, `vault.totp(name)` works on the credential.
 * The index signature keeps fields beyond the known ones (the server stores
 * them as given) without loosening the required field of each type.
 */
interface CommonData {
  totp?: string;
  [field: string]: unknown;
}

export interface LoginData extends CommonData {
  password: string;
}
/** A single secret key. */
export interface ApiKeySecretData extends CommonData {
  key: string;
}
/** OAuth-style client credentials. */
export interface ApiKeyClientPairData extends CommonData {
  clientId: string;
  secret: string;
}
export type ApiKeyData = ApiKeySecretData | ApiKeyClientPairData;
export interface OAuthData extends CommonData {
  accessToken: string;
  refreshToken?: string;
}
export interface TotpData extends CommonData {
  /** Base32 seed (any case, spaces and missing padding accepted). */
  secret: string;
  backupCodes?: string[];
  usedBackupCodes?: string[];
}
export interface SshKeyData extends CommonData {
  privateKey: string;
  passphrase?: string;
}
export type DatabaseData =
  | (CommonData & { password: string; connectionString?: string })
  | (CommonData & { connectionString: string; password?: string });
export interface SmtpData extends CommonData {
  password: string;
}
export interface AwsData extends CommonData {
  secretAccessKey: string;
  sessionToken?: string;
}
export interface CertificateData extends CommonData {
  privateKey: string;
}
/** A payment card, stored like a password manager does: not a payment processor. */
export interface CardData extends CommonData {
  number: string;
  cardholder?: string;
  expMonth?: string;
  expYear?: string;
  cvc?: string;
  zip?: string;
}
export interface ShippingAddressData extends CommonData {
  line1: string;
  name?: string;
  line2?: string;
  city?: string;
  state?: string;
  postcode?: string;
  country?: string;
  phone?: string;
}
/** Any keys, any JSON values (the server refuses an empty object). */
export type CustomData = JsonObject;

/** The `data` each type requires, by type. */
export interface CredentialDataByType {
  LOGIN: LoginData;
  API_KEY: ApiKeyData;
  OAUTH: OAuthData;
  TOTP: TotpData;
  SSH_KEY: SshKeyData;
  DATABASE: DatabaseData;
  SMTP: SmtpData;
  AWS: AwsData;
  CERTIFICATE: CertificateData;
  CARD: CardData;
  SHIPPING_ADDRESS: ShippingAddressData;
  CUSTOM: CustomData;
}

export interface LoginMetadata extends JsonObject {
  uri?: string;
  username?: string;
}
export interface ApiKeyMetadata extends JsonObject {
  service?: string;
  prefix?: string;
  clientId?: string;
}
export interface OAuthMetadata extends JsonObject {
  provider?: string;
  scopes?: string | string[];
  expiresAt?: string;
}
export interface TotpMetadata extends JsonObject {
  issuer?: string;
  account?: string;
  /** SHA1 (default), SHA256 or SHA512. */
  algorithm?: string;
  digits?: number;
  period?: number;
}
export interface SshKeyMetadata extends JsonObject {
  publicKey?: string;
  keyType?: string;
}
export interface DatabaseMetadata extends JsonObject {
  engine?: string;
  host?: string;
  port?: number | string;
  database?: string;
}
export interface SmtpMetadata extends JsonObject {
  host?: string;
  port?: number | string;
  username?: string;
  encryption?: string;
}
export interface AwsMetadata extends JsonObject {
  accessKeyId?: string;
  region?: string;
}
export interface CertificateMetadata extends JsonObject {
  certificate?: string;
  chain?: string;
  domain?: string;
  expiresAt?: string;
}
export interface CardMetadata extends JsonObject {
  brand?: string;
  last4?: string;
}

/** The usual (never required) metadata of each type. */
export interface CredentialMetadataByType {
  LOGIN: LoginMetadata;
  API_KEY: ApiKeyMetadata;
  OAUTH: OAuthMetadata;
  TOTP: TotpMetadata;
  SSH_KEY: SshKeyMetadata;
  DATABASE: DatabaseMetadata;
  SMTP: SmtpMetadata;
  AWS: AwsMetadata;
  CERTIFICATE: CertificateMetadata;
  CARD: CardMetadata;
  SHIPPING_ADDRESS: JsonObject;
  CUSTOM: JsonObject;
}

/** The body of `vault.store(name, input)` for one type. */
export interface StoreInputFor<T extends CredentialType> {
  type: T;
  /** Secret fields, encrypted at rest. */
  data: CredentialDataByType[T];
  /** Non-secret fields, stored as plaintext for display. */
  metadata?: CredentialMetadataByType[T];
  /** ISO 8601 string or a Date; after it, get/totp answer 410 (ExpiredError). */
  expiresAt?: string | Date;
}

/** The body of `vault.store(name, input)`: a union discriminated on `type`. */
export type StoreCredentialInput = {
  [T in CredentialType]: StoreInputFor<T>;
}[CredentialType];

/** Options of the typed helpers (`storeApiKey`, `storeCard`, ...). */
export interface StoreHelperOptions<M extends JsonObject = JsonObject> {
  metadata?: M;
  expiresAt?: string | Date;
}

/** What `vault.store` answers. Overwriting keeps `credentialId` and `createdAt`. */
export interface StoredCredential {
  credentialId: string;
  type: CredentialType;
  name: string;
  metadata: JsonObject;
  expiresAt: string | null;
  createdAt: string;
  updatedAt?: string;
  /** Set when an overwrite changed `data`. */
  lastRotatedAt?: string | null;
  /** When the secret was last read; this server sends it in lists and `get`, not on store. */
  lastUsedAt?: string | null;
  /** 1 when created; every write adds one (this server's extra field). */
  version?: number;
}

/** One item of `vault.list()`: never any field of `data`. */
export interface CredentialSummary {
  credentialId: string;
  name: string;
  type: CredentialType;
  metadata: JsonObject;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  lastRotatedAt: string | null;
  updatedAt?: string;
  /** Whether `expiresAt` has passed (this server adds it; the hosted API may not). */
  expired?: boolean;
  /** 1 when created; every write adds one (this server adds it; the hosted API may not). */
  version?: number;
}

/**
 * A credential with its decrypted `data` (from `vault.get`). TOTP seeds read
 * as `"[use /v0/vault/:name/totp]"`; `hasTOTP` says whether one is stored.
 * Narrow on `type` to get the type's `data`:
 * `if (c.type === "LOGIN") c.data.password`.
 */
export type Credential = {
  [T in CredentialType]: Omit<CredentialSummary, "type" | "metadata"> & {
    type: T;
    data: CredentialDataByType[T];
    metadata: CredentialMetadataByType[T];
    hasTOTP: boolean;
  };
}[CredentialType];

/** `vault.list()`: every credential, or one page when `limit` was given. */
export interface CredentialList {
  credentials: CredentialSummary[];
  count: number;
  /** Present when `limit` was given; null on the last page. */
  nextCursor?: string | null;
}

export interface ListOptions {
  /** Page size, 1..1000. Without it the server answers every credential. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ListAllOptions {
  /** Credentials fetched per request (default 100). */
  pageSize?: number;
}

/** `vault.oauthRefresh(name)` / `vault.oauthStatus(name)`: never a token. */
export interface OAuthState {
  name: string;
  /** Whether the credential names how to refresh it (`metadata.oauth`). */
  refreshable: boolean;
  /** `live`, `expired` (due, the provider failing) or `needs_reauth`. */
  oauthStatus: "live" | "expired" | "needs_reauth";
  expiresAt: string | null;
  version: number;
}

/** `vault.totp(name)`: the live code and how long it stays valid. */
export interface TotpCode {
  code: string;
  /** Seconds the code stays valid. */
  remaining: number;
  backupCodesRemaining: number;
  period?: number;
  expiresAt?: string;
}

/** `vault.totpUseBackup(name)`: one backup code, handed out once. */
export interface BackupCode {
  code: string;
  /** Unused backup codes left after this one. */
  remaining: number;
  backupCodesRemaining?: number;
}

/**
 * `vault.fetch(name, input)`: the request the vault makes with the credential
 * injected (POST /v0/vault/{name}/fetch). Only to the credential's
 * `metadata.allowedHosts`; headers may not set Authorization, Cookie, Host or
 * the injected header.
 */
export interface VaultFetchInput {
  /** GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS. */
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** Text, bytes (sent as base64), or a JSON object/array (sent as application/json). At most 1 MiB. */
  body?: string | Uint8Array | JsonObject | unknown[];
  /** After an `ApprovalPendingError`, once a person approved: its `approvalId` (used once). */
  approvalId?: string;
  /** Why, for the person asked to approve it: plain text, at most 500 characters. */
  reason?: string;
}

export type ApprovalStatus = "pending" | "approved" | "denied" | "used" | "expired";

/** A brokered request that needed a person: what would be sent (never the body, only its size). */
export interface Approval {
  approvalId: string;
  status: ApprovalStatus;
  credentialName: string;
  method: string;
  host: string;
  /** The path as it will be sent, without the query string. */
  path: string;
  bodySize: number;
  /** Display prefix of the key that asked. */
  requestedBy: string;
  createdAt: string;
  expiresAt: string;
  approvalUrl: string;
  decidedAt?: string | null;
  decidedBy?: string | null;
  /** Until when the same rule needs no new approval. */
  windowUntil?: string | null;
  usedAt?: string | null;
  /** What the agent said it needs this for: its own words, plain text. */
  reason?: string | null;
  /** `request`: a brokered request; `reveal`: a read of a `reveal: "approval"` credential's secret. */
  kind?: "request" | "reveal";
  /** The label of the key that asked, if it has one. */
  requestedLabel?: string | null;
}

export interface ApprovalList {
  approvals: Approval[];
  count: number;
}

export type AccessRequestStatus = "pending" | "fulfilled" | "declined" | "expired";

/** `requests.create()`: where a person answers the agent's request. */
export interface AccessRequestCreated {
  requestId: string;
  status: "pending";
  /** The console page where a person fills the credential in or declines. */
  url: string;
  expiresAt: string;
}

/** An agent's request for a credential it lacks: who asked, for what, why. Never a secret. */
export interface AccessRequest {
  requestId: string;
  status: AccessRequestStatus;
  name: string;
  type: string;
  /** The agent's words: show them as plain text. */
  reason: string;
  allowedHosts: string[] | null;
  /** Display prefix of the key that asked. */
  requestedBy: string;
  requestedByLabel: string | null;
  createdAt: string;
  expiresAt: string;
  url: string;
  answeredAt?: string | null;
  /** Display prefix of the key that fulfilled or declined it. */
  answeredBy?: string | null;
}

export interface AccessRequestList {
  requests: AccessRequest[];
  count: number;
}

/**
 * What the upstream answered, every recognisable form of the secret replaced
 * by `[REDACTED]`.
 */
export interface VaultFetchResult {
  status: number;
  /** Lower-case names; a repeated header's values joined by ", ". */
  headers: Record<string, string>;
  /** UTF-8 text, or base64 when `bodyEncoding` is "base64". */
  body: string;
  bodyEncoding: "text" | "base64";
  /** The URL that answered (after redirects), without its query. */
  url: string;
}

/** SELLER or BUYER (the default): the official SDK's identity purposes; stored, nothing here depends on it. */
export type IdentityPurpose = "SELLER" | "BUYER";

/** `identity.whoami()`: the identity that owns the API key. */
export interface Identity {
  identityId: string;
  name: string;
  /** Always null here: this server has no mail. */
  email: string | null;
  displayName: string;
  /** "AGENT" for every identity of a self-hosted vault. */
  type: string;
  purpose: IdentityPurpose;
  /** The scopes of the key that called. */
  scopes: string[];
  usageCount: number;
  lastUsedAt: string | null;
  createdAt: string;
}

// The official SDK's names (`@loomal/sdk` of the hosted service) for the same
// shapes, so that type annotations written for it compile against this one.

/** The official name of {@link CredentialType}. */
export type VaultCredentialType = CredentialType;
/** The official name of what `vault.store` and its helpers answer; list items are assignable to it. */
export type CredentialMetadata = StoredCredential;
/** The official name of {@link Credential} (`vault.get`). */
export type CredentialWithData = Credential;
/** The official name of {@link CredentialList} (`vault.list`). */
export type VaultList = CredentialList;
/** The official name of {@link TotpCode} (`vault.totp`). */
export type TotpResponse = TotpCode;
/** The official name of {@link BackupCode} (`vault.totpUseBackup`). */
export type TotpBackupResponse = BackupCode;
/** The official name of {@link Identity} (`identity.whoami`). */
export type IdentityResponse = Identity;

/** One kept version of a credential (`vault.versions()`): never its data. */
export interface CredentialVersion {
  version: number;
  writtenAt: string;
  /** The writing key's label and prefix ("billing-bot (loid-AbCd1234)"), or console-link. */
  writtenBy: string | null;
  /** How it was written: store, edit, restore, undelete, backup_code. */
  kind: string;
  type: CredentialType;
  current: boolean;
}

/** `vault.versions(name)`: the kept versions, newest first. */
export interface VersionList {
  name: string;
  credentialId: string;
  versions: CredentialVersion[];
}

/** A deleted credential that `vault.undelete()` can still bring back. */
export interface DeletedCredential {
  credentialId: string;
  name: string;
  type: CredentialType;
  /** The version an undelete brings back. */
  version: number;
  deletedAt: string;
  deletedBy: string | null;
  /** When the server destroys it for good. */
  recoverableUntil: string;
  /** A credential holds the name now: undelete it with `{ as: "other-name" }`. */
  nameInUse: boolean;
}

/** `vault.deleted()`: most recently deleted first. */
export interface DeletedList {
  deleted: DeletedCredential[];
  count: number;
}

export interface GetOptions {
  /** A kept version instead of the current one (see `vault.versions()`). */
  version?: number;
}

export interface DeleteOptions {
  /** Remove the credential and every version now: it cannot be undeleted. */
  destroy?: boolean;
}

export interface UndeleteOptions {
  /** Bring it back under this name (its own holds another credential now). */
  as?: string;
}
