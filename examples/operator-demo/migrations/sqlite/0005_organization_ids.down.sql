DROP TRIGGER IF EXISTS organization_ids_insert;
DROP TABLE IF EXISTS organization_ids;
