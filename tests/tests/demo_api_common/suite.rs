//! The scenarios, each against an [`Api`] that the backend's test binary
//! started: what a client sees (status, headers, body) on every route.

use operator_demo::db::seed::org_id;
use reqwest::Method;
use serde_json::{Value, json};

use super::Api;

/// Every route, as the plan's clients use them.
pub async fn every_route(api: &Api) {
    let admin = api.admin_of(1).await;
    let agent = api.agent_of(1).await;

    // Probes and documents.
    let ready = api.send(Method::GET, "/ready", None, None).await;
    assert_eq!(ready.ok(200)["checks"]["database"], "ok");
    api.send(Method::GET, "/health", None, None).await.ok(200);
    let doc = api.send(Method::GET, "/openapi.json", None, None).await;
    assert!(doc.ok(200)["paths"]["/api/v1/sessions"].is_object());
    let docs = api.send(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger"), "{}", docs.text);
    let csp = docs.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // Who am I.
    let me = api.get("/auth/me", &agent).await;
    assert_eq!(me.ok(200)["email"], "user2@example.com");
    assert_eq!(me.body["role"], "agent");
    assert_eq!(me.body["organization_id"], org_id(1));

    // The plan's campaign list and the seeded campaign.
    let legacy = api.get("/campaigns", &agent).await;
    assert_eq!(legacy.ok(200)["total"], 1);

    // Companies: create, list, read, update, delete.
    let company = api
        .post(
            "/api/v1/companies",
            &agent,
            &json!({"name": "Acme", "domain": "acme.example"}),
        )
        .await;
    let company_id = company.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(company.body["domain"], "acme.example");
    let list = api.get("/api/v1/companies?limit=100", &agent).await;
    assert!(ids(list.ok(200)).contains(&company_id));
    assert_eq!(list.body["total"], 2);
    let path = format!("/api/v1/companies/{company_id}");
    assert_eq!(api.get(&path, &agent).await.ok(200)["name"], "Acme");
    let updated = api
        .send(
            Method::PUT,
            &path,
            Some(&agent),
            Some(&json!({"name": "Acme Inc"})),
        )
        .await;
    assert_eq!(updated.ok(200)["name"], "Acme Inc");
    assert_eq!(updated.body["domain"], Value::Null);

    // Campaigns: create (for the company), read, update, execute, delete.
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &agent,
            &json!({"name": "Renewals", "language": "pt-BR", "script": "Olá!", "company_id": company_id}),
        )
        .await;
    let campaign_id = campaign.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(campaign.body["status"], "draft");
    let cpath = format!("/api/v1/campaigns/{campaign_id}");
    assert_eq!(api.get(&cpath, &agent).await.ok(200)["language"], "pt-BR");
    let changed = api
        .send(
            Method::PUT,
            &cpath,
            Some(&agent),
            Some(&json!({"name": "Renewals Q4", "language": "en", "script": "Hello!"})),
        )
        .await;
    assert_eq!(changed.ok(200)["company_id"], Value::Null);
    let run = api
        .post(&format!("{cpath}/execute"), &agent, &json!({}))
        .await;
    assert_eq!(run.ok(200)["status"], "running");
    let list = api.get("/api/v1/campaigns", &agent).await;
    assert!(ids(list.ok(200)).contains(&campaign_id));

    // Sessions: start (the plan's body), list, read, disposition, end.
    let session = api
        .post(
            "/api/v1/sessions",
            &agent,
            &json!({"provider_type": "twilio", "telephony_provider": "twilio"}),
        )
        .await;
    let session_id = session.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(session.body["status"], "active");
    let call_id = session.body["call"]["id"].as_str().unwrap().to_owned();
    assert!(session.body["call"]["provider_call_id"].is_string());
    let spath = format!("/api/v1/sessions/{session_id}");
    assert_eq!(api.get(&spath, &agent).await.ok(200)["call"]["id"], call_id);
    let sessions = api.get("/api/v1/sessions", &agent).await;
    assert!(ids(sessions.ok(200)).contains(&session_id));
    let disposition = api
        .send(
            Method::PUT,
            &format!("/api/v1/calls/{call_id}/disposition"),
            Some(&agent),
            Some(&json!({"disposition": "callback", "notes": "call after 5", "custom_fields": {"score": 7, "tags": ["vip"]}})),
        )
        .await;
    assert_eq!(disposition.ok(200)["custom_fields"]["tags"][0], "vip");
    let ended = api.post(&format!("{spath}/end"), &agent, &json!({})).await;
    assert_eq!(ended.ok(200)["status"], "ended");
    assert!(ended.body["call"]["duration_seconds"].is_i64());
    // Ending twice changes nothing.
    let again = api.post(&format!("{spath}/end"), &agent, &json!({})).await;
    assert_eq!(again.ok(200)["ended_at"], ended.body["ended_at"]);

    // Admin: the organization and its usage; agents are refused.
    let org = api.get("/api/v1/admin/organization", &admin).await;
    assert_eq!(org.ok(200)["id"], org_id(1));
    assert_eq!(org.body["quotas"]["max_concurrent_calls"], 10);
    assert_eq!(org.body["usage"]["calls_this_month"], 1);
    assert_eq!(org.body["usage"]["campaigns"], 2);
    api.get("/api/v1/admin/organization", &agent)
        .await
        .problem(403);
    let user = api
        .post(
            "/api/v1/admin/users",
            &admin,
            &json!({"email": "new.agent@example.com", "full_name": "New Agent", "password": "longenough", "role": "agent"}),
        )
        .await;
    user.ok(201);
    assert!(user.body.get("password_hash").is_none());
    let login = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "New.Agent@example.com", "password": "longenough"})),
        )
        .await;
    assert_eq!(login.ok(200)["token_type"], "bearer");
    api.post(
        "/api/v1/admin/users",
        &agent,
        &json!({"email": "x@example.com", "full_name": "X", "password": "longenough", "role": "agent"}),
    )
    .await
    .problem(403);
    // The email is taken.
    api.post(
        "/api/v1/admin/users",
        &admin,
        &json!({"email": "user2@example.com", "full_name": "Dup", "password": "longenough", "role": "agent"}),
    )
    .await
    .problem(409);

    // Deletes.
    let gone = api.send(Method::DELETE, &cpath, Some(&agent), None).await;
    assert_eq!(gone.status, 204);
    api.get(&cpath, &agent).await.problem(404);
    let gone = api.send(Method::DELETE, &path, Some(&agent), None).await;
    assert_eq!(gone.status, 204);
    api.get(&path, &agent).await.problem(404);

    // No token, a bad token: 401 problem with WWW-Authenticate.
    for token in [None, Some("not-a-jwt")] {
        let reply = api
            .send(Method::GET, "/api/v1/companies", token, None)
            .await;
        reply.problem(401);
        assert!(reply.headers.contains_key("www-authenticate"));
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Organization 2 sees none of organization 1's rows: every id is a 404.
pub async fn tenant_isolation(api: &Api) {
    let one = api.agent_of(1).await;
    let two = api.agent_of(2).await;
    let company = api
        .post("/api/v1/companies", &one, &json!({"name": "Secret Co"}))
        .await;
    let company_id = company.ok(201)["id"].as_str().unwrap().to_owned();
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &one,
            &json!({"name": "Secret", "language": "en", "script": "s"}),
        )
        .await;
    let campaign_id = campaign.ok(201)["id"].as_str().unwrap().to_owned();
    let session = api
        .post(
            "/api/v1/sessions",
            &one,
            &json!({"provider_type": "x", "telephony_provider": "simulated"}),
        )
        .await;
    let session_id = session.ok(201)["id"].as_str().unwrap().to_owned();
    let call_id = session.body["call"]["id"].as_str().unwrap().to_owned();

    let company_path = format!("/api/v1/companies/{company_id}");
    let campaign_path = format!("/api/v1/campaigns/{campaign_id}");
    let session_path = format!("/api/v1/sessions/{session_id}");
    for path in [&company_path, &campaign_path, &session_path] {
        api.get(path, &two).await.problem(404);
    }
    for path in [&company_path, &campaign_path] {
        api.send(Method::DELETE, path, Some(&two), None)
            .await
            .problem(404);
    }
    api.send(
        Method::PUT,
        &company_path,
        Some(&two),
        Some(&json!({"name": "Mine now"})),
    )
    .await
    .problem(404);
    api.send(
        Method::PUT,
        &campaign_path,
        Some(&two),
        Some(&json!({"name": "Mine", "language": "en", "script": "s"})),
    )
    .await
    .problem(404);
    api.post(&format!("{campaign_path}/execute"), &two, &json!({}))
        .await
        .problem(404);
    api.post(&format!("{session_path}/end"), &two, &json!({}))
        .await
        .problem(404);
    api.send(
        Method::PUT,
        &format!("/api/v1/calls/{call_id}/disposition"),
        Some(&two),
        Some(&json!({"disposition": "busy"})),
    )
    .await
    .problem(404);
    // Another organization's company cannot be referenced either.
    api.post(
        "/api/v1/campaigns",
        &two,
        &json!({"name": "n", "language": "en", "script": "s", "company_id": company_id}),
    )
    .await
    .invalid("company_id");
    api.post(
        "/api/v1/sessions",
        &two,
        &json!({"provider_type": "x", "telephony_provider": "simulated", "campaign_id": campaign_id}),
    )
    .await
    .invalid("campaign_id");
    // Lists hold only their own.
    for list in [
        "/api/v1/companies?limit=100",
        "/api/v1/campaigns?limit=100",
        "/api/v1/sessions?limit=100",
    ] {
        let theirs = ids(api.get(list, &two).await.ok(200));
        for id in [&company_id, &campaign_id, &session_id] {
            assert!(!theirs.contains(id), "{list} of org 2 shows {id}");
        }
    }
    // And organization 1 still has everything, untouched.
    assert_eq!(
        api.get(&company_path, &one).await.ok(200)["name"],
        "Secret Co"
    );
    assert_eq!(
        api.get(&campaign_path, &one).await.ok(200)["status"],
        "draft"
    );
    assert_eq!(
        api.get(&session_path, &one).await.ok(200)["status"],
        "active"
    );
}

