-- Refused authentications are aggregated: one row per client address, outcome and
-- window, with how many requests it stands for (every other event: 1).
-- The audit log is listed by event_id (the order events were written), newest first.
ALTER TABLE audit_events ADD COLUMN occurrences BIGINT NOT NULL DEFAULT 1;
DROP INDEX audit_events_identity;
CREATE INDEX audit_events_identity ON audit_events (identity_id, event_id);
