-- The demo's schema on Postgres. Ids are UUID strings (TEXT: what sqlx's Any
-- driver carries); times are Unix seconds. Row-level security: 0002.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    max_calls_per_month BIGINT NOT NULL DEFAULT 10000,
    max_concurrent_calls BIGINT NOT NULL DEFAULT 10,
    max_users BIGINT NOT NULL DEFAULT 25,
    max_campaigns BIGINT NOT NULL DEFAULT 50,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    created_at BIGINT NOT NULL
);
CREATE INDEX users_organization ON users (organization_id);

-- Login looks a user up by email before any tenant is known: this directory
-- holds only email -> (user, organization), never a hash or tenant data. It
-- has no row-level security (on Postgres) by design; see docs/configuration.md.
CREATE TABLE user_logins (
    email TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE
);

CREATE TABLE companies (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    domain TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX companies_organization ON companies (organization_id, id);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    company_id TEXT REFERENCES companies(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    script TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'paused', 'completed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX campaigns_organization ON campaigns (organization_id, id);

CREATE TABLE call_sessions (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    campaign_id TEXT REFERENCES campaigns(id) ON DELETE SET NULL,
    provider_type TEXT NOT NULL,
    telephony_provider TEXT NOT NULL CHECK (telephony_provider IN ('twilio', 'telnyx', 'simulated')),
    status TEXT NOT NULL CHECK (status IN ('active', 'ended', 'failed')),
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX call_sessions_organization ON call_sessions (organization_id, status);
CREATE INDEX call_sessions_started ON call_sessions (organization_id, started_at);

CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES call_sessions(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    provider_call_id TEXT,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    duration_seconds BIGINT
);
CREATE INDEX calls_organization ON calls (organization_id, started_at);
CREATE INDEX calls_session ON calls (session_id);

CREATE TABLE call_dispositions (
    call_id TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    disposition TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX call_dispositions_organization ON call_dispositions (organization_id);
