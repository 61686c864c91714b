#!/bin/sh
# The primary's first start (the postgres image runs /docker-entrypoint-initdb.d/*):
# the roles of docs/configuration.md (an owner that migrates, an app role
# under row-level security that owns nothing), the database, and a
# replication role the standby (replica-entrypoint.sh) streams through.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_pw="$OPERATOR_OWNER_PASSWORD" -v app_pw="$OPERATOR_APP_PASSWORD" \
    -v repl_pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE operator_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE operator_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'app_pw';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_pw';
CREATE DATABASE operator OWNER operator_owner;
\connect operator
GRANT USAGE ON SCHEMA public TO operator_app;
-- Tables the owner creates later (migrate up) are the app's to use, not to own.
ALTER DEFAULT PRIVILEGES FOR ROLE operator_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO operator_app;
SQL
# Streaming replication from the compose network (scram passwords).
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
