-- OAuth refresh leases: who refreshes a credential's access token now, and until
-- when (microseconds). One row a credential while a refresh is in flight (state
-- 'refreshing') or while its provider is failing (state 'unavailable', until the
-- retry time). A server that dies holding one blocks nobody past 'until'.
CREATE TABLE oauth_leases (
    credential_id  TEXT PRIMARY KEY,
    holder         TEXT NOT NULL,
    until          BIGINT NOT NULL,
    state          TEXT NOT NULL
);

-- Connect flows waiting for their callback: the hash of the single-use state,
-- the identity and credential it is bound to, the PKCE verifier and the pending
-- client settings (JSON), and when it stops being accepted.
CREATE TABLE oauth_connect_states (
    state_hash     BYTEA PRIMARY KEY,
    identity_id    TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    credential_name TEXT NOT NULL,
    pending        BYTEA NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX oauth_connect_states_expiry ON oauth_connect_states (expires_at);
