-- Platform keys (lopk-...): they provision identities over /v0/platform and never
-- read a credential. Only their SHA-256 is stored, as for identity keys.
-- An identity's purpose (BUYER or SELLER): the platform API stores and shows it.
CREATE TABLE platform_keys (
    key_hash    BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX platform_keys_prefix ON platform_keys (prefix);
CREATE INDEX platform_keys_name ON platform_keys (name);
ALTER TABLE identities ADD COLUMN purpose TEXT NOT NULL DEFAULT 'BUYER';
CREATE INDEX identities_created ON identities (created_at, identity_id);
