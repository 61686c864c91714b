//! docs/dashboards/rampart.json is a Grafana dashboard whose every query
//! names series this crate (and its collectors) export, and parses as
//! PromQL (`promtool check rules` on the queries as recording rules).

mod common;

use std::{collections::BTreeSet, process::Command};

use common::{full_registry, promtool};
use rampart_metrics::{Format, StatusLabels};
use serde_json::Value;

/// Series the dashboard shows that no crate of this workspace exports yet.
const RESERVED: [&str; 0] = [];

/// Series of the reference app (operator-demo) that its panels show beside
/// ours; the demo's own tests read them from the running demo
/// (tests/tests/demo_metrics.rs, demo_db_outage.rs, demo_replica), and the
/// backup series come with the backup work. A query may name these instead
/// of ours, but nothing else: a typo still fails.
const APP_SERIES: [&str; 9] = [
    "call_duration_seconds_bucket",
    "call_duration_seconds_count",
    "campaign_executions_total",
    "provider_failures_total",
    "db_primary_up",
    "db_replica_up",
    "db_replica_fallback_total",
    "backup_last_success_timestamp_seconds",
    "backup_size_bytes",
];

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/dashboards/rampart.json"
    );
    let text = std::fs::read_to_string(path).expect("the dashboard is in docs/dashboards");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every `(panel title, expr)` of the dashboard.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        for target in panel["targets"].as_array().expect("a panel has targets") {
            let expr = target["expr"].as_str().expect("a target has an expr");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr.to_owned()));
        }
    }
    out
}

/// The metric names in a PromQL expression: identifiers that start like
/// ours or are the app's, outside label matchers and strings.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let (mut in_braces, mut in_string) = (false, false);
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if in_string {
            in_string = c != '"';
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if !in_braces
            && (word.starts_with("http_")
                || word.starts_with("rampart_")
                || APP_SERIES.contains(&word.as_str()))
        {
            names.push(std::mem::take(&mut word));
        }
        word.clear();
        match c {
            '"' => in_string = true,
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ => {}
        }
    }
    names
}

#[tokio::test]
async fn every_query_names_exported_series() {
    if !cfg!(all(
        feature = "ratelimit",
        feature = "ratelimit-breaker",
        feature = "cors",
        feature = "headers",
        feature = "cache"
    )) {
        println!(
            "skipped: the collectors' series need features ratelimit, ratelimit-breaker, cors, \
             headers and cache"
        );
        return;
    }
    let dashboard = dashboard();
    let registry = full_registry(StatusLabels::Code).await;
    let exported: BTreeSet<String> = registry
        .encode(Format::Text)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .chain(RESERVED.iter().chain(&APP_SERIES).map(|s| (*s).to_owned()))
        .collect();
    let queries = queries(&dashboard);
    assert!(queries.len() >= 10);
    for (title, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{title}: {expr} names no series");
        for name in names {
            assert!(
                exported.contains(&name),
                "{title}: {name} is not exported\n{exported:#?}"
            );
        }
        let depth = expr.chars().try_fold(0i32, |depth, c| {
            let depth = depth + i32::from(c == '(') - i32::from(c == ')');
            (depth >= 0).then_some(depth)
        });
        assert_eq!(depth, Some(0), "{title}: unbalanced parentheses in {expr}");
    }
    let all: String = queries.iter().map(|(_, e)| e.as_str()).collect();
    for needed in [
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "http_requests_in_flight",
        "rampart_ratelimit_decisions_total",
        "rampart_ratelimit_breaker_open",
        "rampart_ratelimit_breaker_trips_total",
        "rampart_cache_requests_total",
        "rampart_cache_evictions_total",
        r#"status=~"5..""#,
    ] {
        assert!(all.contains(needed), "no panel shows {needed}");
    }
}

#[test]
fn it_is_an_importable_grafana_dashboard() {
    let dashboard = dashboard();
    let inputs = dashboard["__inputs"].as_array().unwrap();
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus")
    );
    assert!(dashboard["title"].is_string());
    assert!(dashboard["uid"].is_string());
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 30);
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate id {}",
            panel["id"]
        );
        for key in ["h", "w", "x", "y"] {
            assert!(
                panel["gridPos"][key].is_u64(),
                "{}: gridPos.{key}",
                panel["title"]
            );
        }
        let width =
            panel["gridPos"]["x"].as_u64().unwrap() + panel["gridPos"]["w"].as_u64().unwrap();
        assert!(width <= 24, "{} overflows the grid", panel["title"]);
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${DS_PROMETHEUS}");
        }
    }
}

#[test]
fn queries_parse_as_promql() {
    let Some(promtool) = promtool() else { return };
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries(&dashboard()).iter().enumerate() {
        // Grafana's variables, as Grafana would fill them in.
        let expr = expr.replace("$__rate_interval", "1m").replace("$job", ".*");
        // A JSON string is a YAML double-quoted scalar.
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = std::env::temp_dir().join(format!("rampart-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let output = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}{}\n{rules}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
