//! The operator-demo with `DATABASE_READ_URL` on a real Postgres streaming
//! hot standby of the test primary (scripts/test starts both and exports
//! `DATABASE_URL`, `DATABASE_REPLICA_URL` and `DATABASE_REPLICA_CTL`).
//!
//! Each test has a database of its own on the primary (the replica replays
//! it), migrated by the owner, a non-owner app role under row-level
//! security, and the real demo with `DATABASE_URL` = the primary and
//! `DATABASE_READ_URL` = the replica, both as the app role. Two facts prove
//! where a query went, through HTTP: the replica refuses every write (a
//! misrouted write would be an error), and with its replay paused
//! (`pg_wal_replay_pause()`) it shows the past, so a read it serves does not
//! see a newer write while a read served by the primary does.
//!
//! Pausing replay and stopping the replica act on the whole standby, which
//! every test here uses: the tests of this binary run one at a time
//! (`setup::SERIAL`).

#[path = "../demo_api_common/mod.rs"]
mod demo_api_common;
mod login;
mod outage;
mod retry;
mod setup;

use std::time::Duration;

use operator_demo::db::seed::org_id;
use reqwest::Method;
use serde_json::json;

use crate::setup::{count, eventually_listed, id, ids, services, setup};

/// Every write route, with replay paused so that the replica knows nothing
/// of what the test writes: each write lands (the replica would refuse it),
/// and each read a write needs (the company a campaign names, the row a PUT
/// or DELETE changes, the session a POST returns and `GET
/// /api/v1/sessions/{id}` reads back) comes from the primary. After resume,
/// the lists show it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_route_works_while_the_replica_is_behind() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_writes", 1, 3).await;
    let api = &r.api;
    let admin = api.admin_of(1).await;
    let agent = api.agent_of(1).await;
    let ready = api.send(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.ok(200)["checks"]["database"], "ok");

    r.pause().await;

    // Companies: create, update (a row the replica has never seen).
    let company = api
        .post(
            "/api/v1/companies",
            &agent,
            &json!({"name": "Acme", "domain": "acme.example"}),
        )
        .await;
    let company_id = id(&company, 201);
    assert_eq!(company.body["name"], "Acme");
    let company_path = format!("/api/v1/companies/{company_id}");
    let updated = api
        .send(
            Method::PUT,
            &company_path,
            Some(&agent),
            Some(&json!({"name": "Acme Inc", "domain": "acme.example"})),
        )
        .await;
    assert_eq!(updated.ok(200)["name"], "Acme Inc");

    // Campaigns: create for that company, update, execute.
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &agent,
            &json!({"name": "Renewals", "language": "en", "script": "Hi", "company_id": company_id}),
        )
        .await;
    let campaign_id = id(&campaign, 201);
    assert_eq!(campaign.body["company_id"], company_id.as_str());
    let campaign_path = format!("/api/v1/campaigns/{campaign_id}");
    let changed = api
        .send(
            Method::PUT,
            &campaign_path,
            Some(&agent),
            Some(&json!({"name": "Renewals Q4", "language": "pt-BR", "script": "Olá", "company_id": company_id})),
        )
        .await;
    assert_eq!(changed.ok(200)["name"], "Renewals Q4");
    let run = api
        .post(&format!("{campaign_path}/execute"), &agent, &json!({}))
        .await;
    assert_eq!(run.ok(200)["status"], "running");

    // Sessions: start (the response is the new session and its call), read
    // back by id, disposition, end.
    let session = api
        .post(
            "/api/v1/sessions",
            &agent,
            &json!({"provider_type": "twilio", "telephony_provider": "twilio", "campaign_id": campaign_id}),
        )
        .await;
    let session_id = id(&session, 201);
    assert_eq!(session.body["status"], "active");
    let call_id = session.body["call"]["id"].as_str().unwrap().to_owned();
    let session_path = format!("/api/v1/sessions/{session_id}");
    let read_back = api.get(&session_path, &agent).await;
    assert_eq!(read_back.ok(200)["call"]["id"], call_id.as_str());
    let disposition = api
        .send(
            Method::PUT,
            &format!("/api/v1/calls/{call_id}/disposition"),
            Some(&agent),
            Some(&json!({"disposition": "callback", "notes": "after 5", "custom_fields": {"score": 7}})),
        )
        .await;
    assert_eq!(disposition.ok(200)["custom_fields"]["score"], 7);
    let ended = api
        .post(&format!("{session_path}/end"), &agent, &json!({}))
        .await;
    assert_eq!(ended.ok(200)["status"], "ended");
    let again = api
        .post(&format!("{session_path}/end"), &agent, &json!({}))
        .await;
    assert_eq!(again.ok(200)["ended_at"], ended.body["ended_at"]);

    // An admin adds a user.
    let user = api
        .post(
            "/api/v1/admin/users",
            &admin,
            &json!({"email": "replica.agent@example.com", "full_name": "Replica Agent", "password": "longenough", "role": "agent"}),
        )
        .await;
    user.ok(201);

    // A second company and campaign, deleted while the replica has not
    // seen them (the DELETE finds its row on the primary).
    let doomed = id(
        &api.post("/api/v1/companies", &agent, &json!({"name": "Doomed"}))
            .await,
        201,
    );
    let doomed_campaign = id(
        &api.post(
            "/api/v1/campaigns",
            &agent,
            &json!({"name": "Doomed", "language": "en", "script": "s"}),
        )
        .await,
        201,
    );
    for path in [
        format!("/api/v1/campaigns/{doomed_campaign}"),
        format!("/api/v1/companies/{doomed}"),
    ] {
        let gone = api.send(Method::DELETE, &path, Some(&agent), None).await;
        assert_eq!(gone.status, 204, "DELETE {path}: {}", gone.text);
    }

    // All of it is on the primary.

    assert_eq!(count(&r.primary, "SELECT COUNT(*) FROM companies").await, 2);
    assert_eq!(count(&r.primary, "SELECT COUNT(*) FROM campaigns").await, 2);
    assert_eq!(
        count(
            &r.primary,
            "SELECT COUNT(*) FROM call_sessions WHERE status = 'ended'"
        )
        .await,
        1
    );
    // None of it on the replica yet.
    let on_replica: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM companies")
        .fetch_one(&r.replica)
        .await
        .unwrap();
    assert_eq!(on_replica, 1, "the seeded company only");

    // Replay resumes: every list shows what was written.
    r.resume().await;
    eventually_listed(
        api,
        &agent,
        "/api/v1/companies?limit=100",
        &company_id,
        true,
    )
    .await;
    eventually_listed(
        api,
        &agent,
        "/api/v1/campaigns?limit=100",
        &campaign_id,
        true,
    )
    .await;
    eventually_listed(api, &agent, "/api/v1/sessions?limit=100", &session_id, true).await;
    r.caught_up().await;
    let companies = api.get("/api/v1/companies?limit=100", &agent).await;
    assert_eq!(companies.ok(200)["total"], 2);
    assert!(!ids(&companies.body).contains(&doomed));
    let campaign = api.get(&campaign_path, &agent).await;
    assert_eq!(campaign.ok(200)["status"], "running");
    let login = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "replica.agent@example.com", "password": "longenough"})),
        )
        .await;
    login.ok(200);
    r.stop().await;
}

