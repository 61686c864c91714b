//! The GDPR scenarios (issue 15), on SQLite (`demo_gdpr.rs`) and on
//! Postgres as the non-owner app role (`demo_gdpr_postgres.rs`): export
//! against direct SQL, deletion with its grace period, mail and cancel,
//! erasure with a controlled clock and a scan of every column, the audit
//! log, privacy settings, and bad input on every new route.

use std::{path::PathBuf, process::Command, time::Duration};

use operator_demo::db::{Backend, seed::org_id};
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};
use sqlx::Row;

use super::{Api, BIN, Reply};

/// The SMTP server scripts/test starts on loopback (scripts/lib.sh
/// `start_smtp`): its URL and the folder where it writes what it receives.
#[allow(
    clippy::print_stderr,
    reason = "why the test skips, as rampart_tests says it"
)]
pub fn smtp() -> Option<(String, PathBuf)> {
    match (
        std::env::var("SMTP_TEST_URL"),
        std::env::var("SMTP_TEST_DIR"),
    ) {
        (Ok(url), Ok(dir)) if !url.is_empty() => Some((url, PathBuf::from(dir))),
        _ => {
            assert!(
                !rampart_tests::services_required(),
                "SMTP_TEST_URL and SMTP_TEST_DIR are required (scripts/lib.sh start_smtp)"
            );
            eprintln!("skipped: SMTP_TEST_URL / SMTP_TEST_DIR not set");
            None
        }
    }
}

/// The messages the SMTP server received for `to`, waiting up to 20 s for
/// at least `count`.
pub async fn mail_to(dir: &PathBuf, to: &str, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("the SMTP folder").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if let Ok(mail) = serde_json::from_str::<Value>(&text) {
                    if mail["rcpt_tos"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|x| x == to))
                    {
                        found.push(mail);
                    }
                }
            }
        }
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} mail(s) to {to} arrived");
}

/// A unique tag for the values a test seeds.
pub fn tag() -> String {
    // The random end of a UUID v7.
    operator_demo::db::new_id().replace('-', "")[20..].to_owned()
}

