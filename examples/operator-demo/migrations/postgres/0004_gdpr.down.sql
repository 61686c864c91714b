DROP FUNCTION IF EXISTS gdpr_pseudonymize_audit(TEXT, TEXT);
ALTER TABLE users DROP COLUMN IF EXISTS erased_at;
DROP TABLE IF EXISTS erasure_requests;
DROP TABLE IF EXISTS privacy_settings;
DROP TABLE IF EXISTS audit_events;
DROP FUNCTION IF EXISTS audit_events_append_only();
