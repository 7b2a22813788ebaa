-- Web console: server-side sessions and one-time sign-in links. Only hashes of
-- the session ids and link tokens are stored. A session holds the hash of the
-- API key it was opened with (key_hash), or none when a sign-in link opened it
-- (then its rights are the identity's live keys' scopes, narrowed by scopes).
CREATE TABLE console_sessions (
    session_hash  BYTEA PRIMARY KEY,
    identity_id   TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    identity_name TEXT NOT NULL,
    key_hash      BYTEA,
    scopes        TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE console_login_links (
    token_hash    BYTEA PRIMARY KEY,
    identity_id   TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    identity_name TEXT NOT NULL,
    scopes        TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX console_login_links_expiry ON console_login_links (expires_at);
