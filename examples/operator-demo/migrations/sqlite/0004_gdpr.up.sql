-- GDPR (issue 15): the audit log, privacy settings, and erasure with a
-- grace period. SQLite has no roles: the app never updates or deletes an
-- audit row but to pseudonymize an erased user (see src/gdpr/erase.rs).

-- Who did what, when, from where. actor_id is the acting user's id, NULL
-- for the system (the erasure job); after the user's erasure it is
-- "erased:" and a keyed hash (HMAC-SHA256) of the id, never the id, email
-- or name. A target_id that is the user's id is rewritten likewise; client_ip and
-- request_id of the erased user's events are cleared.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    actor_id TEXT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    request_id TEXT,
    client_ip TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, created_at, id);
CREATE INDEX audit_events_actor ON audit_events (organization_id, actor_id);

-- One row per user who changed a default (docs/compliance.md); flags are
-- 0 or 1 (what sqlx's Any driver carries on both databases).
CREATE TABLE privacy_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    marketing_emails BIGINT NOT NULL DEFAULT 0 CHECK (marketing_emails IN (0, 1)),
    call_recording_consent BIGINT NOT NULL DEFAULT 0 CHECK (call_recording_consent IN (0, 1)),
    data_processing_consent BIGINT NOT NULL DEFAULT 0 CHECK (data_processing_consent IN (0, 1)),
    analytics BIGINT NOT NULL DEFAULT 0 CHECK (analytics IN (0, 1)),
    updated_at BIGINT NOT NULL
);
CREATE INDEX privacy_settings_organization ON privacy_settings (organization_id);

-- Accounts whose erasure is scheduled: ids and times only (no PII), read
-- by the erasure job across organizations, like user_logins without
-- row-level security on Postgres.
CREATE TABLE erasure_requests (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    requested_at BIGINT NOT NULL,
    erase_after BIGINT NOT NULL
);
CREATE INDEX erasure_requests_due ON erasure_requests (erase_after);

-- An erased user's row is replaced by a tombstone with a new id, so that
-- the calls and dispositions of the organization keep a (nameless) owner.
ALTER TABLE users ADD COLUMN erased_at BIGINT;
