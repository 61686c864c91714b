//! A database of its own for each test: tables owned by one role, row-level
//! security on them, and the app connecting as another role that is not
//! their owner.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, Executor, PgConnection, postgres::PgConnectOptions};

/// The URLs a test connects with.
#[derive(Debug, Clone)]
pub struct Db {
    /// The superuser, in the test's database.
    pub admin: String,
    /// The app's role: LOGIN, not the tables' owner, no BYPASSRLS.
    pub app: String,
    /// A role with BYPASSRLS (for check_rls).
    pub bypass: String,
}

const SCHEMA: &str = r"
CREATE TABLE organizations (id text PRIMARY KEY);
CREATE TABLE companies (
    id serial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    name text NOT NULL
);
CREATE TABLE users (
    id serial PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations(id),
    email text NOT NULL
);
CREATE TABLE not_forced (id serial PRIMARY KEY, organization_id text NOT NULL);
CREATE TABLE not_enabled (id serial PRIMARY KEY, organization_id text NOT NULL);
";

/// A fresh database with the schema above, or `None` when `DATABASE_URL`
/// is unset (skipped).
pub async fn database() -> Option<Db> {
    let url = super::service_url("DATABASE_URL")?;
    let name = super::unique("rampart_tenant");
    let owner = format!("{name}_owner");
    let app = format!("{name}_app");
    let bypass = format!("{name}_bypass");
    let base = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a Postgres URL");

    let mut admin = PgConnection::connect_with(&base)
        .await
        .expect("connect as superuser");
    // CREATE DATABASE cannot share a (multi-statement, implicit) transaction.
    admin
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name}"
        ))))
        .await
        .expect("create database");
    admin
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {owner} NOLOGIN; \
             CREATE ROLE {app} LOGIN PASSWORD 'app-password'; \
             CREATE ROLE {bypass} LOGIN PASSWORD 'bypass-password' BYPASSRLS;"
        ))))
        .await
        .expect("create database and roles");
    admin.close().await.ok();

    let admin_options = base.clone().database(&name);
    let mut admin = PgConnection::connect_with(&admin_options)
        .await
        .expect("connect to the test database");
    admin.execute(sqlx::raw_sql(SCHEMA)).await.expect("schema");
    let policy = "organization_id = current_setting('app.current_org_id', true)";
    for table in ["companies", "users", "not_forced", "not_enabled"] {
        admin
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} OWNER TO {owner}; \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}, {bypass}; \
                 GRANT USAGE ON SEQUENCE {table}_id_seq TO {app}, {bypass};"
            ))))
            .await
            .expect("owner and grants");
        if table != "not_enabled" {
            admin
                .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; \
                     CREATE POLICY tenant_isolation ON {table} \
                        USING ({policy}) WITH CHECK ({policy});"
                ))))
                .await
                .expect("policy");
        }
        if !table.starts_with("not_") {
            admin
                .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
                ))))
                .await
                .expect("force");
        }
    }
    admin
        .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE organizations OWNER TO {owner}; GRANT SELECT ON organizations TO {app};"
        ))))
        .await
        .expect("organizations");
    admin.close().await.ok();

    let as_role = |role: &str, password: &str| {
        admin_options
            .clone()
            .username(role)
            .password(password)
            .to_url_lossy()
            .to_string()
    };
    Some(Db {
        admin: admin_options.to_url_lossy().to_string(),
        app: as_role(&app, "app-password"),
        bypass: as_role(&bypass, "bypass-password"),
    })
}
