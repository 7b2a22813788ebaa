-- Each identity's log numbers its own events 1, 2, 3 (seq): the ids an identity
-- sees step only with its own log, so they reveal nothing of another identity's
-- (event_id, one sequence for all logs, did: issue 28.12). audit_sequences holds
-- each log's last number, and a trigger hands out the next one on every insert, so
-- every writer of audit_events gets it, whatever statement it uses. The counter
-- row is locked until the writer commits: writers of one log take turns. A row
-- that comes with its seq (a restore) keeps it and moves the counter past it.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
UPDATE audit_events AS a SET seq = numbered.n FROM (
    SELECT event_id, row_number() OVER (PARTITION BY identity_id ORDER BY event_id) AS n
    FROM audit_events WHERE identity_id IS NOT NULL
) AS numbered WHERE a.event_id = numbered.event_id;
CREATE TABLE audit_sequences (
    identity_id TEXT PRIMARY KEY,
    last_seq    BIGINT NOT NULL
);
INSERT INTO audit_sequences (identity_id, last_seq)
    SELECT identity_id, max(seq) FROM audit_events WHERE identity_id IS NOT NULL
    GROUP BY identity_id;
CREATE FUNCTION audit_events_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.identity_id IS NOT NULL AND NEW.seq IS NULL THEN
        INSERT INTO audit_sequences AS s (identity_id, last_seq) VALUES (NEW.identity_id, 1)
            ON CONFLICT (identity_id) DO UPDATE SET last_seq = s.last_seq + 1
            RETURNING last_seq INTO NEW.seq;
    ELSIF NEW.identity_id IS NOT NULL THEN
        INSERT INTO audit_sequences AS s (identity_id, last_seq) VALUES (NEW.identity_id, NEW.seq)
            ON CONFLICT (identity_id) DO UPDATE SET last_seq = greatest(s.last_seq, NEW.seq);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_events_seq BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_seq();
DROP INDEX audit_events_identity;
CREATE INDEX audit_events_identity ON audit_events (identity_id, seq);
