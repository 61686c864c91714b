-- Every organization's id: the list a job that works across organizations
-- (retention) reads, as on Postgres (where it is the one such list without
-- row-level security). user_logins and erasure_requests are not that list:
-- an organization whose users were all erased has neither, yet keeps its
-- calls and sessions. A trigger fills it; the organization's deletion
-- cascades.
CREATE TABLE organization_ids (
    organization_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations(id) ON DELETE CASCADE
);

CREATE TRIGGER organization_ids_insert AFTER INSERT ON organizations
BEGIN
    INSERT OR IGNORE INTO organization_ids (organization_id) VALUES (NEW.id);
END;

INSERT OR IGNORE INTO organization_ids (organization_id) SELECT id FROM organizations;