/// Bad input of every kind: a 4xx problem+json (422 naming the field), never a 5xx.
pub async fn bad_input(api: &Api) {
    let token = api.agent_of(1).await;
    let long = "x".repeat(201);
    let company_cases: Vec<(Value, &str)> = vec![
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": 42}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": "a\u{0}b"}), "name"),
        (json!({"name": "ok", "domain": "not a domain"}), "domain"),
        (json!({"name": "ok", "domain": "-bad-.com"}), "domain"),
        (json!({"name": "ok", "extra": true}), "extra"),
    ];
    for (body, field) in &company_cases {
        api.post("/api/v1/companies", &token, body)
            .await
            .invalid(field);
    }
    let campaign_cases: Vec<(Value, &str)> = vec![
        (json!({"name": "n", "script": "s"}), "language"),
        (
            json!({"name": "n", "language": "english", "script": "s"}),
            "language",
        ),
        (
            json!({"name": "n", "language": "e", "script": "s"}),
            "language",
        ),
        (
            json!({"name": "n", "language": "en", "script": ""}),
            "script",
        ),
        (
            json!({"name": "n", "language": "en", "script": "x".repeat(20_001)}),
            "script",
        ),
        (
            json!({"name": "n", "language": "en", "script": "s", "company_id": "42"}),
            "company_id",
        ),
        (
            json!({"name": "n", "language": "en", "script": "s", "company_id": 42}),
            "company_id",
        ),
        (
            json!({"name": "n", "language": "en", "script": "s", "company_id": "0190d6f2-7b7c-7cc0-8f5e-1a2b3c4d5e6f"}),
            "company_id",
        ),
    ];
    for (body, field) in &campaign_cases {
        api.post("/api/v1/campaigns", &token, body)
            .await
            .invalid(field);
    }
    let session_cases: Vec<(Value, &str)> = vec![
        (json!({"telephony_provider": "twilio"}), "provider_type"),
        (json!({"provider_type": "twilio"}), "telephony_provider"),
        (
            json!({"provider_type": "twilio", "telephony_provider": "skype"}),
            "telephony_provider",
        ),
        (
            json!({"provider_type": "Twilio!", "telephony_provider": "twilio"}),
            "provider_type",
        ),
        (
            json!({"provider_type": "", "telephony_provider": "twilio"}),
            "provider_type",
        ),
        (
            json!({"provider_type": "t", "telephony_provider": "twilio", "to": "5551234"}),
            "to",
        ),
        (
            json!({"provider_type": "t", "telephony_provider": "twilio", "to": "+1 555 123"}),
            "to",
        ),
        (
            json!({"provider_type": "t", "telephony_provider": "twilio", "campaign_id": "x"}),
            "campaign_id",
        ),
    ];
    for (body, field) in &session_cases {
        api.post("/api/v1/sessions", &token, body)
            .await
            .invalid(field);
    }
    // A real call to dispose of.
    let session = api
        .post(
            "/api/v1/sessions",
            &token,
            &json!({"provider_type": "t", "telephony_provider": "simulated"}),
        )
        .await;
    let call = session.ok(201)["call"]["id"].as_str().unwrap().to_owned();
    let dpath = format!("/api/v1/calls/{call}/disposition");
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let disposition_cases: Vec<(Value, &str)> = vec![
        (json!({}), "disposition"),
        (json!({"disposition": "maybe"}), "disposition"),
        (
            json!({"disposition": "busy", "notes": "n".repeat(5001)}),
            "notes",
        ),
        (
            json!({"disposition": "busy", "custom_fields": [1, 2]}),
            "custom_fields",
        ),
        (
            json!({"disposition": "busy", "custom_fields": "text"}),
            "custom_fields",
        ),
        (
            json!({"disposition": "busy", "custom_fields": Value::Object(many)}),
            "custom_fields",
        ),
        (
            json!({"disposition": "busy", "custom_fields": {"big": "x".repeat(9000)}}),
            "custom_fields",
        ),
        (
            json!({"disposition": "busy", "custom_fields": {"": 1}}),
            "custom_fields.",
        ),
    ];
    for (body, field) in &disposition_cases {
        api.send(Method::PUT, &dpath, Some(&token), Some(body))
            .await
            .invalid(field);
    }
    api.post(
        "/api/v1/admin/users",
        &api.admin_of(1).await,
        &json!({"email": "a@example.com", "full_name": "A", "password": "short", "role": "agent"}),
    )
    .await
    .invalid("password");
    api.post(
        "/api/v1/admin/users",
        &api.admin_of(1).await,
        &json!({"email": "a@example.com", "full_name": "A", "password": "longenough", "role": "root"}),
    )
    .await
    .invalid("role");

    // Ids and pages.
    for path in [
        "/api/v1/companies/42",
        "/api/v1/campaigns/not-a-uuid",
        "/api/v1/sessions/%00",
    ] {
        api.get(path, &token).await.invalid("id");
    }
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("offset=1000001", "offset"),
    ] {
        api.get(&format!("/api/v1/companies?{query}"), &token)
            .await
            .invalid(field);
    }
    api.get("/api/v1/companies?limit=1&limit=2", &token)
        .await
        .problem(400);

    // The body itself: bad JSON, wrong media type, too large, wrong shape.
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = api
            .client
            .post(api.url("/api/v1/companies"))
            .bearer_auth(&token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
    };
    for (body, content_type, status) in [
        ("{", Some("application/json"), 400),
        ("", Some("application/json"), 400),
        ("null", Some("application/json"), 422),
        ("[]", Some("application/json"), 422),
        ("\"name\"", Some("application/json"), 422),
        ("{\"name\": \"\u{fffd}\"}", Some("text/plain"), 415),
        ("{\"name\": \"x\"}", None, 415),
    ] {
        let reply = super::Reply::from(raw(body, content_type).send().await.unwrap()).await;
        reply.problem(status);
    }

    // Login's own input.
    for (body, field) in [
        (json!({"email": "nope", "password": "x"}), "email"),
        (json!({"email": "user1@example.com"}), "password"),
        (
            json!({"email": "user1@example.com", "password": ""}),
            "password",
        ),
        (
            json!({"email": "user1@example.com", "password": "x".repeat(2000)}),
            "password",
        ),
    ] {
        api.send(Method::POST, "/auth/login", None, Some(&body))
            .await
            .invalid(field);
    }
    // Valid input of unusual shape is accepted.
    let unicode = api
        .post(
            "/api/v1/companies",
            &token,
            &json!({"name": "Café 東京 🚀"}),
        )
        .await;
    assert_eq!(unicode.ok(201)["name"], "Café 東京 🚀");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    // Last, on a connection of its own: the demo answers 413 without
    // reading the body and closes the connection.
    let once = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let reply = once
        .post(api.url("/api/v1/companies"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 413);
}

