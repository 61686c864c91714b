//! The API suite shared by `demo_api.rs` (SQLite) and `demo_api_postgres.rs`
//! (Postgres with row-level security, the app connecting as a non-owner
//! role): the real operator-demo program, seeded, driven over HTTP.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    reason = "a module shared by two test binaries, each using part of it"
)]

pub mod gdpr;
pub mod suite;

use std::time::Duration;

use operator_demo::db::{Db, DbConfig};
use rampart_tests::{Demo, run_to_exit};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_demo-server");

/// argon2id of `test123` with the smallest parameters (m=8 KiB, t=1), so
/// that a hundred logins of a debug build take seconds, not minutes. Made
/// with `echo -n test123 | argon2 rampartdemosalt1 -id -t 1 -m 3 -p 1 -e`.
pub const CHEAP_TEST123: &str =
    "$argon2id$v=19$m=8,t=1,p=1$cmFtcGFydGRlbW9zYWx0MQ$ENfb3BGdROTjCXiVE911WUEdwJg2iFp4vmBoRKM3lBI";

/// The global limit is generous in these tests: every request comes from
/// 127.0.0.1, and the limit has tests of its own.
pub const GLOBAL: (&str, &str) = ("RATE_LIMIT_GLOBAL", "1000000/hour");
/// The per-user limit too: seeded user ids are the same in every test's
/// database, so with a shared Redis they would count together.
pub const API: (&str, &str) = ("RATE_LIMIT_API", "100000/minute");
/// Every demo believes 127.0.0.1 (the test) as a proxy: see [`client`].
pub const PROXY: (&str, &str) = ("TRUSTED_PROXIES", "127.0.0.1/32");

/// A running, seeded demo and SQL access to its database.
pub struct Api {
    pub demo: Demo,
    pub client: reqwest::Client,
    /// Sees every organization: the SQLite file, or the Postgres owner.
    pub admin_sql: Db,
    /// Postgres only: the role the app connects as, subject to RLS.
    pub app_sql: Option<Db>,
    pub users_per_org: u32,
    pub postgres: Option<PgDatabase>,
}

/// A database of its own on the test Postgres, dropped at the end.
pub struct PgDatabase {
    pub superuser_url: String,
    pub name: String,
    pub owner_url: String,
    pub app_url: String,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        self.demo.url(path)
    }

    /// Sends `method path` with a bearer `token` and a JSON `body`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Reply::from(request.send().await.expect("the demo answers")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    /// Logs in as `user{n}@example.com`; panics unless 200.
    pub async fn login(&self, n: u64) -> String {
        let reply = self
            .send(
                Method::POST,
                "/auth/login",
                None,
                Some(&serde_json::json!({
                    "email": format!("user{n}@example.com"),
                    "password": "test123",
                })),
            )
            .await;
        assert_eq!(reply.status, 200, "login of user{n}: {:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned()
    }

    /// The admin (first user) of organization `org` (from 1).
    pub async fn admin_of(&self, org: u32) -> String {
        self.login(u64::from(org - 1) * u64::from(self.users_per_org) + 1)
            .await
    }

    /// An agent (second user) of organization `org`.
    pub async fn agent_of(&self, org: u32) -> String {
        self.login(u64::from(org - 1) * u64::from(self.users_per_org) + 2)
            .await
    }

    /// Runs `sql` on the whole database (not through the app).
    pub async fn admin_execute(&self, sql: &'static str, binds: &[&str]) {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        query
            .execute(self.admin_sql.primary())
            .await
            .expect("admin SQL");
    }

    pub async fn stop(self) {
        let Self {
            demo,
            admin_sql,
            app_sql,
            postgres,
            ..
        } = self;
        drop(demo);
        admin_sql.close().await;
        if let Some(app) = app_sql {
            app.close().await;
        }
        if let Some(pg) = postgres {
            pg.drop_database().await;
        }
    }
}

/// What the demo answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub content_type: String,
    pub body: Value,
    pub text: String,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            content_type,
            body,
            text,
        }
    }

    /// Asserts a problem+json answer with `status`; returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        &self.body
    }

    /// Asserts a 422 naming `field`.
    #[track_caller]
    pub fn invalid(&self, field: &str) {
        let body = self.problem(422);
        assert_eq!(body["errors"][0]["field"], field, "{}", self.text);
    }

    /// Asserts `status` and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        &self.body
    }
}

