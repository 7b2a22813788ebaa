-- Versions of credentials (each write keeps a copy of the row it wrote, sealed as
-- the row is) and tombstones of deleted credentials, recoverable until destroyed.
-- No foreign key to credentials: a deleted credential keeps its versions. The
-- primary key is the only index (each write maintains it): an identity's delete
-- cascades by a scan, which is rare.
CREATE TABLE credential_versions (
    credential_id TEXT NOT NULL,
    version       BIGINT NOT NULL,
    identity_id   TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    metadata      BYTEA NOT NULL,
    expires_at    BIGINT,
    written_at    BIGINT NOT NULL,
    written_by    TEXT,
    write_kind    TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BYTEA NOT NULL,
    nonce         BYTEA NOT NULL,
    ciphertext    BYTEA NOT NULL,
    PRIMARY KEY (credential_id, version)
);

CREATE TABLE credential_tombstones (
    credential_id TEXT PRIMARY KEY,
    identity_id   TEXT NOT NULL REFERENCES identities (identity_id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT NOT NULL,
    deleted_by    TEXT
);
CREATE INDEX credential_tombstones_name ON credential_tombstones (identity_id, name);
CREATE INDEX credential_tombstones_deleted_at ON credential_tombstones (deleted_at);

-- What is stored today becomes each credential's first kept version.
INSERT INTO credential_versions
SELECT credential_id, version, identity_id, name, type, metadata, expires_at, updated_at,
       NULL, 'store', key_id, wrapped_key, nonce, ciphertext
FROM credentials;
