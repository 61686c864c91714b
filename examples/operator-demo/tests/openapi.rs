//! The OpenAPI document states the constraints the handlers apply, so that a
//! client generated from it sends requests the API accepts: every value a
//! schema admits passes the handler's validation, except a blank text (only
//! whitespace), which the schemas do not exclude: a pattern that says both
//! "no control character" and "not blank" is too slow for schemathesis to
//! generate from (its health check fails).

use operator_demo::api::{ApiDoc, calls::DISPOSITIONS, validate};
use proptest::prelude::*;
use serde_json::Value;
use utoipa::OpenApi;

fn schema(name: &str) -> &'static Value {
    static DOC: std::sync::LazyLock<Value> =
        std::sync::LazyLock::new(|| serde_json::to_value(ApiDoc::openapi()).unwrap());
    &DOC["components"]["schemas"][name]
}

/// The field's `pattern` with its length bounds, compiled once.
fn field(schema_name: &'static str, field_name: &'static str) -> &'static Field {
    type Fields =
        std::sync::Mutex<std::collections::HashMap<(&'static str, &'static str), &'static Field>>;
    static FIELDS: std::sync::LazyLock<Fields> = std::sync::LazyLock::new(Fields::default);
    FIELDS
        .lock()
        .unwrap()
        .entry((schema_name, field_name))
        .or_insert_with(|| Box::leak(Box::new(compile(schema_name, field_name))))
}

type Field = (regex::Regex, usize, usize);

fn compile(schema_name: &str, field: &str) -> Field {
    let property = &schema(schema_name)["properties"][field];
    let pattern = property["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{schema_name}.{field} has no pattern: {property}"));
    let bound = |key: &str, default: usize| {
        property[key]
            .as_u64()
            .map_or(default, |n| usize::try_from(n).unwrap())
    };
    (
        regex::Regex::new(pattern).unwrap(),
        bound("minLength", 0),
        bound("maxLength", usize::MAX),
    )
}

fn admitted(schema: &Field, value: &str) -> bool {
    let length = value.chars().count();
    schema.0.is_match(value) && (schema.1..=schema.2).contains(&length)
}

/// Strings near the edges: blanks, control characters, tabs and newlines,
/// non-ASCII letters, digits, `+` and `-`.
fn edgy() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[ \\t\\n\\r\\x00\\x07\\x7f\\u{85}\\u{a0}\\u{2028}aZé字0-9+\\-]{0,24}",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn text_fields_admit_only_what_validation_accepts(value in edgy()) {
        for (schema_name, field_name, max) in [
            ("CampaignInput", "name", 200),
            ("CampaignInput", "script", 20_000),
            ("UserInput", "full_name", 200),
        ] {
            let schema = field(schema_name, field_name);
            if admitted(schema, &value) && !value.trim().is_empty() {
                prop_assert!(validate::text(field_name, &value, 1, max).is_ok(), "{schema_name}.{field_name}: {value:?}");
            }
        }
        let notes = field("DispositionInput", "notes");
        if admitted(notes, &value) {
            prop_assert!(validate::text("notes", &value, 0, 5000).is_ok(), "notes: {value:?}");
        }
    }

    #[test]
    fn language_and_phone_patterns_are_the_validators(value in edgy()) {
        let language = field("CampaignInput", "language");
        prop_assert_eq!(admitted(language, &value), validate::language("language", &value).is_ok(), "{:?}", value);
        if cfg!(feature = "telephony") {
            let phone = field("SessionInput", "to");
            prop_assert_eq!(admitted(phone, &value), validate::phone("to", &value).is_ok(), "{:?}", value);
        }
    }
}

#[test]
fn the_patterns_refuse_what_validation_refuses() {
    let name = field("CampaignInput", "name");
    for bad in ["", "a\u{0}b", "a\u{7f}", "\r"] {
        assert!(!admitted(name, bad), "{bad:?}");
    }
    for good in ["Acme", " Acme ", "line\nbreak", "字"] {
        assert!(admitted(name, good), "{good:?}");
    }
    let language = field("CampaignInput", "language");
    assert!(admitted(language, "pt-BR") && !admitted(language, "english!"));
}

#[test]
fn disposition_and_custom_fields_state_their_bounds() {
    let input = schema("DispositionInput");
    let allowed: Vec<&str> = input["properties"]["disposition"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allowed, DISPOSITIONS);
    let custom = &input["properties"]["custom_fields"];
    assert_eq!(custom["maxProperties"], validate::MAX_CUSTOM_FIELDS);
    assert_eq!(custom["propertyNames"]["maxLength"], 64);
    assert_eq!(custom["propertyNames"]["minLength"], 1);
}

#[test]
fn every_operation_has_a_short_summary_without_its_route() {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let summary = operation["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty()
                    && summary.len() <= 60
                    && !summary.contains('`')
                    && !summary.contains('/'),
                "{method} {path}: summary {summary:?}"
            );
            count += 1;
        }
    }
    assert!(count >= 20, "{count} operations");
}

/// The call sessions' routes (each places a call) are served and documented
/// with the `telephony` feature only: without it they are 404 and absent
/// from the document, while the rest of the API is unchanged.
#[tokio::test]
async fn the_session_routes_come_with_the_telephony_feature() {
    use axum::{body::Body, http::Request};
    use operator_demo::app::{AppState, routes};
    use tower::ServiceExt;

    let with = cfg!(feature = "telephony");
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    for path in [
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/sessions/{id}/end",
    ] {
        assert_eq!(doc["paths"].get(path).is_some(), with, "{path}");
    }
    assert_eq!(
        doc["components"]["schemas"].get("SessionInput").is_some(),
        with
    );
    assert!(doc["paths"].get("/api/v1/companies").is_some());

    let dir = tempfile::tempdir().unwrap();
    let app = routes(AppState::new(dir.path()));
    let id = "0190a5b1-7c3e-7000-8000-000000000001";
    for (method, path) in [
        ("POST", "/api/v1/sessions".to_owned()),
        ("GET", "/api/v1/sessions".to_owned()),
        ("GET", format!("/api/v1/sessions/{id}")),
        ("POST", format!("/api/v1/sessions/{id}/end")),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let status = app.clone().oneshot(request).await.unwrap().status();
        assert_eq!(status == 404, !with, "{method} {path}: {status}");
    }
    let request = Request::get("/api/v1/companies")
        .body(Body::empty())
        .unwrap();
    let status = app.oneshot(request).await.unwrap().status();
    assert_ne!(status, 404);
}