/// reqwest is built with `rustls-no-provider` (operator-demo's telephony
/// clients pick their provider): the process installs ring once.
fn install_crypto() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// A client whose requests come, through the trusted proxy, from a /64 of
/// their own: the login limit counts per address and email, and with a
/// shared Redis (`REDIS_URL`) other tests and earlier runs count there too.
pub fn client() -> reqwest::Client {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let address = format!(
        "2001:db8:{:x}:{:x}::1",
        std::process::id() & 0xffff,
        (nanos ^ (n << 12)) & 0xffff
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        reqwest::header::HeaderValue::from_str(&address).expect("an address"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

fn seed(env: &[(&str, &str)], orgs: u32, users_per_org: u32) {
    let orgs = orgs.to_string();
    let users = users_per_org.to_string();
    let mut env = env.to_vec();
    env.push(("SEED_PASSWORD_HASH", CHEAP_TEST123));
    let (status, stderr) = run_to_exit(
        BIN,
        &["seed", "--orgs", &orgs, "--users-per-org", &users],
        &env,
    );
    assert!(status.success(), "seed failed: {stderr}");
}

/// A demo on its embedded SQLite (a fresh DATA_DIR), seeded with `orgs`
/// organizations of `users_per_org` users.
pub async fn sqlite(env: &[(&str, &str)], orgs: u32, users_per_org: u32) -> Api {
    install_crypto();
    let mut all = vec![GLOBAL, API, PROXY];
    all.extend_from_slice(env);
    let demo = Demo::start(BIN, &all).await;
    let data_dir = demo.data_dir();
    let data_dir = data_dir.to_str().expect("a UTF-8 path");
    seed(&[("DATA_DIR", data_dir)], orgs, users_per_org);
    let admin_sql = Db::connect(&DbConfig::embedded(demo.data_dir()))
        .await
        .expect("the demo's SQLite file");
    Api {
        demo,
        client: client(),
        admin_sql,
        app_sql: None,
        users_per_org,
        postgres: None,
    }
}

/// `url` with its database replaced by `name` and its user by `user`.
fn with_database(url: &str, user: Option<&str>, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let userinfo = match user {
        Some(user) => format!("{user}@"),
        None => authority
            .rsplit_once('@')
            .map(|(info, _)| format!("{info}@"))
            .unwrap_or_default(),
    };
    format!("{scheme}://{userinfo}{host}/{name}")
}

impl PgDatabase {
    /// A new database and a login role for the app that owns nothing and is
    /// neither superuser nor BYPASSRLS; migrated by the superuser (the owner),
    /// privileges granted as docs/configuration.md says.
    pub async fn create(superuser_url: &str, tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("rampart_api_{tag}_{}_{n}", std::process::id());
        let role = format!("{name}_app");
        let admin = Db::connect(&DbConfig::from_url(superuser_url))
            .await
            .expect("the test Postgres");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
            format!("DROP ROLE IF EXISTS {role}"),
            format!(
                "CREATE ROLE {role} LOGIN PASSWORD 'app' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(admin.primary())
                .await
                .expect("database setup");
        }
        admin.close().await;
        let owner_url = with_database(superuser_url, None, &name);
        let app_url = with_database(superuser_url, Some(&format!("{role}:app")), &name);
        let owner = Db::connect(&DbConfig::from_url(&owner_url))
            .await
            .expect("the new database");
        owner.migrate_up().await.expect("migrations");
        for sql in [
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            ),
            format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM {role}"),
            // The audit log is append-only for the app (docs/configuration.md).
            format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {role}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(owner.primary())
                .await
                .expect("grants");
        }
        owner.close().await;
        Self {
            superuser_url: superuser_url.to_owned(),
            name,
            owner_url,
            app_url,
        }
    }

    pub async fn drop_database(self) {
        if let Ok(admin) = Db::connect(&DbConfig::from_url(&self.superuser_url)).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(admin.primary())
                .await;
            let sql = format!("DROP ROLE IF EXISTS {}_app", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(admin.primary())
                .await;
            admin.close().await;
        }
    }
}

/// A demo on a database of its own on the test Postgres, connecting as the
/// non-owner app role, seeded (as that role, through RLS) with `orgs`
/// organizations of `users_per_org` users.
pub async fn postgres(
    superuser_url: &str,
    tag: &str,
    env: &[(&str, &str)],
    orgs: u32,
    users_per_org: u32,
) -> Api {
    install_crypto();
    let pg = PgDatabase::create(superuser_url, tag).await;
    seed(&[("DATABASE_URL", &pg.app_url)], orgs, users_per_org);
    let mut all = vec![GLOBAL, API, PROXY, ("DATABASE_URL", pg.app_url.as_str())];
    all.extend_from_slice(env);
    let demo = Demo::start(BIN, &all).await;
    let admin_sql = Db::connect(&DbConfig::from_url(&pg.owner_url))
        .await
        .expect("the owner");
    let app_sql = Db::connect(&DbConfig::from_url(&pg.app_url))
        .await
        .expect("the app role");
    Api {
        demo,
        client: client(),
        admin_sql,
        app_sql: Some(app_sql),
        users_per_org,
        postgres: Some(pg),
    }
}
