-- SQLite's writers take turns (one transaction at a time), so the INSERT of an
-- audit event reads its log's next number itself (statements.py, insert_audit),
-- the triggers of 0011 (a counter upsert and a rewrite of the row just inserted,
-- on every event) are no longer needed. audit_sequences stays as each log's floor,
-- pruning records the last number of what it deletes, so a log pruned empty goes
-- on from there rather than from 1.
DROP TRIGGER audit_events_seq;
DROP TRIGGER audit_events_seq_given;