/// A client whose requests come from `address` (through the trusted proxy)
/// with `x-request-id` `request_id`.
fn client_from(address: &str, request_id: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    headers.insert("x-request-id", request_id.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send_with(
    client: &reqwest::Client,
    api: &Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut request = client.request(method, api.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    Reply::from(request.send().await.expect("the demo answers")).await
}

/// A new user of organization `org`, made by its admin: `(id, email, token)`.
pub async fn new_user(api: &Api, org: u32, email: &str, full_name: &str) -> (String, String) {
    let admin = api.admin_of(org).await;
    let created = api
        .post(
            "/api/v1/admin/users",
            &admin,
            &json!({"email": email, "full_name": full_name, "password": "long enough 1", "role": "agent"}),
        )
        .await;
    let id = created.ok(201)["id"].as_str().unwrap().to_owned();
    (id, login(api, email).await.expect("the new user logs in"))
}

/// A new agent of `org` who asked for their account's erasure: their id,
/// token and the time it is due.
pub async fn leaving_user(api: &Api, org: u32, email: &str) -> (String, String, i64) {
    let (id, token) = new_user(api, org, email, "Leaving Person").await;
    let reply = api
        .send(
            Method::DELETE,
            "/api/v1/gdpr/delete-account",
            Some(&token),
            Some(&json!({"confirmation": email})),
        )
        .await;
    let due = reply.ok(202)["erase_after"].as_i64().unwrap();
    (id, token, due)
}

/// Logs in as `email` (password of [`new_user`]): the token, or the status.
pub async fn login(api: &Api, email: &str) -> Result<String, u16> {
    let reply = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": email, "password": "long enough 1"})),
        )
        .await;
    match reply.status.as_u16() {
        200 => Ok(reply.body["access_token"].as_str().unwrap().to_owned()),
        status => Err(status),
    }
}

/// One column of ids from direct SQL (as the owner: every organization).
async fn sql_ids(api: &Api, sql: &'static str, user: &str) -> Vec<String> {
    let mut ids: Vec<String> = sqlx::query_scalar(sql)
        .bind(user)
        .fetch_all(api.admin_sql.primary())
        .await
        .unwrap();
    ids.sort();
    ids
}

fn ids_of(list: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// A session with a call and a disposition of `token`'s user: the call id.
async fn call_with_disposition(api: &Api, token: &str, notes: &str, fields: Value) -> String {
    let session = api
        .post(
            "/api/v1/sessions",
            token,
            &json!({"provider_type": "twilio", "telephony_provider": "simulated"}),
        )
        .await;
    let call_id = session.ok(201)["call"]["id"].as_str().unwrap().to_owned();
    api.send(
        Method::PUT,
        &format!("/api/v1/calls/{call_id}/disposition"),
        Some(token),
        Some(&json!({"disposition": "callback", "notes": notes, "custom_fields": fields})),
    )
    .await
    .ok(200);
    call_id
}

/// The export holds every row about the caller that direct SQL finds, and
/// nothing of another user or organization; never a password hash.
pub async fn export_matches_sql(api: &Api) {
    let t = tag();
    let email = format!("export-{t}@example.com");
    let (user, token) = new_user(api, 1, &email, "Export Person").await;
    call_with_disposition(api, &token, "export notes", json!({"k": 1})).await;
    call_with_disposition(api, &token, "more notes", json!({})).await;
    // Another user's and another organization's rows, which must not show.
    let other = api.agent_of(1).await;
    call_with_disposition(api, &other, "not theirs", json!({})).await;
    let stranger = api.agent_of(2).await;
    call_with_disposition(api, &stranger, "other org", json!({})).await;
    let put = api
        .send(
            Method::PUT,
            "/api/v1/gdpr/privacy-settings",
            Some(&token),
            Some(
                &json!({"marketing_emails": true, "call_recording_consent": false,
                "data_processing_consent": true, "analytics": false}),
            ),
        )
        .await;
    put.ok(200);

    let export = api.get("/api/v1/gdpr/export", &token).await;
    let body = export.ok(200);
    assert_eq!(export.content_type, "application/json");
    let disposition = export.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"operator-demo-export-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    assert_eq!(export.headers["transfer-encoding"], "chunked", "streamed");
    assert!(!export.text.contains("password"), "{}", export.text);
    assert!(!export.text.contains("argon2"), "{}", export.text);
    assert!(!export.text.contains(&org_id(2)), "another organization");
    assert!(!export.text.contains("not theirs") && !export.text.contains("other org"));

    assert_eq!(body["account"]["id"], user.as_str());
    assert_eq!(body["account"]["email"], email.as_str());
    assert_eq!(body["account"]["full_name"], "Export Person");
    assert_eq!(body["organization"]["id"], org_id(1));
    assert_eq!(body["organization"]["role"], "agent");
    assert_eq!(body["privacy_settings"]["marketing_emails"], true);
    assert_eq!(body["privacy_settings"]["analytics"], false);
    assert_eq!(body["scheduled_erasure"], Value::Null);

    let sessions = sql_ids(
        api,
        "SELECT id FROM call_sessions WHERE user_id = $1",
        &user,
    )
    .await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(ids_of(&body["call_sessions"], "id"), sessions);
    let calls = sql_ids(
        api,
        "SELECT c.id FROM calls c JOIN call_sessions s ON s.id = c.session_id WHERE s.user_id = $1",
        &user,
    )
    .await;
    assert_eq!(calls.len(), 2);
    assert_eq!(ids_of(&body["calls"], "id"), calls);
    let dispositions = sql_ids(
        api,
        "SELECT call_id FROM call_dispositions WHERE updated_by = $1",
        &user,
    )
    .await;
    assert_eq!(ids_of(&body["dispositions"], "call_id"), dispositions);
    assert!(
        body["dispositions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["notes"] == "export notes" && d["custom_fields"]["k"] == 1)
    );
    let audit = sql_ids(
        api,
        "SELECT id FROM audit_events WHERE actor_id = $1 OR target_id = $1",
        &user,
    )
    .await;
    // user.create (by the admin), the settings, and this export.
    assert_eq!(audit.len(), 3, "{:?}", body["audit_events"]);
    assert_eq!(ids_of(&body["audit_events"], "id"), audit);

    // The export is in the audit log, with the request's origin.
    let admin = api.admin_of(1).await;
    let log = api
        .get("/api/v1/admin/audit?action=gdpr.export&limit=100", &admin)
        .await;
    let events = log.ok(200)["items"].as_array().unwrap().clone();
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["actor_id"] == user.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{events:?}");
    assert!(mine[0]["request_id"].is_string());
    assert!(
        mine[0]["client_ip"]
            .as_str()
            .unwrap()
            .starts_with("2001:db8:")
    );
    // Organization 2's admin sees none of it.
    let other_admin = api.admin_of(2).await;
    let theirs = api.get("/api/v1/admin/audit?limit=100", &other_admin).await;
    assert!(!theirs.text.contains(&user), "{}", theirs.text);
}

/// Privacy settings: defaults, a change, its audit event.
pub async fn privacy_settings(api: &Api) {
    let t = tag();
    let (user, token) = new_user(api, 1, &format!("privacy-{t}@example.com"), "P").await;
    let defaults = api.get("/api/v1/gdpr/privacy-settings", &token).await;
    assert_eq!(
        defaults.ok(200),
        &json!({"marketing_emails": false, "call_recording_consent": false,
            "data_processing_consent": false, "analytics": false, "updated_at": null})
    );
    let wanted = json!({"marketing_emails": false, "call_recording_consent": true,
        "data_processing_consent": true, "analytics": true});
    let put = api
        .send(
            Method::PUT,
            "/api/v1/gdpr/privacy-settings",
            Some(&token),
            Some(&wanted),
        )
        .await;
    assert!(put.ok(200)["updated_at"].is_i64());
    let read = api.get("/api/v1/gdpr/privacy-settings", &token).await;
    assert_eq!(read.ok(200), put.ok(200));
    let stored: i64 = sqlx::query_scalar(
        "SELECT call_recording_consent FROM privacy_settings WHERE user_id = $1",
    )
    .bind(&user)
    .fetch_one(api.admin_sql.primary())
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let admin = api.admin_of(1).await;
    let log = api
        .get(
            "/api/v1/admin/audit?action=gdpr.privacy_settings_updated",
            &admin,
        )
        .await;
    assert!(
        log.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor_id"] == user.as_str())
    );
}

/// `gdpr purge` as cron runs it, with its clock at `now`: how many erased.
pub fn purge(api: &Api, now: i64) -> u64 {
    purge_with(api, now, &[])
}

/// [`purge`] with more environment (the servers' `CACHE_PREFIX`, say).
pub fn purge_with(api: &Api, now: i64, env: &[(&str, &str)]) -> u64 {
    let data_dir = api.demo.data_dir();
    let mut command = Command::new(BIN);
    command
        .args(["gdpr", "purge", "--now", &now.to_string()])
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", &data_dir)
        .envs(env.iter().copied());
    if let Some(pg) = &api.postgres {
        command.env("DATABASE_URL", &pg.app_url);
    }
    let output = command.output().expect("gdpr purge runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .trim()
        .strip_prefix("erased ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output: {stdout}"))
}

/// Deletion: a wrong confirmation, the grace period (logins work, the admin
/// sees it), the mail with its cancel link, cancel, again, then erasure by
/// `gdpr purge` with its clock before and after the date.
pub async fn deletion_grace_cancel_purge(api: &Api, smtp_dir: &PathBuf) {
    let t = tag();
    let email = format!("leaving-{t}@example.com");
    let (user, token) = new_user(api, 1, &email, "Leaving Person").await;
    let path = "/api/v1/gdpr/delete-account";
    let wrong = api
        .send(
            Method::DELETE,
            path,
            Some(&token),
            Some(&json!({"confirmation": "user1@example.com"})),
        )
        .await;
    assert_eq!(wrong.problem(400)["errors"][0]["field"], "confirmation");

    let before = operator_demo::db::now();
    let scheduled = api
        .send(
            Method::DELETE,
            path,
            Some(&token),
            Some(&json!({"confirmation": email.to_uppercase()})),
        )
        .await;
    let body = scheduled.ok(202).clone();
    let erase_after = body["erase_after"].as_i64().unwrap();
    assert!((before + 30 * 86_400..=operator_demo::db::now() + 30 * 86_400).contains(&erase_after));
    assert_eq!(body["confirmation_email"], "sent");
    assert!(body["erase_at"].as_str().unwrap().ends_with('Z'));

    let mail = mail_to(smtp_dir, &email, 1).await;
    assert_eq!(mail[0]["to"], email.as_str());
    let date = &body["erase_at"].as_str().unwrap()[..10];
    assert_eq!(
        mail[0]["subject"],
        format!("Your account will be deleted on {date}")
    );
    let text = mail[0]["body"].as_str().unwrap();
    assert!(
        text.contains("http://localhost:5173/account/cancel-deletion"),
        "{text}"
    );

    // The grace period: logins work, the admin sees the date.
    let again = login(api, &email).await.expect("logs in during the grace");
    let admin = api.admin_of(1).await;
    let users = api.get("/api/v1/admin/users?limit=100", &admin).await;
    let entry = users.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["pending_erasure"]["erase_after"], erase_after);
    // Asked again: the same date, no second mail.
    let twice = api
        .send(
            Method::DELETE,
            path,
            Some(&again),
            Some(&json!({"confirmation": email})),
        )
        .await;
    assert_eq!(twice.ok(202)["erase_after"], erase_after);
    assert_eq!(twice.body["confirmation_email"], "not_sent");

    // Cancel: gone from the admin's view; a second cancel is 409.
    let cancel = api
        .post("/api/v1/gdpr/cancel-deletion", &again, &json!({}))
        .await;
    assert_eq!(cancel.ok(200)["status"], "cancelled");
    let users = api.get("/api/v1/admin/users?limit=100", &admin).await;
    assert!(
        users.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["pending_erasure"].is_null())
    );
    api.post("/api/v1/gdpr/cancel-deletion", &again, &json!({}))
        .await
        .problem(409);
    // A cancelled request is not erased, whatever the clock says.
    assert_eq!(purge(api, erase_after + 86_400), 0);
    assert!(login(api, &email).await.is_ok());

    // Scheduled again (a second mail), then the clock: not yet, then due.
    let scheduled = api
        .send(
            Method::DELETE,
            path,
            Some(&again),
            Some(&json!({"confirmation": email})),
        )
        .await;
    let erase_after = scheduled.ok(202)["erase_after"].as_i64().unwrap();
    mail_to(smtp_dir, &email, 2).await;
    assert_eq!(purge(api, erase_after - 60), 0);
    assert!(
        login(api, &email).await.is_ok(),
        "still in the grace period"
    );
    assert_eq!(purge(api, erase_after), 1);
    assert_eq!(purge(api, erase_after + 1), 0, "once");

    // Gone: no login, the token's account is gone, not in the admin's list.
    assert_eq!(login(api, &email).await, Err(401));
    api.get("/auth/me", &again).await.problem(401);
    api.get("/api/v1/gdpr/export", &again).await.problem(401);
    let users = api.get("/api/v1/admin/users?limit=100", &admin).await;
    assert!(!users.ok(200).to_string().contains(&user));
    let log = api
        .get("/api/v1/admin/audit?action=gdpr.erasure&limit=100", &admin)
        .await;
    let erasures = log.ok(200)["items"].as_array().unwrap().clone();
    assert!(erasures.iter().any(
        |e| e["target_id"].as_str().unwrap().starts_with("erased:") && e["actor_id"].is_null()
    ));
}

/// Erasure leaves none of the user's values in any column of any table,
/// and the audit trail keeps their actions under a hash.
pub async fn erasure_leaves_no_trace(api: &Api) {
    let t = tag();
    let email = format!("zq{t}@example.com");
    let name = format!("Zyxwvu {t}");
    // Groups that start with 1: as the address is printed back.
    let address = format!("2001:db8:1{}:1{}::7", &t[..3], &t[3..6]);
    let request_id = format!("rq-{t}");
    let notes = format!("notes-{t}");
    let field_key = format!("key{t}");
    let field_value = format!("value-{t}");
    let (user, _) = new_user(api, 1, &email, &name).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&user)
        .fetch_one(api.admin_sql.primary())
        .await
        .unwrap();

    // Everything as the user, from their address with their request id.
    let client = client_from(&address, &request_id);
    let login_reply = send_with(
        &client,
        api,
        Method::POST,
        "/auth/login",
        None,
        Some(&json!({"email": email, "password": "long enough 1"})),
    )
    .await;
    let token = login_reply.ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = send_with(
        &client,
        api,
        Method::POST,
        "/api/v1/sessions",
        Some(&token),
        Some(&json!({"provider_type": "twilio", "telephony_provider": "simulated"})),
    )
    .await;
    let call = session.ok(201)["call"]["id"].as_str().unwrap().to_owned();
    send_with(
        &client,
        api,
        Method::PUT,
        &format!("/api/v1/calls/{call}/disposition"),
        Some(&token),
        Some(&json!({"disposition": "interested", "notes": notes, "custom_fields": {field_key.clone(): field_value}})),
    )
    .await
    .ok(200);
    send_with(
        &client,
        api,
        Method::PUT,
        "/api/v1/gdpr/privacy-settings",
        Some(&token),
        Some(
            &json!({"marketing_emails": true, "call_recording_consent": true,
            "data_processing_consent": true, "analytics": true}),
        ),
    )
    .await
    .ok(200);
    send_with(
        &client,
        api,
        Method::GET,
        "/api/v1/gdpr/export",
        Some(&token),
        None,
    )
    .await
    .ok(200);
    let scheduled = send_with(
        &client,
        api,
        Method::DELETE,
        "/api/v1/gdpr/delete-account",
        Some(&token),
        Some(&json!({"confirmation": email})),
    )
    .await;
    let erase_after = scheduled.ok(202)["erase_after"].as_i64().unwrap();
    let seeded = [
        user.as_str(),
        email.as_str(),
        name.as_str(),
        hash.as_str(),
        address.as_str(),
        request_id.as_str(),
        notes.as_str(),
        field_key.as_str(),
        field_value.as_str(),
    ];
    // Before: the scan finds each value (so that it can find them at all).
    let found = scan(api, &seeded).await;
    for value in seeded {
        assert!(
            found.iter().any(|(_, v)| v == value),
            "{value} not seeded: {found:?}"
        );
    }

    assert_eq!(purge(api, erase_after + 1), 1);
    let found = scan(api, &seeded).await;
    assert!(found.is_empty(), "left after erasure: {found:?}");

    // What survives: the disposition's outcome, the session, the audit
    // trail under the hash, without addresses.
    let row = sqlx::query(
        "SELECT disposition, notes, custom_fields FROM call_dispositions WHERE call_id = $1",
    )
    .bind(&call)
    .fetch_one(api.admin_sql.primary())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "interested");
    assert_eq!(row.get::<String, _>(1), "[ANONYMIZED]");
    assert_eq!(row.get::<String, _>(2), "{}");
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE actor_id LIKE 'erased:%' AND client_ip IS NULL \
         AND request_id IS NULL",
    )
    .fetch_one(api.admin_sql.primary())
    .await
    .unwrap();
    // The settings, the export, the deletion request.
    assert!(kept >= 3, "{kept}");
}

