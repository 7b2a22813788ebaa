-- Audit events: who did what to which credential, and how it ended. Never a
-- secret, never a request body. identity_id is whose log the event is in (the
-- caller, or the owner of a credential another identity tried to reach).
CREATE TABLE audit_events (
    event_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at                INTEGER NOT NULL,
    identity_id       TEXT,
    actor_identity_id TEXT,
    key_prefix        TEXT,
    action            TEXT NOT NULL,
    credential_name   TEXT,
    outcome           TEXT NOT NULL,
    client            TEXT
);
CREATE INDEX audit_events_identity ON audit_events (identity_id, at, event_id);
CREATE INDEX audit_events_time ON audit_events (at, event_id);
CREATE INDEX credentials_name ON credentials (name);
