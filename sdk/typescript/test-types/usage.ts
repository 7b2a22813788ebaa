// Compile-time contract of @loomal/sdk, checked by `tsc -p tsconfig.types.json`
// (part of `npm test`). Every line marked @ts-expect-error must fail to
// compile: if a misuse starts compiling, the directive itself becomes an error.
// Nothing here runs.

import {
  type BackupCode,
  type Credential,
  type CredentialSummary,
  type Identity,
  Loomal,
  LoomalError,
  NotFoundError,
  RateLimitError,
  type StoreCredentialInput,
  type StoredCredential,
  type TotpCode,
} from "@loomal/sdk";

declare const env: Record<string, string | undefined>;

export async function intendedUsages(): Promise<void> {
  // The seed's first example.
  const loomal = new Loomal({ apiKey: env["LOOMAL_API_KEY"]! });
  const credential: StoredCredential = await loomal.vault.store("stripe", {
    type: "API_KEY",
    data: { key: "sk_live_abc123..." },
    metadata: { service: "stripe", prefix: "sk_live_...c123" },
  });
  const id: string = credential.credentialId;
  const created: string = credential.createdAt;
  const expires: string | null = credential.expiresAt;

  // The public reference.
  const { code, remaining } = await loomal.vault.totp("github-2fa");
  const c: string = code;
  const r: number = remaining;
  const totp: TotpCode = await loomal.vault.totp("github-2fa");
  const left: number = totp.backupCodesRemaining;
  const backup: BackupCode = await loomal.vault.totpUseBackup("github-2fa");
  const backupLeft: number = backup.remaining;
  const me: Identity = await loomal.identity.whoami();
  const scopes: string[] = me.scopes;
  const email: string | null = me.email;

  // Every constructor option.
  new Loomal();
  new Loomal({ apiKey: "loid-x", baseUrl: "http://127.0.0.1:8470", timeoutMs: 5000, maxRetries: 0 });
  new Loomal({ fetch: (url, init) => fetch(url, init) });
  new Loomal({ fetch: globalThis.fetch });

  // One value per type, with its required field, plus extras and totp.
  const inputs: StoreCredentialInput[] = [
    { type: "LOGIN", data: { password: "s3cret!", totp: "JBSWY3DPEHPK3PXP" }, metadata: { uri: "https://github.com", username: "agent-bot" } },
    { type: "API_KEY", data: { key: "sk" } },
    { type: "API_KEY", data: { clientId: "id", secret: "s" } },
    { type: "OAUTH", data: { accessToken: "a", refreshToken: "r" }, metadata: { provider: "google", scopes: ["mail"] } },
    { type: "TOTP", data: { secret: "JBSWY3DPEHPK3PXP", backupCodes: ["abcd-1234"] }, metadata: { issuer: "GitHub", digits: 6 } },
    { type: "SSH_KEY", data: { privateKey: "-----BEGIN", passphrase: "p" } },
    { type: "DATABASE", data: { password: "p" }, metadata: { engine: "postgres", port: 5432 } },
    { type: "DATABASE", data: { connectionString: "postgresql://u:p@h/db" } },
    { type: "SMTP", data: { password: "p" }, metadata: { host: "smtp.example.com", port: 587 } },
    { type: "AWS", data: { secretAccessKey: "s", sessionToken: "t" }, metadata: { accessKeyId: "AKIA", region: "eu-west-1" } },
    { type: "CERTIFICATE", data: { privateKey: "-----BEGIN" } },
    { type: "CARD", data: { number: "4242 4242 4242 4242", cvc: "123", expMonth: "12" } },
    { type: "SHIPPING_ADDRESS", data: { line1: "1 Main St", city: "Springfield" } },
    { type: "CUSTOM", data: { anything: { nested: [1, 2] } } },
    { type: "LOGIN", data: { password: "p", recoveryEmail: "x@example.com" } }, // extra fields are kept
    { type: "LOGIN", data: { password: "p" }, expiresAt: new Date() },
    { type: "LOGIN", data: { password: "p" }, expiresAt: "2030-01-01T00:00:00Z" },
  ];
  for (const input of inputs) await loomal.vault.store("x", input);

  // get narrows on type.
  const got: Credential = await loomal.vault.get("github");
  if (got.type === "LOGIN") {
    const password: string = got.data.password;
    const username: string | undefined = got.metadata.username;
  }
  if (got.type === "TOTP") {
    const codes: string[] | undefined = got.data.backupCodes;
  }
  const hasTotp: boolean = got.hasTOTP;
  const lastUsed: string | null = got.lastUsedAt;

  // list, paging, listAll.
  const all = await loomal.vault.list();
  const count: number = all.count;
  const first: CredentialSummary | undefined = all.credentials[0];
  const page = await loomal.vault.list({ limit: 10 });
  const next: string | null | undefined = page.nextCursor;
  if (next) await loomal.vault.list({ limit: 10, cursor: next });
  for await (const summary of loomal.vault.listAll({ pageSize: 50 })) {
    const name: string = summary.name;
  }
  const deleted: void = await loomal.vault.delete("x");

  // Helpers.
  await loomal.vault.storeApiKey("stripe", "sk_live_...");
  await loomal.vault.storeApiKey("google", { clientId: "id", secret: "s" }, { metadata: { service: "google" } });
  await loomal.vault.storeCard("visa", { number: "4242-4242-4242-4242", cvc: "123" }, { metadata: { brand: "visa" } });
  await loomal.vault.storeShippingAddress("home", { line1: "1 Main St", country: "US" });

  // Errors.
  try {
    await loomal.vault.get("missing");
  } catch (error) {
    if (error instanceof NotFoundError) {
      const status: number = error.status;
      const errorCode: string = error.code;
      const reason: string | undefined = error.reason;
    }
    if (error instanceof RateLimitError) {
      const after: number | undefined = error.retryAfter;
    }
    if (error instanceof LoomalError) {
      const message: string = error.message;
    }
  }
  void [id, created, expires, c, r, left, backupLeft, scopes, email, hasTotp, lastUsed, count, first, deleted];
}

