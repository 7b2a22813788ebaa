-- Nothing changes on PostgreSQL: its writers run at once, so the trigger of 0011
-- keeps numbering each identity's audit log from the counter row they queue on.
-- (SQLite's 0019 moved the numbering into the INSERT.)
SELECT 1;
