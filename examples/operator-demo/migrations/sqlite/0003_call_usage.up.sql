-- Calls started per organization this calendar month (UTC): the counter
-- max_calls_per_month is checked against, in constant time, instead of
-- counting the month's sessions on every start. One row per organization:
-- the month it counts (its first second, Unix time) and the calls started
-- in it; the first start of a later month starts the count again. (Version
-- 3 as on Postgres, whose 0002 is row-level security, which SQLite lacks.)

CREATE TABLE call_usage (
    organization_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    month BIGINT NOT NULL,
    calls BIGINT NOT NULL CHECK (calls >= 0)
);

-- The current month's sessions so far.
INSERT INTO call_usage (organization_id, month, calls)
SELECT organization_id, CAST(strftime('%s', 'now', 'start of month') AS INTEGER), COUNT(*)
FROM call_sessions
WHERE started_at >= CAST(strftime('%s', 'now', 'start of month') AS INTEGER)
GROUP BY organization_id;
