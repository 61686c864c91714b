//! The demo's response cache (layer 11) through the real program on
//! Postgres and Redis: no answer crosses tenants or principals, writes are
//! read back on another replica sharing Redis, a Redis outage costs no 5xx,
//! and `Cache-Status` says hit and miss.

mod demo_api_common;

use demo_api_common::{API, Api, BIN, GLOBAL, PROXY, Reply, postgres};
use rampart_tests::{Demo, database_url, proxy::TcpProxy, redis_url};
use reqwest::Method;
use serde_json::{Value, json};

/// A seeded xorshift: the same sequence every run (the seed is printed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// `GET path` with `Cache-Control: no-cache`: the answer of the handler,
/// never of the cache.
async fn uncached(api: &Api, base: &str, path: &str, token: &str) -> Reply {
    let response = api
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("the demo answers");
    reply(response).await
}

async fn get(api: &Api, base: &str, path: &str, token: &str) -> Reply {
    let response = api
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the demo answers");
    reply(response).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Reply {
        status,
        content_type: String::new(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
        text,
    }
}

fn cache_status(reply: &Reply) -> String {
    reply
        .headers
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn campaign(name: &str) -> Value {
    json!({"name": name, "language": "en", "script": format!("Hello from {name}")})
}

/// Ids in a list answer.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cached_answer_crosses_tenants_or_principals() {
    let (Some(url), Some(_)) = (database_url(), redis_url()) else {
        return;
    };
    const ORGS: u32 = 3;
    const USERS: u32 = 3;
    let api = postgres(&url, "cache_isolation", &[], ORGS, USERS).await;
    let base = api.url("");
    // Every user of every organization, its tenant and its own id.
    let mut users = Vec::new();
    for org in 1..=ORGS {
        for user in 1..=USERS {
            let token = api.login(u64::from((org - 1) * USERS + user)).await;
            let me = uncached(&api, &base, "/auth/me", &token).await;
            let me = me.ok(200).clone();
            users.push((org, token, me["id"].as_str().unwrap().to_owned()));
        }
    }
    // A campaign and a company of each organization, named after it.
    let mut campaigns = Vec::new();
    for org in 1..=ORGS {
        let admin = &users[((org - 1) * USERS) as usize].1;
        let created = api
            .post("/api/v1/campaigns", admin, &campaign(&format!("org{org}")))
            .await;
        campaigns.push((org, created.ok(201)["id"].as_str().unwrap().to_owned()));
        api.post(
            "/api/v1/companies",
            admin,
            &json!({"name": format!("company of org{org}")}),
        )
        .await
        .ok(201);
    }

    let seed = 0x5eed_cace_u64;
    println!("seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut compared = 0;
    for step in 0..400 {
        let (org, token, user_id) = &users[rng.below(users.len())];
        let (owner, id) = &campaigns[rng.below(campaigns.len())];
        let campaign_path = format!("/api/v1/campaigns/{id}");
        let paths = [
            "/api/v1/campaigns",
            "/campaigns",
            "/api/v1/companies",
            "/auth/me",
            "/api/v1/admin/organization",
            campaign_path.as_str(),
        ];
        let path = paths[rng.below(paths.len())];
        // Now and then a write, by this user's organization's admin.
        if rng.below(10) == 0 {
            let admin = &users[((org - 1) * USERS) as usize].1;
            api.post(
                "/api/v1/companies",
                admin,
                &json!({"name": format!("company {step} of org{org}")}),
            )
            .await
            .ok(201);
        }
        let cached = get(&api, &base, path, token).await;
        let direct = uncached(&api, &base, path, token).await;
        assert_eq!(
            (cached.status, &cached.body),
            (direct.status, &direct.body),
            "step {step}: org{org} user {user_id} GET {path}, cache-status {:?}",
            cache_status(&cached)
        );
        // And what the answer says is the caller's own.
        match path {
            "/auth/me" => assert_eq!(cached.body["id"], user_id.as_str()),
            p if p == campaign_path => {
                let expected = if owner == org { 200 } else { 404 };
                assert_eq!(cached.status, expected, "step {step}");
            }
            "/api/v1/campaigns" | "/campaigns" => {
                let own = &campaigns[(*org - 1) as usize].1;
                assert!(ids(&cached.body).contains(own), "step {step}");
                for (other, id) in &campaigns {
                    assert!(other == org || !ids(&cached.body).contains(id));
                }
            }
            _ => {}
        }
        compared += 1;
    }
    assert_eq!(compared, 400);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_read_back_on_another_replica() {
    let (Some(url), Some(_)) = (database_url(), redis_url()) else {
        return;
    };
    let prefix = format!("test:{}:ryw:", std::process::id());
    let shared = [("CACHE_PREFIX", prefix.as_str())];
    let api = postgres(&url, "cache_ryw", &shared, 1, 2).await;
    let key = api.demo.data_dir().join("jwt-ed25519.pem");
    let key = key.to_str().unwrap().to_owned();
    let app_url = api.postgres.as_ref().unwrap().app_url.clone();
    let other = Demo::start(
        BIN,
        &[
            GLOBAL,
            API,
            PROXY,
            ("DATABASE_URL", &app_url),
            ("JWT_PRIVATE_KEY_FILE", &key),
            ("CACHE_PREFIX", &prefix),
        ],
    )
    .await;
    let bases = [api.url(""), other.url("")];
    let admin = api.admin_of(1).await;
    let created = api.post("/api/v1/campaigns", &admin, &campaign("v0")).await;
    let id = created.ok(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/campaigns/{id}");
    for base in &bases {
        assert_eq!(get(&api, base, &path, &admin).await.ok(200)["name"], "v0");
    }

    for i in 1..=1000 {
        let (writer, reader) = if i % 2 == 0 {
            (&bases[0], &bases[1])
        } else {
            (&bases[1], &bases[0])
        };
        // The reader holds a copy (a hit from now on) when the writer writes.
        let before = get(&api, reader, &path, &admin).await;
        assert_eq!(
            before.ok(200)["name"],
            format!("v{}", i - 1).as_str(),
            "pair {i}"
        );
        let name = format!("v{i}");
        let put = api
            .client
            .put(format!("{writer}{path}"))
            .bearer_auth(&admin)
            .json(&campaign(&name))
            .send()
            .await
            .expect("the demo answers");
        assert_eq!(put.status(), 200, "write {i}");
        let read = get(&api, reader, &path, &admin).await;
        assert_eq!(
            read.ok(200)["name"],
            name.as_str(),
            "pair {i}: {:?}",
            cache_status(&read)
        );
        if i % 50 == 0 {
            let list = get(&api, reader, "/api/v1/campaigns", &admin).await;
            let items = list.ok(200)["items"].as_array().unwrap().clone();
            let mine = items.iter().find(|item| item["id"] == id.as_str());
            assert_eq!(
                mine.map(|item| &item["name"]),
                Some(&json!(name)),
                "list {i}"
            );
        }
    }
    drop(other);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cut_mid_run_costs_no_5xx() {
    let (Some(url), Some(redis)) = (database_url(), redis_url()) else {
        return;
    };
    let (proxy, through) = TcpProxy::in_front_of(&redis).await;
    let cache_url = format!("two-tier+{through}");
    let api = postgres(
        &url,
        "cache_outage",
        &[("CACHE_URL", cache_url.as_str())],
        1,
        2,
    )
    .await;
    let base = api.url("");
    let admin = api.admin_of(1).await;
    let id = api
        .post("/api/v1/campaigns", &admin, &campaign("before"))
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/campaigns/{id}");
    for i in 0..150 {
        match i {
            40 => proxy.cut().await,
            80 => proxy.stall().await,
            110 => proxy.pass().await,
            _ => {}
        }
        if i % 3 == 0 {
            let put = api
                .send(
                    Method::PUT,
                    &path,
                    Some(&admin),
                    Some(&campaign(&format!("n{i}"))),
                )
                .await;
            assert_eq!(put.status, 200, "write {i}: {}", put.text);
        }
        for read in [path.as_str(), "/api/v1/campaigns", "/auth/me"] {
            let cached = get(&api, &base, read, &admin).await;
            assert!(
                !cached.status.is_server_error(),
                "{i} {read}: {}",
                cached.text
            );
            let direct = uncached(&api, &base, read, &admin).await;
            assert_eq!(
                cached.body,
                direct.body,
                "{i} {read}: {:?}",
                cache_status(&cached)
            );
        }
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_status_hit_then_miss_after_a_write() {
    let (Some(url), Some(_)) = (database_url(), redis_url()) else {
        return;
    };
    let api = postgres(&url, "cache_status", &[], 1, 2).await;
    let base = api.url("");
    let admin = api.admin_of(1).await;
    let first = get(&api, &base, "/api/v1/companies", &admin).await;
    assert!(
        !cache_status(&first).contains("hit"),
        "{}",
        cache_status(&first)
    );
    let second = get(&api, &base, "/api/v1/companies", &admin).await;
    assert!(
        cache_status(&second).starts_with("rampart; hit"),
        "{}",
        cache_status(&second)
    );
    assert_eq!(first.body, second.body);
    api.post("/api/v1/companies", &admin, &json!({"name": "Fresh Co"}))
        .await
        .ok(201);
    let third = get(&api, &base, "/api/v1/companies", &admin).await;
    let status = cache_status(&third);
    assert!(
        status.contains("fwd=") && !status.contains("hit"),
        "{status}"
    );
    assert!(third.text.contains("Fresh Co"));
    let fourth = get(&api, &base, "/api/v1/companies", &admin).await;
    assert!(cache_status(&fourth).starts_with("rampart; hit"));
    api.stop().await;
}

fn settings(marketing: bool) -> Value {
    json!({
        "marketing_emails": marketing,
        "call_recording_consent": false,
        "data_processing_consent": true,
        "analytics": false,
    })
}

/// A user's preferences (the privacy settings) are cached per principal:
/// a read again is a hit, a write then a read gives the new settings, and
/// another user of the same organization never sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_are_cached_per_user_and_written_through() {
    let (Some(url), Some(_)) = (database_url(), redis_url()) else {
        return;
    };
    let api = postgres(&url, "cache_prefs", &[], 1, 2).await;
    let base = api.url("");
    let path = "/api/v1/gdpr/privacy-settings";
    let t = demo_api_common::gdpr::tag();
    let (_, alice) =
        demo_api_common::gdpr::new_user(&api, 1, &format!("alice-{t}@example.com"), "Alice").await;
    let (_, bob) =
        demo_api_common::gdpr::new_user(&api, 1, &format!("bob-{t}@example.com"), "Bob").await;
    for token in [&alice, &bob] {
        let put = api.client.put(format!("{base}{path}")).bearer_auth(token);
        let marketing = token == &alice;
        let put = put.json(&settings(marketing)).send().await.unwrap();
        assert_eq!(put.status(), 200);
    }
    let first = get(&api, &base, path, &alice).await;
    assert_eq!(first.ok(200)["marketing_emails"], true);
    let again = get(&api, &base, path, &alice).await;
    let status = cache_status(&again);
    assert!(status.starts_with("rampart; hit"), "{status}");
    assert_eq!(again.body, first.body);
    // Bob, same organization: his own answer, never Alice's copy.
    for _ in 0..2 {
        let his = get(&api, &base, path, &bob).await;
        assert_eq!(his.ok(200)["marketing_emails"], false);
    }
    // Alice writes, then reads: the new settings at once.
    let put = api
        .client
        .put(format!("{base}{path}"))
        .bearer_auth(&alice)
        .json(&settings(false))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let after = get(&api, &base, path, &alice).await;
    assert_eq!(
        after.ok(200)["marketing_emails"],
        false,
        "{}",
        cache_status(&after)
    );
    api.stop().await;
}

/// `gdpr purge` run from cron (the binary, another process) invalidates the
/// cached answers of those it erases through the shared Redis: the erased
/// user's `/auth/me`, cached before, no longer shows their email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_from_cron_drops_the_erased_users_cached_answers() {
    let (Some(url), Some(redis)) = (database_url(), redis_url()) else {
        return;
    };
    let prefix = format!("test:{}:purge:", std::process::id());
    let api = postgres(
        &url,
        "cache_purge",
        &[("CACHE_PREFIX", prefix.as_str())],
        1,
        2,
    )
    .await;
    let base = api.url("");
    let email = format!("erased-{}@example.com", demo_api_common::gdpr::tag());
    let (_, token, erase_after) = demo_api_common::gdpr::leaving_user(&api, 1, &email).await;
    let me = get(&api, &base, "/auth/me", &token).await;
    assert!(me.text.contains(&email), "{}", me.text);
    let again = get(&api, &base, "/auth/me", &token).await;
    let status = cache_status(&again);
    assert!(status.starts_with("rampart; hit"), "{status}");
    assert!(again.text.contains(&email));

    // The binary, as cron runs it, with the servers' Redis and prefix.
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("CACHE_PREFIX", prefix.as_str()),
    ];
    let erased = demo_api_common::gdpr::purge_with(&api, erase_after + 1, &env);
    assert_eq!(erased, 1);

    let after = get(&api, &base, "/auth/me", &token).await;
    assert!(
        !after.text.contains(&email),
        "{} {}: {}",
        after.status,
        cache_status(&after),
        after.text
    );
    assert!(!after.status.is_server_error());
    api.stop().await;
}

/// The telephony provider settings are cached per organization under the
/// 15-minute class: a read again is a hit (`ttl` at most 900 s), and
/// another organization's first read is its own miss, never that copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_settings_are_cached_per_tenant() {
    let (Some(url), Some(_)) = (database_url(), redis_url()) else {
        return;
    };
    let api = postgres(&url, "cache_providers", &[], 2, 2).await;
    let base = api.url("");
    let path = "/api/v1/telephony/providers";
    let first_org = api.admin_of(1).await;
    let second_org = api.admin_of(2).await;
    let first = get(&api, &base, path, &first_org).await;
    assert_eq!(first.ok(200)["providers"], json!(["simulated"]));
    assert!(
        !cache_status(&first).contains("hit"),
        "{}",
        cache_status(&first)
    );
    let again = get(&api, &base, path, &first_org).await;
    let status = cache_status(&again);
    let ttl: u64 = status
        .strip_prefix("rampart; hit; ttl=")
        .and_then(|ttl| ttl.parse().ok())
        .unwrap_or_else(|| panic!("{status}"));
    assert!((850..=900).contains(&ttl), "{status}");
    assert_eq!(again.body, first.body);
    let other = get(&api, &base, path, &second_org).await;
    assert!(
        !cache_status(&other).contains("hit"),
        "{}",
        cache_status(&other)
    );
    assert_eq!(other.ok(200)["from_number"], first.body["from_number"]);
    api.stop().await;
}
