-- Identities, their API keys (hashes only) and sealed credentials.
-- Times are integer microseconds since the Unix epoch (UTC).
CREATE TABLE identities (
    identity_id TEXT PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash    BYTEA PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_identity ON api_keys (identity_id);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE credentials (
    credential_id TEXT PRIMARY KEY,
    identity_id   TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    name          TEXT COLLATE "C" NOT NULL,
    type          TEXT NOT NULL,
    metadata      BYTEA NOT NULL,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    version       BIGINT NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BYTEA NOT NULL,
    nonce         BYTEA NOT NULL,
    ciphertext    BYTEA NOT NULL,
    UNIQUE (identity_id, name)
);
CREATE INDEX credentials_key_id ON credentials (key_id);
