-- GDPR (issue 15): the audit log, privacy settings, and erasure with a
-- grace period. Row-level security as in 0002, and the audit log
-- append-only: a trigger refuses UPDATE and DELETE to every role but the
-- table's owner, whose one way in for the app is
-- gdpr_pseudonymize_audit() below (the app's role needs no UPDATE or
-- DELETE grant on audit_events: docs/configuration.md).

-- Who did what, when, from where. actor_id is the acting user's id, NULL
-- for the system (the erasure job); after the user's erasure it is
-- "erased:" and a keyed hash (HMAC-SHA256) of the id, never the id, email
-- or name. A target_id that is the user's id is rewritten likewise; client_ip and
-- request_id of the erased user's events are cleared.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
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
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
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
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    requested_at BIGINT NOT NULL,
    erase_after BIGINT NOT NULL
);
CREATE INDEX erasure_requests_due ON erasure_requests (erase_after);

-- An erased user's row is replaced by a tombstone with a new id, so that
-- the calls and dispositions of the organization keep a (nameless) owner.
ALTER TABLE users ADD COLUMN erased_at BIGINT;

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_tenant ON audit_events
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE privacy_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE privacy_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY privacy_settings_tenant ON privacy_settings
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

-- Append-only, whatever was granted: only the owner (and so only the
-- SECURITY DEFINER function below) may change or remove a row. The
-- organization's cascade runs as the owner too.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class
                        WHERE oid = 'audit_events'::regclass) THEN
        RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = '42501';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- The one change to the audit log the app may make: an erased user's
-- events lose the user's id (replaced by a keyed hash the app computes)
-- client address and request id. As the owner, still under row-level security
-- (forced; and by the WHERE, for an owner that is a superuser): only the
-- current organization's rows.
CREATE FUNCTION gdpr_pseudonymize_audit(p_user_id TEXT, p_hash TEXT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    changed BIGINT;
    targeted BIGINT;
BEGIN
    UPDATE audit_events SET actor_id = p_hash, client_ip = NULL, request_id = NULL WHERE actor_id = p_user_id
        AND organization_id = current_setting('app.current_org_id', true);
    GET DIAGNOSTICS changed = ROW_COUNT;
    UPDATE audit_events SET target_id = p_hash WHERE target_id = p_user_id
        AND organization_id = current_setting('app.current_org_id', true);
    GET DIAGNOSTICS targeted = ROW_COUNT;
    RETURN changed + targeted;
END;
$$;
