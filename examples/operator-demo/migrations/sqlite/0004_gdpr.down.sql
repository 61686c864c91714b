ALTER TABLE users DROP COLUMN erased_at;
DROP TABLE IF EXISTS erasure_requests;
DROP TABLE IF EXISTS privacy_settings;
DROP TABLE IF EXISTS audit_events;
