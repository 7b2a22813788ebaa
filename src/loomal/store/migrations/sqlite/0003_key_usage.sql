-- How many data keys each master key has wrapped: AES-GCM under one key is
-- bounded at 2^32 random-nonce encryptions, and key-status warns well before.
CREATE TABLE master_key_usage (
    key_id TEXT PRIMARY KEY,
    wraps  INTEGER NOT NULL
);
