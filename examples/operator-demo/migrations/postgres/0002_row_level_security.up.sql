-- Row-level security on every tenant table, enabled and FORCED (so the table
-- owner is bound too). The app sets app.current_org_id per transaction with
-- set_config(..., true); unset, current_setting(..., true) is NULL and the
-- policies match nothing: a query outside a tenant transaction sees no rows.
-- The app must connect as a role that is neither superuser nor BYPASSRLS
-- (operator-demo refuses to start otherwise); see docs/configuration.md.

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY organizations_tenant ON organizations
    USING (id = current_setting('app.current_org_id', true))
    WITH CHECK (id = current_setting('app.current_org_id', true));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE companies FORCE ROW LEVEL SECURITY;
CREATE POLICY companies_tenant ON companies
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
ALTER TABLE campaigns FORCE ROW LEVEL SECURITY;
CREATE POLICY campaigns_tenant ON campaigns
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE call_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY call_sessions_tenant ON call_sessions
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE calls FORCE ROW LEVEL SECURITY;
CREATE POLICY calls_tenant ON calls
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));

ALTER TABLE call_dispositions ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_dispositions FORCE ROW LEVEL SECURITY;
CREATE POLICY call_dispositions_tenant ON call_dispositions
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));