/// Every (table, column) of the database holding one of `values`, as text.
async fn scan(api: &Api, values: &[&str]) -> Vec<(String, String)> {
    let db = &api.admin_sql;
    let columns: Vec<(String, String)> = match db.backend() {
        Backend::Postgres => sqlx::query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY 1, 2",
        )
        .fetch_all(db.primary())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect(),
        Backend::Sqlite => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .fetch_all(db.primary())
            .await
            .unwrap();
            let mut columns = Vec::new();
            for table in tables {
                let sql = format!("SELECT name FROM pragma_table_info('{table}')");
                let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(db.primary())
                    .await
                    .unwrap();
                columns.extend(names.into_iter().map(|c| (table.clone(), c)));
            }
            columns
        }
    };
    assert!(columns.len() > 40, "{columns:?}");
    let cast = match db.backend() {
        Backend::Postgres => "::text",
        Backend::Sqlite => "",
    };
    let mut found = Vec::new();
    for (table, column) in columns {
        for value in values {
            let sql = format!(
                "SELECT COUNT(*) FROM \"{table}\" WHERE \"{column}\"{cast} LIKE '%' || $1 || '%'"
            );
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(*value)
                .fetch_one(db.primary())
                .await
                .unwrap();
            if count > 0 {
                found.push((format!("{table}.{column}"), (*value).to_owned()));
            }
        }
    }
    found
}

