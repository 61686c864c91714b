//! The one-round-trip `BEGIN` of Postgres: the tenant inlined as a literal
//! (and why no tenant id can break out of it), and the server behaviours it
//! relies on, against the real Postgres (`DATABASE_URL`; the isolation
//! through row-level security itself is in tests/rls.rs).

use proptest::prelude::*;
use sqlx::{Connection, Executor, PgConnection, PgPool, Row, postgres::PgPoolOptions};

use super::backend::{postgres_begin, push_literal};
use super::{begin_tenant_read_tx, begin_tenant_tx};
use crate::TenantId;

fn literal(value: &str) -> String {
    let mut sql = String::new();
    push_literal(&mut sql, value);
    sql
}

#[test]
fn the_statement_for_a_tenant() {
    let tenant: TenantId = "4f1c2a9e-7d3b-4c55-9a51-0e6f2b8d1c77".parse().unwrap();
    assert_eq!(
        postgres_begin(&tenant, false).0,
        "SELECT set_config('app.current_org_id', E'4f1c2a9e-7d3b-4c55-9a51-0e6f2b8d1c77', true); BEGIN"
    );
    assert_eq!(
        postgres_begin(&"acme_1".parse().unwrap(), true).0,
        "SELECT set_config('app.current_org_id', E'acme_1', true); BEGIN READ ONLY"
    );
}

#[test]
fn quotes_and_backslashes_are_escaped() {
    // Not reachable through a TenantId (see below): the escaping alone.
    assert_eq!(literal("it's"), "E'it''s'");
    assert_eq!(
        literal(r"a\'; DROP TABLE x; --"),
        r"E'a\\''; DROP TABLE x; --'"
    );
    assert_eq!(literal(r"\"), r"E'\\'");
    assert_eq!(literal("'"), "E''''");
}

#[test]
fn no_tenant_id_can_hold_what_would_end_the_literal() {
    for hostile in [
        "x'",
        "x\\",
        "x'; DROP TABLE companies; --",
        "x\0",
        "x y",
        "x;y",
        "x$$y",
        "x\"y",
        "x\ny",
        "é",
    ] {
        assert!(hostile.parse::<TenantId>().is_err(), "{hostile:?} parsed");
        assert!(
            serde_json::from_value::<TenantId>(serde_json::Value::from(hostile)).is_err(),
            "{hostile:?} deserialized"
        );
    }
}

proptest! {
    /// Whatever the input, a TenantId that parses from it is made of
    /// characters that mean nothing inside a SQL string literal: the
    /// literal is the id between `E'` and `'`, untouched, and the statement
    /// is exactly its two statements.
    #[test]
    fn a_parsed_tenant_id_is_inlined_verbatim(
        input in prop_oneof!["[A-Za-z0-9_-]{1,64}", "[ -~]{0,70}", any::<String>()],
    ) {
        if let Ok(tenant) = input.parse::<TenantId>() {
            prop_assert!(tenant
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(literal(tenant.as_str()), format!("E'{input}'"));
            let sql = postgres_begin(&tenant, false).0;
            prop_assert_eq!(sql.matches(';').count(), 1);
            prop_assert_eq!(sql.matches('\'').count(), 4);
        }
    }

    #[test]
    fn ids_of_the_alphabet_parse_and_stay_verbatim(input in "[A-Za-z0-9_-]{1,64}") {
        let tenant: TenantId = input.parse().unwrap();
        prop_assert_eq!(literal(tenant.as_str()), format!("E'{input}'"));
    }

    #[test]
    fn one_character_outside_the_alphabet_is_refused(
        head in "[A-Za-z0-9_-]{0,30}",
        bad in any::<char>().prop_filter("outside the alphabet", |c| {
            !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        }),
        tail in "[A-Za-z0-9_-]{0,30}",
    ) {
        let id = format!("{head}{bad}{tail}");
        prop_assert!(id.parse::<TenantId>().is_err());
    }
}

/// `DATABASE_URL` (the superuser of the dev or CI Postgres: these tests
/// create nothing), or `None` when it is unset, unless
/// `RAMPART_REQUIRE_SERVICES=1`.
fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let required = std::env::var("RAMPART_REQUIRE_SERVICES")
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
            assert!(
                !required,
                "DATABASE_URL is not set but RAMPART_REQUIRE_SERVICES=1"
            );
            println!("skipped: DATABASE_URL is not set");
            None
        }
    }
}

