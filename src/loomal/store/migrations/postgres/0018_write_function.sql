-- A credential write in one statement (issue 29): the write script of
-- store/sql.py (lock the row, the credential limit, undelete's tombstone, the
-- row, its version and the prune, the audit event) run by PostgreSQL itself, so
-- a write waits for one round trip instead of seven. The change itself (sealing
-- the new data) is computed by the server beforehand from the row it last saw;
-- this checks that row is still the current one (same credential id and version)
-- while holding the row lock, and otherwise writes nothing and answers 'stale'
-- with the current row, from which the server computes the change again.
--
-- Outcomes: 'ok'; 'stale' (o_* hold the current row, all NULL if there is none);
-- 'limit' (o_count: the identity's credentials; the core's rule refuses a create
-- at the limit, the same comparison); 'gone' (the tombstone an undelete removes is
-- gone). A create that loses a race for the name raises SQLSTATE LV001 and rolls
-- back. lastUsedAt never moves backwards (it is flushed without a new version, so
-- the row the server saw may hold an older one). A column added to credentials or
-- credential_versions later that a write sets needs this function replaced too
-- (CREATE OR REPLACE in that migration) and store/postgres.py's _WRITE_TYPES.
CREATE FUNCTION loomal_write_credential(
    p_identity_id TEXT, p_name TEXT, p_expected_id TEXT, p_expected_version BIGINT,
    n_credential_id TEXT, n_name TEXT, n_type TEXT, n_metadata BYTEA, n_expires_at BIGINT,
    n_created_at BIGINT, n_updated_at BIGINT, n_last_used_at BIGINT, n_last_rotated_at BIGINT,
    n_version BIGINT, n_identity_id TEXT, n_key_id TEXT, n_wrapped_key BYTEA, n_nonce BYTEA,
    n_ciphertext BYTEA,
    p_max_credentials BIGINT,
    v_keep BIGINT, v_revives TEXT, v_written_at BIGINT, v_written_by TEXT, v_kind TEXT,
    a_at BIGINT, a_identity_id TEXT, a_actor_identity_id TEXT, a_key_prefix TEXT,
    a_action TEXT, a_credential_name TEXT, a_outcome TEXT, a_client TEXT, a_detail TEXT,
    a_occurrences BIGINT, a_key_label TEXT, a_operator TEXT,
    OUT o_outcome TEXT, OUT o_count BIGINT,
    OUT o_credential_id TEXT, OUT o_name TEXT, OUT o_type TEXT, OUT o_metadata BYTEA,
    OUT o_expires_at BIGINT, OUT o_created_at BIGINT, OUT o_updated_at BIGINT,
    OUT o_last_used_at BIGINT, OUT o_last_rotated_at BIGINT, OUT o_version BIGINT,
    OUT o_identity_id TEXT, OUT o_key_id TEXT, OUT o_wrapped_key BYTEA, OUT o_nonce BYTEA,
    OUT o_ciphertext BYTEA
) LANGUAGE plpgsql AS $$
DECLARE
    cur credentials%ROWTYPE;
BEGIN
    SELECT * INTO cur FROM credentials
        WHERE credentials.identity_id = p_identity_id AND credentials.name = p_name FOR UPDATE;
    IF FOUND THEN
        IF cur.credential_id IS DISTINCT FROM p_expected_id
                OR cur.version IS DISTINCT FROM p_expected_version THEN
            o_outcome := 'stale';
            SELECT cur.credential_id, cur.name, cur.type, cur.metadata, cur.expires_at,
                   cur.created_at, cur.updated_at, cur.last_used_at, cur.last_rotated_at,
                   cur.version, cur.identity_id, cur.key_id, cur.wrapped_key, cur.nonce,
                   cur.ciphertext
              INTO o_credential_id, o_name, o_type, o_metadata, o_expires_at, o_created_at,
                   o_updated_at, o_last_used_at, o_last_rotated_at, o_version, o_identity_id,
                   o_key_id, o_wrapped_key, o_nonce, o_ciphertext;
            RETURN;
        END IF;
    ELSIF p_expected_id IS NOT NULL THEN
        o_outcome := 'stale';
        RETURN;
    ELSIF p_max_credentials IS NOT NULL THEN
        -- Creates of one identity take turns on its row, so the count is exact.
        PERFORM 1 FROM identities WHERE identities.identity_id = p_identity_id FOR UPDATE;
        SELECT count(*) INTO o_count FROM credentials
            WHERE credentials.identity_id = p_identity_id;
        IF o_count >= p_max_credentials THEN
            o_outcome := 'limit';
            RETURN;
        END IF;
    END IF;
    IF v_revives IS NOT NULL THEN
        DELETE FROM credential_tombstones WHERE credential_tombstones.credential_id = v_revives;
        IF NOT FOUND THEN
            o_outcome := 'gone';
            RETURN;
        END IF;
    END IF;
    IF cur.credential_id IS NULL THEN
        INSERT INTO credentials (credential_id, name, type, metadata, expires_at, created_at,
                updated_at, last_used_at, last_rotated_at, version, identity_id, key_id,
                wrapped_key, nonce, ciphertext)
            VALUES (n_credential_id, n_name, n_type, n_metadata, n_expires_at, n_created_at,
                n_updated_at, n_last_used_at, n_last_rotated_at, n_version, n_identity_id,
                n_key_id, n_wrapped_key, n_nonce, n_ciphertext)
            ON CONFLICT (identity_id, name) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'another create of this name committed first' USING ERRCODE = 'LV001';
        END IF;
    ELSE
        UPDATE credentials SET type = n_type, metadata = n_metadata, expires_at = n_expires_at,
                updated_at = n_updated_at,
                last_used_at = greatest(n_last_used_at, cur.last_used_at),
                version = n_version, key_id = n_key_id, wrapped_key = n_wrapped_key,
                nonce = n_nonce, ciphertext = n_ciphertext, last_rotated_at = n_last_rotated_at
            WHERE credentials.credential_id = cur.credential_id;
    END IF;
    IF v_keep IS NOT NULL THEN
        INSERT INTO credential_versions (credential_id, version, identity_id, name, type,
                metadata, expires_at, written_at, written_by, write_kind, key_id, wrapped_key,
                nonce, ciphertext)
            VALUES (n_credential_id, n_version, n_identity_id, n_name, n_type, n_metadata,
                n_expires_at, v_written_at, v_written_by, v_kind, n_key_id, n_wrapped_key,
                n_nonce, n_ciphertext);
        DELETE FROM credential_versions WHERE credential_versions.credential_id = n_credential_id
            AND credential_versions.version <= n_version - v_keep;
    END IF;
    IF a_action IS NOT NULL THEN
        INSERT INTO audit_events (at, identity_id, actor_identity_id, key_prefix, action,
                credential_name, outcome, client, detail, occurrences, key_label, operator)
            VALUES (a_at, a_identity_id, a_actor_identity_id, a_key_prefix, a_action,
                a_credential_name, a_outcome, a_client, a_detail, a_occurrences, a_key_label,
                a_operator);
    END IF;
    o_outcome := 'ok';
END
$$;
