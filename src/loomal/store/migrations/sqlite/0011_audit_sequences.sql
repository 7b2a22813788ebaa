-- Each identity's log numbers its own events 1, 2, 3 (seq): the ids an identity
-- sees step only with its own log, so they reveal nothing of another identity's
-- (event_id, one sequence for all logs, did: issue 28.12). audit_sequences holds
-- each log's last number, and a trigger hands out the next one on every insert, so
-- every writer of audit_events gets it, whatever statement it uses. A row that
-- comes with its seq (a restore) keeps it and moves the counter past it.
ALTER TABLE audit_events ADD COLUMN seq INTEGER;
UPDATE audit_events SET seq = numbered.n FROM (
    SELECT event_id, row_number() OVER (PARTITION BY identity_id ORDER BY event_id) AS n
    FROM audit_events WHERE identity_id IS NOT NULL
) AS numbered WHERE audit_events.event_id = numbered.event_id;
CREATE TABLE audit_sequences (
    identity_id TEXT PRIMARY KEY,
    last_seq    INTEGER NOT NULL
);
INSERT INTO audit_sequences (identity_id, last_seq)
    SELECT identity_id, max(seq) FROM audit_events WHERE identity_id IS NOT NULL
    GROUP BY identity_id;
CREATE TRIGGER audit_events_seq AFTER INSERT ON audit_events
WHEN NEW.identity_id IS NOT NULL AND NEW.seq IS NULL BEGIN
    INSERT INTO audit_sequences (identity_id, last_seq) VALUES (NEW.identity_id, 1)
        ON CONFLICT (identity_id) DO UPDATE SET last_seq = last_seq + 1;
    UPDATE audit_events SET seq = (
        SELECT last_seq FROM audit_sequences WHERE identity_id = NEW.identity_id
    ) WHERE event_id = NEW.event_id;
END;
CREATE TRIGGER audit_events_seq_given AFTER INSERT ON audit_events
WHEN NEW.identity_id IS NOT NULL AND NEW.seq IS NOT NULL BEGIN
    INSERT INTO audit_sequences (identity_id, last_seq) VALUES (NEW.identity_id, NEW.seq)
        ON CONFLICT (identity_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
END;
DROP INDEX audit_events_identity;
CREATE INDEX audit_events_identity ON audit_events (identity_id, seq);