/// Every bad input on the new routes: 4xx problem+json naming the field.
pub async fn bad_input(api: &Api) {
    let agent = api.agent_of(1).await;
    let admin = api.admin_of(1).await;
    let settings = "/api/v1/gdpr/privacy-settings";
    let full = json!({"marketing_emails": true, "call_recording_consent": true,
        "data_processing_consent": true, "analytics": true});
    for (body, field) in [
        (json!({}), "marketing_emails"),
        (
            json!({"marketing_emails": "yes", "call_recording_consent": true,
            "data_processing_consent": true, "analytics": true}),
            "marketing_emails",
        ),
        (
            json!({"marketing_emails": true, "call_recording_consent": 1,
            "data_processing_consent": true, "analytics": true}),
            "call_recording_consent",
        ),
        (
            json!({"marketing_emails": true, "call_recording_consent": true,
            "data_processing_consent": null, "analytics": true}),
            "data_processing_consent",
        ),
        (
            json!({"marketing_emails": true, "call_recording_consent": true,
            "data_processing_consent": true}),
            "analytics",
        ),
        (
            {
                let mut b = full.clone();
                b["extra"] = json!(1);
                b
            },
            "body",
        ),
    ] {
        let reply = api
            .send(Method::PUT, settings, Some(&agent), Some(&body))
            .await;
        let problem = reply.problem(422);
        let named = problem["errors"][0]["field"].as_str().unwrap();
        assert!(
            named == field
                || (field == "body" && problem["detail"].as_str().unwrap().contains("extra")),
            "{body}: {problem}"
        );
    }
    for body in [json!([]), json!("x"), json!(null)] {
        let reply = api
            .send(Method::PUT, settings, Some(&agent), Some(&body))
            .await;
        assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.text);
        assert_eq!(reply.content_type, "application/problem+json");
    }
    let raw = api
        .client
        .put(api.url(settings))
        .bearer_auth(&agent)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let raw = api
        .client
        .put(api.url(settings))
        .bearer_auth(&agent)
        .body(full.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 415);

    let delete = "/api/v1/gdpr/delete-account";
    for (body, status) in [
        (json!({}), 422),
        (json!({"confirmation": 5}), 422),
        (json!({"confirmation": null}), 422),
        (json!({"confirmation": "someone@example.com"}), 400),
        (json!({"confirmation": ""}), 400),
        (json!({"confirmation": "x".repeat(100_000)}), 400),
        (json!({"confirmation": "\u{0}"}), 400),
    ] {
        let reply = api
            .send(Method::DELETE, delete, Some(&agent), Some(&body))
            .await;
        assert_eq!(
            reply.problem(status)["errors"][0]["field"],
            "confirmation",
            "{body}"
        );
    }
    let none = api.send(Method::DELETE, delete, Some(&agent), None).await;
    assert_eq!(none.status.as_u16(), 415, "{}", none.text);
    // Nothing was scheduled by any of it.
    api.post("/api/v1/gdpr/cancel-deletion", &agent, &json!({}))
        .await
        .problem(409);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("action=", "action"),
        ("action=GDPR.export", "action"),
        ("action=a%20b", "action"),
        (&*format!("action={}", "a".repeat(65)), "action"),
        ("since=-1", "since"),
        ("since=abc", "since"),
        ("since=1e3", "since"),
        ("until=253402300800", "until"),
        ("since=10&until=9", "until"),
    ] {
        let reply = api
            .get(&format!("/api/v1/admin/audit?{query}"), &admin)
            .await;
        assert_eq!(reply.problem(422)["errors"][0]["field"], field, "{query}");
    }
    let ok = api
        .get(
            "/api/v1/admin/audit?since=0&until=253402300799&action=user.create&limit=100",
            &admin,
        )
        .await;
    assert!(ok.ok(200)["total"].is_i64());
    api.get("/api/v1/admin/users?limit=x", &admin)
        .await
        .invalid("limit");
    for path in ["/api/v1/admin/audit", "/api/v1/admin/users"] {
        api.get(path, &agent).await.problem(403);
    }
    for (method, path) in [
        (Method::GET, "/api/v1/admin/audit"),
        (Method::GET, "/api/v1/admin/users"),
        (Method::GET, "/api/v1/gdpr/export"),
        (Method::DELETE, "/api/v1/gdpr/delete-account"),
        (Method::POST, "/api/v1/gdpr/cancel-deletion"),
        (Method::GET, settings),
        (Method::PUT, settings),
    ] {
        api.send(method, path, None, None).await.problem(401);
    }
}

/// The server's own job erases a due account (grace 0, run every second).
pub async fn the_server_job_erases(api: &Api) {
    let t = tag();
    let email = format!("job-{t}@example.com");
    let (_, token) = new_user(api, 1, &email, "Job").await;
    api.send(
        Method::DELETE,
        "/api/v1/gdpr/delete-account",
        Some(&token),
        Some(&json!({"confirmation": email})),
    )
    .await
    .ok(202);
    // Polled with the token (/auth/me is 401 once the account is gone):
    // logins would meet the login limit.
    for _ in 0..300 {
        if api.get("/auth/me", &token).await.status == 401 {
            assert_eq!(login(api, &email).await, Err(401));
            // The job counts once its run is over: a moment after the commit.
            for _ in 0..100 {
                let metrics = api.send(Method::GET, "/metrics", None, None).await;
                let last = metrics
                    .text
                    .lines()
                    .find_map(|l| l.strip_prefix("gdpr_purge_last_success_timestamp_seconds "))
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .expect("the job's last success on /metrics");
                if metrics.text.contains("gdpr_erasures_total 1") && last > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("gdpr_erasures_total did not reach 1 on /metrics");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server's job did not erase the account within 30 s");
}