async fn setting(conn: &mut PgConnection) -> Option<String> {
    sqlx::query_scalar("SELECT NULLIF(current_setting('app.current_org_id', true), '')")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// The escaping against the real server: any text, quotes and backslashes
/// included, comes back as it went in, under either setting of
/// `standard_conforming_strings`.
#[tokio::test]
async fn literals_round_trip_through_postgres() {
    let Some(url) = database_url() else {
        return;
    };
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    for conforming in ["on", "off"] {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "SET standard_conforming_strings = {conforming}"
        )))
        .await
        .unwrap();
        for text in [
            "acme",
            "it's",
            r"back\slash",
            r"\'; SELECT 1; --",
            "''",
            r"\\",
            "ünïcode ✓",
        ] {
            let sql = format!("SELECT {}::text", literal(text));
            let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(row.get::<String, _>(0), text, "{sql} ({conforming})");
        }
    }
    conn.close().await.ok();
}

/// `begin_tenant_tx` sends `SELECT set_config(...); BEGIN` as one simple
/// query. This pins the two behaviours of the server it relies on: the
/// setting made before the `BEGIN` belongs to the transaction (seen inside,
/// gone after), and a failure before the `BEGIN` leaves the connection idle
/// and usable, where a failure after it (the other order) would leave an
/// aborted transaction on a connection sqlx returns to its pool.
#[tokio::test]
async fn set_config_before_begin_is_transaction_local_and_fails_clean() {
    let Some(url) = database_url() else {
        return;
    };
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    conn.execute(sqlx::raw_sql(
        "SELECT set_config('app.current_org_id', 'org-a', true); BEGIN",
    ))
    .await
    .unwrap();
    assert_eq!(setting(&mut conn).await.as_deref(), Some("org-a"));
    conn.execute("COMMIT").await.unwrap();
    assert_eq!(
        setting(&mut conn).await,
        None,
        "the setting ends with the commit"
    );

    let failed = conn.execute(sqlx::raw_sql("SELECT 1/0; BEGIN")).await;
    assert!(failed.is_err());
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        one, 1,
        "a failure before BEGIN leaves the connection usable"
    );

    let failed = conn.execute(sqlx::raw_sql("BEGIN; SELECT 1/0")).await;
    assert!(failed.is_err());
    let poisoned = sqlx::query("SELECT 1")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(
        poisoned
            .to_string()
            .contains("current transaction is aborted"),
        "{poisoned}"
    );
    conn.execute("ROLLBACK").await.unwrap();
    conn.close().await.ok();
}

async fn one_connection(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect")
}

/// Through the public functions, on a pool of one connection (whatever a
/// transaction leaves, the next user gets): the tenant is set inside, gone
/// after a commit, a rollback or a drop, and a read transaction refuses
/// writes.
#[tokio::test]
async fn the_tenant_is_set_in_the_transaction_only() {
    let Some(url) = database_url() else {
        return;
    };
    let pool = one_connection(&url).await;
    let acme: TenantId = "acme".parse().unwrap();

    let mut tx = begin_tenant_tx(&pool, &acme).await.unwrap();
    assert_eq!(setting(&mut tx).await.as_deref(), Some("acme"));
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(read_only, "off");
    tx.commit().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(setting(&mut conn).await, None);
    drop(conn);

    let mut tx = begin_tenant_read_tx(&pool, &acme).await.unwrap();
    assert_eq!(setting(&mut tx).await.as_deref(), Some("acme"));
    let write = sqlx::query("CREATE TEMP TABLE rampart_should_not_exist (a int)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        write.to_string().contains("read-only transaction"),
        "{write}"
    );
    drop(tx);
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(setting(&mut conn).await, None);
    drop(conn);

    let tx = begin_tenant_read_tx(&pool, &"other".parse().unwrap())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = begin_tenant_tx(&pool, &acme).await.unwrap();
    assert_eq!(setting(&mut tx).await.as_deref(), Some("acme"));
    drop(tx);

    // The same through the Any driver.
    sqlx::any::install_default_drivers();
    let any = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    for read in [false, true] {
        let mut tx = if read {
            begin_tenant_read_tx(&any, &acme).await.unwrap()
        } else {
            begin_tenant_tx(&any, &acme).await.unwrap()
        };
        let seen: Option<String> =
            sqlx::query_scalar("SELECT NULLIF(current_setting('app.current_org_id', true), '')")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(seen.as_deref(), Some("acme"));
        let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(read_only, if read { "on" } else { "off" });
        tx.commit().await.unwrap();
        let after: Option<String> =
            sqlx::query_scalar("SELECT NULLIF(current_setting('app.current_org_id', true), '')")
                .fetch_one(&any)
                .await
                .unwrap();
        assert_eq!(after, None);
    }
}
