-- Budgets of request rules: one row per (credential, rule) counting the requests
-- of the current fixed window. Counted by one atomic upsert, so every worker
-- and server on this store shares the count.
CREATE TABLE request_budgets (
    budget_key    TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    used          BIGINT NOT NULL
);

-- Requests waiting for a person's approval, bound to a hash of method, URL and
-- body (never the body), decided once and used once.
CREATE TABLE approvals (
    approval_id       TEXT PRIMARY KEY,
    identity_id       TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    credential_id     TEXT NOT NULL,
    credential_name   TEXT NOT NULL,
    rule_fingerprint  TEXT NOT NULL,
    rule_window       BIGINT NOT NULL,
    method            TEXT NOT NULL,
    host              TEXT NOT NULL,
    path              TEXT NOT NULL,
    body_size         BIGINT NOT NULL,
    request_hash      BYTEA NOT NULL,
    requested_by      TEXT NOT NULL,
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    decided_at        BIGINT,
    decided_by        TEXT,
    window_until      BIGINT,
    used_at           BIGINT
);
CREATE INDEX approvals_by_identity ON approvals (identity_id, created_at);
CREATE INDEX approvals_windows ON approvals (credential_id, rule_fingerprint, window_until);
