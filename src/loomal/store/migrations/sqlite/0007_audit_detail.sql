-- Brokered requests (fetch, proxy) note method, host, path, upstream status and
-- duration here. Never a secret, a query string, a header or a body.
ALTER TABLE audit_events ADD COLUMN detail TEXT;
