-- Webhooks to tell a person (issue 27): each event is written here where it
-- happens, then delivered by whichever server claims it first (a lease taken
-- by one conditional UPDATE), retried with backoff, and kept as dead after the
-- last attempt. The payload is the exact bytes signed and sent, so every retry
-- carries the same body and the same idempotency id (event_id). No secret.
CREATE TABLE webhook_outbox (
    event_id         TEXT PRIMARY KEY,
    identity_id      TEXT REFERENCES identities (identity_id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    payload          BYTEA NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);
