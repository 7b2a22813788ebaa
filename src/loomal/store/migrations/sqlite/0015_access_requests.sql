-- Agents asking for the credentials they lack (issue 27): one row per request,
-- answered once (fulfilled or declined) by one conditional UPDATE. No secret is
-- ever kept here: a fulfilment stores the credential through the vault.
CREATE TABLE access_requests (
    request_id          TEXT PRIMARY KEY,
    identity_id         TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    type                TEXT NOT NULL,
    reason              TEXT NOT NULL,
    allowed_hosts       TEXT,
    requested_by        TEXT NOT NULL,
    requested_by_label  TEXT,
    status              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    answered_at         INTEGER,
    answered_by         TEXT
);
CREATE INDEX access_requests_by_identity ON access_requests (identity_id, created_at);
