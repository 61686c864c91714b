-- Every organization's id, without row-level security (ids only, no tenant
-- data, like user_logins): the list a job that works across organizations
-- (retention) reads. user_logins and erasure_requests are not that list:
-- an organization whose users were all erased has neither, yet keeps its
-- calls and sessions. A trigger fills it, so every way an organization is
-- made is covered; the organization's deletion cascades.
CREATE TABLE organization_ids (
    organization_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE
);

CREATE FUNCTION organization_ids_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO organization_ids (organization_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END;
$$;
CREATE TRIGGER organization_ids_insert AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION organization_ids_insert();

-- The organizations so far. Forced row-level security would hide every row
-- from a migrating owner (no tenant is set here), so it is lifted for this
-- statement, as in 0003.
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY;
INSERT INTO organization_ids (organization_id) SELECT id FROM organizations;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
