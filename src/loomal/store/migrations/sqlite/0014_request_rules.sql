-- Budgets of request rules: one row per (credential, rule) counting the requests
-- of the current fixed window. Counted by one atomic upsert, so every worker
-- and server on this store shares the count.
CREATE TABLE request_budgets (
    budget_key    TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    used          INTEGER NOT NULL
);

-- Requests waiting for a person's approval, bound to a hash of method, URL and
-- body (never the body), decided once and used once.
CREATE TABLE approvals (
    approval_id       TEXT PRIMARY KEY,
    identity_id       TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    credential_id     TEXT NOT NULL,
    credential_name   TEXT NOT NULL,
    rule_fingerprint  TEXT NOT NULL,
    rule_window       INTEGER NOT NULL,
    method            TEXT NOT NULL,
    host              TEXT NOT NULL,
    path              TEXT NOT NULL,
    body_size         INTEGER NOT NULL,
    request_hash      BLOB NOT NULL,
    requested_by      TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    decided_at        INTEGER,
    decided_by        TEXT,
    window_until      INTEGER,
    used_at           INTEGER
);
CREATE INDEX approvals_by_identity ON approvals (identity_id, created_at);
CREATE INDEX approvals_windows ON approvals (credential_id, rule_fingerprint, window_until);