/// The sixth bad login for one account within 15 minutes is 429 with
/// Retry-After; another account is not affected.
pub async fn login_limit(api: &Api) {
    let bad = json!({"email": "user1@example.com", "password": "wrong"});
    for attempt in 1..=5 {
        let reply = api
            .send(Method::POST, "/auth/login", None, Some(&bad))
            .await;
        assert_eq!(
            reply.problem(401)["detail"],
            "invalid email or password",
            "attempt {attempt}"
        );
    }
    let sixth = api
        .send(Method::POST, "/auth/login", None, Some(&bad))
        .await;
    sixth.problem(429);
    let retry_after: u64 = sixth.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Unknown emails answer exactly as wrong passwords do.
    let unknown = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "ghost@example.com", "password": "wrong"})),
        )
        .await;
    assert_eq!(unknown.problem(401)["detail"], "invalid email or password");
    // Another account from the same address logs in.
    api.login(2).await;
}

/// A hundred seeded users, each behind the trusted proxy with an address of
/// its own, all log in and list campaigns.
pub async fn hundred_users(api: &Api, users: u64) {
    const WORKERS: u64 = 8;
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let client = api.client.clone();
        let login_url = api.url("/auth/login");
        let campaigns_url = api.url("/campaigns");
        tasks.push(tokio::spawn(async move {
            for n in (1..=users).filter(|n| n % WORKERS == worker) {
                let forwarded = format!("10.{}.{}.{}", n / 65536, (n / 256) % 256, n % 256);
                let login = client
                    .post(&login_url)
                    .header("x-forwarded-for", &forwarded)
                    .json(&json!({"email": format!("user{n}@example.com"), "password": "test123"}))
                    .send()
                    .await
                    .unwrap();
                let status = login.status();
                let body: Value = login.json().await.unwrap_or(Value::Null);
                assert_eq!(status, 200, "user{n}: {body}");
                let token = body["access_token"].as_str().unwrap().to_owned();
                let list = client
                    .get(&campaigns_url)
                    .header("x-forwarded-for", &forwarded)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(list.status(), 200, "user{n}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("every login succeeds");
    }
}

/// max_users and max_campaigns (403), max_concurrent_calls and
/// max_calls_per_month (429), per organization, exact under concurrency.
pub async fn quotas(api: &Api) {
    let admin = api.admin_of(1).await;
    let org = org_id(1);
    let users = i64::from(api.users_per_org);
    // Room for no more users, three more campaigns, one call at a time, two a month.
    let sql = "UPDATE organizations SET max_users = CAST($2 AS BIGINT), max_campaigns = 4, \
               max_concurrent_calls = 1, max_calls_per_month = 2 WHERE id = $1";
    api.admin_execute(sql, &[&org, &users.to_string()]).await;

    let user = api
        .post(
            "/api/v1/admin/users",
            &admin,
            &json!({"email": "one.more@example.com", "full_name": "One More", "password": "longenough", "role": "agent"}),
        )
        .await;
    assert_eq!(user.problem(403)["quota"], "max_users");

    // Ten concurrent creates with room for three: exactly three succeed.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let request = api
            .client
            .post(api.url("/api/v1/campaigns"))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("c{i}"), "language": "en", "script": "s"}));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 403, 403, 403, 403, 403, 403, 403]);
    let org_view = api.get("/api/v1/admin/organization", &admin).await;
    assert_eq!(org_view.ok(200)["usage"]["campaigns"], 4);

    // Calls: one at a time, two a month.
    let start = json!({"provider_type": "t", "telephony_provider": "simulated"});
    let first = api.post("/api/v1/sessions", &admin, &start).await;
    let first_id = first.ok(201)["id"].as_str().unwrap().to_owned();
    let busy = api.post("/api/v1/sessions", &admin, &start).await;
    assert_eq!(busy.problem(429)["quota"], "max_concurrent_calls");
    api.post(
        &format!("/api/v1/sessions/{first_id}/end"),
        &admin,
        &json!({}),
    )
    .await
    .ok(200);
    let second = api.post("/api/v1/sessions", &admin, &start).await;
    let second_id = second.ok(201)["id"].as_str().unwrap().to_owned();
    api.post(
        &format!("/api/v1/sessions/{second_id}/end"),
        &admin,
        &json!({}),
    )
    .await
    .ok(200);
    let month = api.post("/api/v1/sessions", &admin, &start).await;
    assert_eq!(month.problem(429)["quota"], "max_calls_per_month");

    // Organization 2 keeps its own quotas.
    let other = api.admin_of(2).await;
    api.post(
        "/api/v1/campaigns",
        &other,
        &json!({"name": "free", "language": "en", "script": "s"}),
    )
    .await
    .ok(201);
    api.post("/api/v1/sessions", &other, &start).await.ok(201);
}

