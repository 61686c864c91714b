-- Fills a seeded operator-demo Postgres database with call history until it
-- weighs about 1 GB, for measuring backup and restore times
-- (docs/operations.md, "Backup and restore"). Run as the owner or a superuser:
--
--   operator-demo migrate up && operator-demo seed --orgs 10 --users-per-org 10
--   psql "$OWNER_URL" -v rows=1000000 -f scripts/backup-1gb.sql
--
-- Each row of `rows` adds a call session, a call and its disposition
-- (about 1.1 kB with their indexes: 1000000 rows make 1.1 GB). The data is synthetic; commit none of it.
\set ON_ERROR_STOP on
SELECT count(*) AS nusers FROM users \gset
BEGIN;
CREATE TEMP TABLE bulk_users AS
    SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, organization_id FROM users;
INSERT INTO call_sessions (id, organization_id, user_id, campaign_id, provider_type,
                           telephony_provider, status, started_at, ended_at)
SELECT md5('session' || g)::uuid::text, u.organization_id, u.id, NULL, 'outbound',
       'simulated', 'ended', 1767225600 + g, 1767225600 + g + 60
FROM generate_series(1, :rows) AS g
JOIN bulk_users u ON u.n = g % :nusers;
INSERT INTO calls (id, organization_id, session_id, provider, provider_call_id,
                   from_number, to_number, started_at, ended_at, duration_seconds)
SELECT md5('call' || g)::uuid::text, u.organization_id, md5('session' || g)::uuid::text,
       'simulated', 'sim-' || g, '+15550' || lpad((g % 1000000)::text, 6, '0'),
       '+15551' || lpad((g % 999983)::text, 6, '0'), 1767225600 + g, 1767225600 + g + 60, 60
FROM generate_series(1, :rows) AS g
JOIN bulk_users u ON u.n = g % :nusers;
INSERT INTO call_dispositions (call_id, organization_id, disposition, notes, custom_fields,
                               updated_by, updated_at)
SELECT md5('call' || g)::uuid::text, u.organization_id, 'interested',
       'called back, asked for the brochure #' || g, '{"source": "bulk"}', u.id,
       1767225600 + g + 120
FROM generate_series(1, :rows) AS g
JOIN bulk_users u ON u.n = g % :nusers;
COMMIT;
ANALYZE;
SELECT pg_size_pretty(pg_database_size(current_database())) AS database_size;