export async function misuses(loomal: Loomal): Promise<void> {
  // @ts-expect-error LOGIN without its password
  await loomal.vault.store("github", { type: "LOGIN", data: { username: "agent-bot" } });
  // @ts-expect-error a typo of the required field is not the field
  await loomal.vault.store("github", { type: "LOGIN", data: { pasword: "s3cret!" } });
  // @ts-expect-error unknown credential type
  await loomal.vault.store("x", { type: "PASSWORD", data: { password: "p" } });
  // @ts-expect-error type is required
  await loomal.vault.store("x", { data: { password: "p" } });
  // @ts-expect-error data is required
  await loomal.vault.store("x", { type: "LOGIN" });
  // @ts-expect-error API_KEY needs key, or clientId and secret
  await loomal.vault.store("x", { type: "API_KEY", data: { clientId: "id" } });
  // @ts-expect-error API_KEY's key is a string
  await loomal.vault.store("x", { type: "API_KEY", data: { key: 42 } });
  // @ts-expect-error OAUTH needs accessToken
  await loomal.vault.store("x", { type: "OAUTH", data: { refreshToken: "r" } });
  // @ts-expect-error TOTP needs its seed
  await loomal.vault.store("x", { type: "TOTP", data: { backupCodes: ["a"] } });
  // @ts-expect-error backup codes are strings
  await loomal.vault.store("x", { type: "TOTP", data: { secret: "JBSWY3DPEHPK3PXP", backupCodes: [1, 2] } });
  // @ts-expect-error SSH_KEY needs privateKey
  await loomal.vault.store("x", { type: "SSH_KEY", data: { passphrase: "p" } });
  // @ts-expect-error DATABASE needs password or connectionString
  await loomal.vault.store("x", { type: "DATABASE", data: { host: "db" } });
  // @ts-expect-error SMTP needs password
  await loomal.vault.store("x", { type: "SMTP", data: {} });
  // @ts-expect-error AWS needs secretAccessKey
  await loomal.vault.store("x", { type: "AWS", data: { sessionToken: "t" } });
  // @ts-expect-error CERTIFICATE needs privateKey
  await loomal.vault.store("x", { type: "CERTIFICATE", data: { certificate: "c" } });
  // @ts-expect-error CARD needs number
  await loomal.vault.store("x", { type: "CARD", data: { cvc: "123" } });
  // @ts-expect-error SHIPPING_ADDRESS needs line1
  await loomal.vault.store("x", { type: "SHIPPING_ADDRESS", data: { city: "Springfield" } });
  // @ts-expect-error totp is a string on every type
  await loomal.vault.store("x", { type: "LOGIN", data: { password: "p", totp: 123456 } });
  // @ts-expect-error the data of one type under another type
  await loomal.vault.store("x", { type: "AWS", data: { password: "p" } });
  // @ts-expect-error expiresAt is a string or a Date
  await loomal.vault.store("x", { type: "LOGIN", data: { password: "p" }, expiresAt: 1700000000 });
  // @ts-expect-error metadata is an object
  await loomal.vault.store("x", { type: "LOGIN", data: { password: "p" }, metadata: "github" });
  // @ts-expect-error the Python SDK's keyword form is not this SDK's
  await loomal.vault.store("x", "LOGIN", { password: "p" });
  // @ts-expect-error the name is required
  await loomal.vault.get();
  // @ts-expect-error storeCard needs the number
  await loomal.vault.storeCard("visa", { cvc: "123" });
  // @ts-expect-error storeApiKey's pair needs the secret
  await loomal.vault.storeApiKey("google", { clientId: "id" });
  // @ts-expect-error storeShippingAddress needs line1
  await loomal.vault.storeShippingAddress("home", { city: "Springfield" });
  // @ts-expect-error unknown option
  new Loomal({ api_key: "loid-x" });
  // @ts-expect-error timeoutMs is a number
  new Loomal({ timeoutMs: "30s" });
  const totp = await loomal.vault.totp("github-2fa");
  // @ts-expect-error the code is a string (leading zeros matter)
  const n: number = totp.code;
  // @ts-expect-error a misspelt result field
  void totp.secondsRemaining;
  const got = await loomal.vault.get("github");
  // @ts-expect-error data's shape is known only after narrowing on type
  void got.data.password.length;
  const stored = await loomal.vault.store("x", { type: "LOGIN", data: { password: "p" } });
  // @ts-expect-error the store response never holds the secret data
  void stored.data;
  void n;
}