/// The demo's settings under which [`login_work`] can see the statements:
/// JSON logs with sqlx's statement events.
pub const STATEMENT_LOGS: [(&str, &str); 2] = [
    ("LOG_FORMAT", "json"),
    ("RUST_LOG", "warn,sqlx::query=debug"),
];

/// The statements the demo logged (demo started with [`STATEMENT_LOGS`])
/// while answering one login of `email` with a wrong password.
async fn statements_of_login(api: &Api, email: &str) -> Vec<String> {
    let settled = || async {
        // Statement events are written before the answer; wait until the
        // log stops growing all the same (SQLite logs from its own thread).
        let mut last = api.demo.stderr();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = api.demo.stderr();
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settled().await.lines().count();
    let reply = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": email, "password": "not-the-password"})),
        )
        .await;
    assert_eq!(reply.problem(401)["detail"], "invalid email or password");
    settled()
        .await
        .lines()
        .skip(before)
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["target"] == "sqlx::query")
        // A new pooled SQLite connection's set-up, not the login's work.
        .filter(|event| {
            !event["summary"]
                .as_str()
                .unwrap_or_default()
                .starts_with("PRAGMA")
        })
        .map(|event| {
            format!(
                "{} {}",
                event["summary"].as_str().unwrap_or_default(),
                event["db.statement"].as_str().unwrap_or_default().trim()
            )
        })
        .collect()
}