/// List and read-by-id routes are served by the replica: with replay
/// paused, a write through the API is invisible to them, and so is a row
/// written straight into the primary; once replay resumes both appear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_served_by_the_replica() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let r = setup(&primary_url, &replica_url, "replica_reads", 1, 2).await;
    let api = &r.api;
    let agent = api.agent_of(1).await;
    let before = api.get("/api/v1/companies?limit=100", &agent).await;
    assert_eq!(before.ok(200)["total"], 1);

    r.pause().await;
    let company = api
        .post(
            "/api/v1/companies",
            &agent,
            &json!({"name": "Written while paused"}),
        )
        .await;
    let company_id = id(&company, 201);
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &agent,
            &json!({"name": "Paused", "language": "en", "script": "s"}),
        )
        .await;
    let campaign_id = id(&campaign, 201);
    // A session is read back from the primary by id, but listed from the replica.
    let session = api
        .post(
            "/api/v1/sessions",
            &agent,
            &json!({"provider_type": "x", "telephony_provider": "simulated"}),
        )
        .await;
    let session_id = id(&session, 201);
    api.get(&format!("/api/v1/sessions/{session_id}"), &agent)
        .await
        .ok(200);

    // A row straight into the primary, as its owner.
    let direct = operator_demo::db::new_id();
    sqlx::query(
        "INSERT INTO companies (id, organization_id, name, created_at, updated_at) \
         VALUES ($1, $2, 'Inserted on the primary', 0, 0)",
    )
    .bind(&direct)
    .bind(org_id(1))
    .execute(&r.primary)
    .await
    .unwrap();

    // Give the replica every chance to show them (it must not: replay is paused).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let companies = api.get("/api/v1/companies?limit=100", &agent).await;
        assert_eq!(companies.ok(200)["total"], 1, "{}", companies.text);
        let listed = ids(&companies.body);
        assert!(!listed.contains(&company_id) && !listed.contains(&direct));
        let campaigns = api.get("/api/v1/campaigns?limit=100", &agent).await;
        assert!(!ids(campaigns.ok(200)).contains(&campaign_id));
        let legacy = api.get("/campaigns?limit=100", &agent).await;
        assert!(!ids(legacy.ok(200)).contains(&campaign_id));
        let sessions = api.get("/api/v1/sessions?limit=100", &agent).await;
        assert!(!ids(sessions.ok(200)).contains(&session_id));
        // Read by id: the replica has no such row yet.
        api.get(&format!("/api/v1/companies/{company_id}"), &agent)
            .await
            .problem(404);
        api.get(&format!("/api/v1/companies/{direct}"), &agent)
            .await
            .problem(404);
        api.get(&format!("/api/v1/campaigns/{campaign_id}"), &agent)
            .await
            .problem(404);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The owner on the primary sees both companies all along.
    let on_primary: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM companies")
        .fetch_one(&r.primary)
        .await
        .unwrap();
    assert_eq!(on_primary, 3);

    r.resume().await;
    eventually_listed(
        api,
        &agent,
        "/api/v1/companies?limit=100",
        &company_id,
        true,
    )
    .await;
    eventually_listed(api, &agent, "/api/v1/companies?limit=100", &direct, true).await;
    eventually_listed(
        api,
        &agent,
        "/api/v1/campaigns?limit=100",
        &campaign_id,
        true,
    )
    .await;
    eventually_listed(api, &agent, "/campaigns?limit=100", &campaign_id, true).await;
    eventually_listed(api, &agent, "/api/v1/sessions?limit=100", &session_id, true).await;
    let read = api
        .get(&format!("/api/v1/companies/{direct}"), &agent)
        .await;
    assert_eq!(read.ok(200)["name"], "Inserted on the primary");

    // And the other way: a delete on the primary stays listed until replayed.
    r.pause().await;
    let gone = api
        .send(
            Method::DELETE,
            &format!("/api/v1/companies/{company_id}"),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let companies = api.get("/api/v1/companies?limit=100", &agent).await;
    assert!(ids(companies.ok(200)).contains(&company_id));
    r.resume().await;
    eventually_listed(
        api,
        &agent,
        "/api/v1/companies?limit=100",
        &company_id,
        false,
    )
    .await;
    r.stop().await;
}

