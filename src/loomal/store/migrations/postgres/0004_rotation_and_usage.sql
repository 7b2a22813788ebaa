-- lastRotatedAt: when an overwrite last changed a credential's data.
-- Identity usage (GET /v0/whoami): authenticated requests, written in batches.
ALTER TABLE credentials ADD COLUMN last_rotated_at BIGINT;
ALTER TABLE identities ADD COLUMN usage_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE identities ADD COLUMN last_used_at BIGINT;
