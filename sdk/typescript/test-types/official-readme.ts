// A program written against the hosted service's official Node SDK, compiled
// against this one by `npm test` (tsc -b tsconfig.test.json). The vault,
// identity and error-handling blocks are the official README's, unchanged but
// for two things that README gets wrong for any SDK: it imports from "loomal"
// (the package is "@loomal/sdk"), and its error example sends mail (a vault
// call stands in). The platform block uses every method and type of the
// official `LoomalPlatform` as its sources declare them. Nothing here runs.

import { Loomal, LoomalApiError, LoomalPlatform } from "@loomal/sdk";
import type {
  ApiKeyClientPairData,
  ApiKeySecretData,
  CardData,
  CardMetadata,
  CreateIdentityParams,
  CreateIdentityResponse,
  CredentialMetadata,
  CredentialWithData,
  IdentityDetail,
  IdentityPurpose,
  IdentityResponse,
  IdentitySummary,
  LoomalConfig,
  PaginatedIdentities,
  PlatformConfig,
  RotateKeyResponse,
  ShippingAddressData,
  TotpBackupResponse,
  TotpResponse,
  UpdateIdentityParams,
  VaultCredentialType,
  VaultList,
} from "@loomal/sdk";

declare const process: { env: Record<string, string | undefined> };

export async function officialReadme(): Promise<void> {
  // ## Authentication
  const client = new Loomal({ apiKey: "loid-..." });
  const fromEnv = new Loomal({ apiKey: process.env.LOOMAL_API_KEY! });

  // ### Identity
  const identity = await client.identity.whoami();

  // ### Vault
  // Simple API key
  await client.vault.storeApiKey("stripe", "sk_live_...");

  // OAuth-style client credentials (client id + secret)
  await client.vault.storeApiKey("twitter", {
    clientId: "abc123",
    secret: "def456",
  });

  // Credit card (encrypted at rest — this is a secret vault, not a payment processor)
  await client.vault.storeCard("personal-visa", {
    cardholder: "Jane Doe",
    number: "4242 4242 4242 4242",
    expMonth: "12",
    expYear: "2029",
    cvc: "123",
    zip: "94103",
  }, { metadata: { brand: "Visa" } });

  // Shipping address
  await client.vault.storeShippingAddress("home", {
    name: "Autonomous Agent",
    line1: "1 Demo Way",
    city: "San Francisco",
    state: "CA",
    postcode: "94103",
    country: "US",
  });

  // ## Error handling
  try {
    await client.vault.get("no-such-credential");
  } catch (e) {
    if (e instanceof LoomalApiError) {
      console.error(e.status);  // HTTP status code
      console.error(e.code);    // API error code
      console.error(e.message); // Human-readable message
    }
  }
  void [fromEnv, identity];
}

export async function officialTypes(): Promise<void> {
  // The official types, used as its sources use them.
  const config: LoomalConfig = { apiKey: "loid-...", baseUrl: "http://127.0.0.1:8470" };
  const client = new Loomal(config);
  const stored: CredentialMetadata = await client.vault.store("github", {
    type: "LOGIN",
    data: { password: "p" },
  });
  const id: string = stored.credentialId;
  const kind: VaultCredentialType = stored.type;
  const helper: CredentialMetadata = await client.vault.storeApiKey("s", "sk", { expiresAt: "2030-01-01" });
  const list: VaultList = await client.vault.list();
  const items: CredentialMetadata[] = list.credentials;
  const count: number = list.count;
  const got: CredentialWithData = await client.vault.get("github");
  const data: Record<string, unknown> = got.data;
  const totp: TotpResponse = await client.vault.totp("github-2fa");
  const code: string = totp.code;
  const remaining: number = totp.remaining;
  const left: number | undefined = totp.backupCodesRemaining;
  const backup: TotpBackupResponse = await client.vault.totpUseBackup("github-2fa");
  const backupCode: string = backup.code;
  const me: IdentityResponse = await client.identity.whoami();
  const purpose: IdentityPurpose = me.purpose;
  const scopes: string[] = me.scopes;
  const displayName: string = me.displayName;
  const deleted: void = await client.vault.delete("github");
  const secret: ApiKeySecretData = { key: "sk" };
  const pair: ApiKeyClientPairData = { clientId: "c", secret: "s" };
  await client.vault.storeApiKey("pair", pair);
  const card: CardData = { cardholder: "J", number: "4242", expMonth: "1", expYear: "2030", cvc: "1" };
  const cardMeta: CardMetadata = { brand: "Visa" };
  await client.vault.storeCard("card", card, { metadata: cardMeta });
  const address: ShippingAddressData = {
    name: "A", line1: "1", city: "c", state: "s", postcode: "p", country: "US",
  };
  await client.vault.storeShippingAddress("addr", address, { metadata: { note: "x" } });
  const error = new LoomalApiError(404, "not_found", "Resource not found");
  const status: number = error.status;
  const name: string = error.name;
  void [id, kind, helper, items, count, data, code, remaining, left, backupCode, purpose, scopes];
  void [displayName, deleted, secret, status, name];
}

export async function officialPlatform(): Promise<void> {
  const config: PlatformConfig = { apiKey: "lopk-test", baseUrl: "http://localhost:3001" };
  const platform = new LoomalPlatform(config);
  const params: CreateIdentityParams = { name: "Agent", emailName: "agent", scopes: ["vault:read"] };
  const created: CreateIdentityResponse = await platform.identities.create(params);
  const defaults: CreateIdentityResponse = await platform.identities.create();
  const seller = await platform.identities.create({ purpose: "SELLER" });
  const rawKey: string = created.rawKey;
  const email: string | null = created.emailAddress;
  const page: PaginatedIdentities = await platform.identities.list();
  const next = await platform.identities.list({ limit: 10, pageToken: page.nextPageToken });
  const summaries: IdentitySummary[] = next.identities;
  const detail: IdentityDetail = await platform.identities.get(created.identityId);
  const prefix: string = detail.apiKeyPrefix;
  const update: UpdateIdentityParams = { name: "Renamed", addScopes: ["vault:write"] };
  const updated: { identityId: string; name?: string; scopes?: string[] } =
    await platform.identities.update(created.identityId, update);
  const narrowed: { identityId: string; scopes: string[] } = await platform.identities.updateScopes(
    created.identityId,
    { removeScopes: ["vault:read"] },
  );
  const rotated: RotateKeyResponse = await platform.identities.rotateKey(created.identityId);
  const gone: void = await platform.identities.delete(created.identityId);
  const agent = new Loomal({ apiKey: rotated.rawKey });
  void [defaults, seller, rawKey, email, summaries, prefix, updated, narrowed, gone, agent];
}