/// With the response cache on, a cached route's miss reads the primary: a
/// write is read back at once even while the replica's replay is paused,
/// and the lagging replica's view is never what the cache keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_are_not_pinned_to_a_lagging_replica() {
    let Some((primary_url, replica_url)) = services() else {
        return;
    };
    let mut r = setup(&primary_url, &replica_url, "replica_cache", 1, 2).await;
    let app_url = r.api.postgres.as_ref().unwrap().app_url.clone();
    let key = r.api.demo.data_dir().join("jwt-ed25519.pem");
    let key = key.to_str().unwrap().to_owned();
    r.api.demo = rampart_tests::Demo::start(
        demo_api_common::BIN,
        &[
            demo_api_common::GLOBAL,
            demo_api_common::API,
            demo_api_common::PROXY,
            ("DATABASE_URL", &app_url),
            ("DATABASE_READ_URL", &r.replica_app_url),
            ("JWT_PRIVATE_KEY_FILE", &key),
        ],
    )
    .await;
    let api = &r.api;
    let agent = api.agent_of(1).await;
    // Cached before the pause.
    for _ in 0..2 {
        api.get("/api/v1/companies?limit=100", &agent).await.ok(200);
    }
    r.pause().await;
    for n in 0..5 {
        let company = api
            .post(
                "/api/v1/companies",
                &agent,
                &json!({"name": format!("Written while paused {n}")}),
            )
            .await;
        let company_id = id(&company, 201);
        for _ in 0..2 {
            let list = api.get("/api/v1/companies?limit=100", &agent).await;
            assert!(ids(list.ok(200)).contains(&company_id), "{}", list.text);
            let one = api
                .get(&format!("/api/v1/companies/{company_id}"), &agent)
                .await;
            one.ok(200);
        }
    }
    r.resume().await;
    r.stop().await;
}
