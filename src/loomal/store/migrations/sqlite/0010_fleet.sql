-- Keys carry an optional label (who holds it: "billing-bot"), shown beside the
-- prefix in lists, the console and the audit log. Audit events keep the label of
-- the key that acted, and for server-host commands the OS user who ran them.
ALTER TABLE api_keys ADD COLUMN label TEXT;
ALTER TABLE audit_events ADD COLUMN key_label TEXT;
ALTER TABLE audit_events ADD COLUMN operator TEXT;

-- Console sessions opened with a platform key (lopk-...): they manage identities
-- and nothing else. Only the hashes of the session id and of the key are stored.
CREATE TABLE platform_sessions (
    session_hash  BLOB PRIMARY KEY,
    key_hash      BLOB NOT NULL REFERENCES platform_keys (key_hash) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX platform_sessions_expiry ON platform_sessions (expires_at);
