-- Calls started per organization this calendar month (UTC): the counter
-- max_calls_per_month is checked against, in constant time, instead of
-- counting the month's sessions on every start. One row per organization:
-- the month it counts (its first second, Unix time) and the calls started
-- in it; the first start of a later month starts the count again. One row
-- rather than one per month, so that its lock serializes every session
-- start of the organization, across a month boundary too, which is what
-- keeps max_concurrent_calls exact (see src/api/quota.rs).

CREATE TABLE call_usage (
    organization_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    month BIGINT NOT NULL,
    calls BIGINT NOT NULL CHECK (calls >= 0)
);

-- The current month's sessions so far. Forced row-level security would hide
-- every row from a migrating owner (no tenant is set here), so it is lifted
-- for this statement; the migration's transaction holds call_sessions
-- locked meanwhile, so nothing else runs without it.
ALTER TABLE call_sessions NO FORCE ROW LEVEL SECURITY;
INSERT INTO call_usage (organization_id, month, calls)
SELECT organization_id, m.month, COUNT(*)
FROM call_sessions,
     (SELECT EXTRACT(EPOCH FROM date_trunc('month', now() AT TIME ZONE 'UTC'))::BIGINT AS month) m
WHERE started_at >= m.month
GROUP BY organization_id, m.month;
ALTER TABLE call_sessions FORCE ROW LEVEL SECURITY;

ALTER TABLE call_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY call_usage_tenant ON call_usage
    USING (organization_id = current_setting('app.current_org_id', true))
    WITH CHECK (organization_id = current_setting('app.current_org_id', true));
