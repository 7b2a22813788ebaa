-- The master key this store was created with, kept current by rotation. A
-- server whose keys do not include it refuses to start, instead of writing
-- rows the other servers cannot read. One row: the first server to record wins.
CREATE TABLE store_master_key (
    singleton   SMALLINT PRIMARY KEY CHECK (singleton = 1),
    key_id      TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
