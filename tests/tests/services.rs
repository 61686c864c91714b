//! The real services that scripts/test starts answer: Redis through the
//! `redis` crate, Postgres through sqlx. These prove the plumbing that every
//! store test relies on (a free port, a fresh database, the URLs exported).

use redis::AsyncCommands;
use sqlx::{Connection, PgConnection, Row};

#[tokio::test]
async fn redis_answers_ping_and_round_trips_a_value() {
    let Some(url) = rampart_tests::redis_url() else {
        return;
    };
    let client = redis::Client::open(url.as_str()).expect("REDIS_URL parses");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Redis at {url}: {e}"));

    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");

    // A key of its own so that parallel runs cannot collide.
    let key = format!("rampart-tests:services:{}", std::process::id());
    let () = conn.set_ex(&key, "héllo \u{1F980}", 60).await.unwrap();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "héllo \u{1F980}");
    let removed: i64 = conn.del(&key).await.unwrap();
    assert_eq!(removed, 1);
    let gone: Option<String> = conn.get(&key).await.unwrap();
    assert_eq!(gone, None);
}

#[tokio::test]
async fn postgres_answers_select_and_round_trips_a_table() {
    let Some(url) = rampart_tests::database_url() else {
        return;
    };
    let mut conn = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Postgres at {url}: {e}"));

    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);

    // A temporary table lives as long as this connection: nothing to clean up,
    // and parallel tests cannot see each other's rows.
    sqlx::query("CREATE TEMPORARY TABLE round_trip (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    for (id, name) in [(1_i64, "alpha"), (2, "béta"), (3, "it's \"quoted\"")] {
        sqlx::query("INSERT INTO round_trip (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let rows = sqlx::query("SELECT id, name FROM round_trip ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let got: Vec<(i64, String)> = rows
        .iter()
        .map(|row| (row.get("id"), row.get("name")))
        .collect();
    assert_eq!(
        got,
        [
            (1, "alpha".to_owned()),
            (2, "béta".to_owned()),
            (3, "it's \"quoted\"".to_owned())
        ]
    );

    // The primary key holds: a duplicate is refused by the server.
    let duplicate = sqlx::query("INSERT INTO round_trip (id, name) VALUES (1, 'again')")
        .execute(&mut conn)
        .await;
    assert!(duplicate.is_err());
    conn.close().await.unwrap();
}
