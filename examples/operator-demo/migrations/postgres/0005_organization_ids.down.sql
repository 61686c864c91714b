DROP TRIGGER IF EXISTS organization_ids_insert ON organizations;
DROP FUNCTION IF EXISTS organization_ids_insert();
DROP TABLE IF EXISTS organization_ids;