/// A login for an unknown email runs the same statements, in the same
/// order, as one for a known email with a wrong password (then one argon2id
/// verification each): the response time does not tell which emails exist.
pub async fn login_work(api: &Api) {
    let known = statements_of_login(api, "user1@example.com").await;
    let unknown = statements_of_login(api, "nobody.at.all@example.com").await;
    assert!(known.len() >= 2, "{known:#?}\n{}", api.demo.stderr());
    assert_eq!(known, unknown);
}

/// `POST /api/v1/admin/users` with the email of another organization's
/// user: answered as a creation (201, the same fields), nothing written, the
/// owner untouched; an email of the admin's own organization: 409. Seen from
/// both organizations.
pub async fn new_users_reveal_no_other_organization(api: &Api) {
    let per_org = u64::from(api.users_per_org);
    let body = |email: &str| json!({"email": email, "full_name": "Probe", "password": "longenough", "role": "agent"});
    let fresh = api
        .post(
            "/api/v1/admin/users",
            &api.admin_of(1).await,
            &body("fresh.one@example.com"),
        )
        .await;
    let mut fresh_fields: Vec<String> =
        fresh.ok(201).as_object().unwrap().keys().cloned().collect();
    fresh_fields.sort();
    for (admin_org, other_org) in [(1, 2), (2, 1)] {
        let admin = api.admin_of(admin_org).await;
        let own = format!("user{}@example.com", u64::from(admin_org - 1) * per_org + 2);
        let theirs = format!("user{}@example.com", u64::from(other_org - 1) * per_org + 2);
        let reply = api
            .post("/api/v1/admin/users", &admin, &body(&theirs))
            .await;
        let created = reply.ok(201);
        let mut fields: Vec<String> = created.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(fields, fresh_fields, "{}", reply.text);
        assert_eq!(created["email"], theirs.as_str());
        assert_eq!(created["role"], "agent");
        let conflict = api.post("/api/v1/admin/users", &admin, &body(&own)).await;
        assert!(
            !conflict.problem(409)["detail"]
                .as_str()
                .unwrap()
                .contains("other"),
            "{}",
            conflict.text
        );
        // The owner's account: one row, in its organization, its password.
        let owner = api
            .send(
                Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": theirs, "password": "test123"})),
            )
            .await;
        let token = owner.ok(200)["access_token"].as_str().unwrap().to_owned();
        let me = api.get("/auth/me", &token).await;
        assert_eq!(me.ok(200)["organization_id"], org_id(other_org));
        assert_eq!(
            me.body["full_name"],
            format!("Demo User {}", theirs.trim_end_matches("@example.com"))
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
            .bind(&theirs)
            .fetch_one(api.admin_sql.primary())
            .await
            .unwrap();
        assert_eq!(rows, 1, "{theirs}");
    }
}

/// A user of organization 1 that no earlier run had (a fresh id: seeded ids
/// are the same in every run, and with `REDIS_URL` set the demo counts per
/// user id in the shared Redis), written directly, logged in: its token.
async fn fresh_agent(api: &Api) -> String {
    let id = operator_demo::db::new_id();
    let email = format!("fresh-{id}@example.com");
    api.admin_execute(
        "INSERT INTO users (id, organization_id, email, full_name, password_hash, role, \
         created_at) VALUES ($1, $2, $3, 'Fresh', $4, 'agent', 0)",
        &[&id, &org_id(1), &email, super::CHEAP_TEST123],
    )
    .await;
    api.admin_execute(
        "INSERT INTO user_logins (email, user_id, organization_id) VALUES ($1, $2, $3)",
        &[&email, &id, &org_id(1)],
    )
    .await;
    let login = api
        .send(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": email, "password": "test123"})),
        )
        .await;
    login.ok(200)["access_token"].as_str().unwrap().to_owned()
}

/// The plan's `GET /campaigns` counts in the per-user API limit (demo
/// started with `RATE_LIMIT_API=3/minute`), together with `/api`.
pub async fn legacy_campaigns_are_rate_limited(api: &Api) {
    let agent = fresh_agent(api).await;
    api.get("/api/v1/campaigns", &agent).await.ok(200);
    api.get("/campaigns", &agent).await.ok(200);
    api.get("/campaigns", &agent).await.ok(200);
    let limited = api.get("/campaigns", &agent).await;
    assert_eq!(limited.problem(429)["policy"], "api", "{}", limited.text);
    assert!(limited.headers.contains_key("retry-after"));
    // Another user keeps their own count.
    api.get("/campaigns", &fresh_agent(api).await).await.ok(200);
}
