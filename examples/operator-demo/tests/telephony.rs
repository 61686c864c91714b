//! The Twilio and Telnyx clients and the failover manager against loopback
//! servers that speak each provider's wire format and fail on demand.

#![cfg(feature = "telephony")]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use operator_demo::telephony::{
    BreakerConfig, BreakerState, CallRequest, CallStatus, DEFAULT_TWIML, Provider, ProviderError,
    TelephonyError, TelephonyManager, TelephonyMetrics, TelnyxProvider, TwilioProvider,
};
use prometheus_client::{encoding::text::encode, registry::Registry};
use serde_json::{Value, json};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";
const TELNYX_KEY: &str = "KEY0123456789";
const CONNECTION: &str = "1494404757140276705";
/// The client timeout: long enough for a loaded CI machine's loopback, far
/// shorter than the sleeping handler.
const TIMEOUT: Duration = Duration::from_millis(1500);
const SLEEP: Duration = Duration::from_secs(6);

/// How a mock answers its next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ok,
    ServerError,
    Throttled,
    Slow,
    Invalid,
    Garbage,
}

/// One request a mock received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

#[derive(Debug)]
struct Mock {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

impl Mock {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Records the request and answers per the mode; `Ok` is `None`, for the
    /// caller to answer in its provider's format.
    async fn record(
        &self,
        path: String,
        headers: &HeaderMap,
        body: Bytes,
        error: Value,
    ) -> Option<Response> {
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        self.received.lock().unwrap().push(Received {
            path,
            authorization: header("authorization"),
            content_type: header("content-type"),
            body,
        });
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Ok => None,
            Mode::ServerError => {
                Some((StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response())
            }
            Mode::Throttled => Some(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    Json(error),
                )
                    .into_response(),
            ),
            Mode::Slow => {
                tokio::time::sleep(SLEEP).await;
                None
            }
            Mode::Invalid => Some((StatusCode::BAD_REQUEST, Json(error)).into_response()),
            Mode::Garbage => Some((StatusCode::OK, "<html>maintenance</html>").into_response()),
        }
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn mock() -> Arc<Mock> {
    Arc::new(Mock {
        mode: Mutex::new(Mode::Ok),
        received: Mutex::new(Vec::new()),
    })
}

/// A server speaking Twilio's Calls API.
async fn twilio_server() -> (Arc<Mock>, String) {
    async fn create(
        State(mock): State<Arc<Mock>>,
        Path(sid): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let error = json!({
            "code": 21211,
            "message": "The 'To' number +1555 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        });
        let path = format!("/2010-04-01/Accounts/{sid}/Calls.json");
        if let Some(response) = mock.record(path, &headers, body, error).await {
            return response;
        }
        let n = mock.received().len();
        (
            StatusCode::CREATED,
            Json(json!({
                "sid": format!("CA{n:032x}"),
                "account_sid": sid,
                "status": "queued",
                "direction": "outbound-api",
                "duration": null,
            })),
        )
            .into_response()
    }
    async fn update(
        State(mock): State<Arc<Mock>>,
        Path((sid, call)): Path<(String, String)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let call = call.trim_end_matches(".json").to_owned();
        let path = format!("/2010-04-01/Accounts/{sid}/Calls/{call}.json");
        let error = json!({"code": 20404, "message": "not found", "status": 404});
        if let Some(response) = mock.record(path, &headers, body, error).await {
            return response;
        }
        Json(json!({"sid": call, "status": "completed"})).into_response()
    }
    let mock = mock();
    let router = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create))
        .route("/2010-04-01/Accounts/{sid}/Calls/{call}", post(update))
        .with_state(Arc::clone(&mock));
    (mock, format!("http://{}", serve(router).await))
}

/// A server speaking Telnyx's Call Control API.
async fn telnyx_server() -> (Arc<Mock>, String) {
    async fn dial(State(mock): State<Arc<Mock>>, headers: HeaderMap, body: Bytes) -> Response {
        let error = json!({"errors": [{
            "code": "10015",
            "title": "Bad Request",
            "detail": "The 'to' parameter must be a valid E.164 number"
        }]});
        if let Some(response) = mock.record("/v2/calls".into(), &headers, body, error).await {
            return response;
        }
        let n = mock.received().len();
        Json(json!({"data": {
            "call_control_id": format!("v3:telnyx-{n}"),
            "call_leg_id": "2dc6fc34-f9e0-11ea-b68e-02420a0f7768",
            "call_session_id": "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768",
            "is_alive": true,
            "record_type": "call"
        }}))
        .into_response()
    }
    async fn hangup(
        State(mock): State<Arc<Mock>>,
        Path(id): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = format!("/v2/calls/{id}/actions/hangup");
        let error = json!({"errors": [{"code": "90018", "title": "Call has already ended"}]});
        if let Some(response) = mock.record(path, &headers, body, error).await {
            return response;
        }
        Json(json!({"data": {"result": "ok"}})).into_response()
    }
    let mock = mock();
    let router = Router::new()
        .route("/v2/calls", post(dial))
        .route("/v2/calls/{id}/actions/hangup", post(hangup))
        .with_state(Arc::clone(&mock));
    (mock, format!("http://{}", serve(router).await))
}

fn twilio(base: &str) -> TwilioProvider {
    TwilioProvider::new(base, SID, TOKEN, TIMEOUT).unwrap()
}

fn telnyx(base: &str) -> TelnyxProvider {
    TelnyxProvider::new(base, TELNYX_KEY, CONNECTION, TIMEOUT).unwrap()
}

fn call() -> CallRequest {
    CallRequest::new(
        "+14155550100".parse().unwrap(),
        "+15005550006".parse().unwrap(),
    )
}

/// Both mocks, and a manager trying Twilio then Telnyx.
async fn setup(breaker: BreakerConfig) -> (Arc<Mock>, Arc<Mock>, TelephonyManager) {
    let (twilio_mock, twilio_base) = twilio_server().await;
    let (telnyx_mock, telnyx_base) = telnyx_server().await;
    let manager = TelephonyManager::builder()
        .provider(twilio(&twilio_base))
        .provider(telnyx(&telnyx_base))
        .breaker(breaker)
        .metrics(TelephonyMetrics::default())
        .build();
    (twilio_mock, telnyx_mock, manager)
}

fn patient() -> BreakerConfig {
    BreakerConfig {
        failures: 100,
        cooldown: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn twilio_gets_its_form_and_basic_auth() {
    let (mock, base) = twilio_server().await;
    let provider = twilio(&base);
    let started = provider.start_call(&call()).await.unwrap();
    assert_eq!(started.provider, "twilio");
    assert_eq!(started.call_id, format!("CA{:032x}", 1));
    assert_eq!(started.status, CallStatus::Queued);

    let received = mock.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Calls.json")
    );
    let expected = format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")));
    assert_eq!(request.authorization.as_deref(), Some(expected.as_str()));
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
    assert_eq!(
        form,
        [
            ("To".to_owned(), "+14155550100".to_owned()),
            ("From".to_owned(), "+15005550006".to_owned()),
            ("Twiml".to_owned(), DEFAULT_TWIML.to_owned()),
        ]
    );

    // With an answer URL, Url replaces Twiml.
    provider
        .start_call(&call().answer_url("https://demo.example.com/answer?x=1&y=2"))
        .await
        .unwrap();
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&mock.received()[1].body).unwrap();
    assert_eq!(
        form[2],
        (
            "Url".into(),
            "https://demo.example.com/answer?x=1&y=2".into()
        )
    );

    // Hanging up is an update to Status=completed.
    let status = provider.end_call(&started.call_id).await.unwrap();
    assert_eq!(status, CallStatus::Completed);
    let hangup = &mock.received()[2];
    assert_eq!(
        hangup.path,
        format!("/2010-04-01/Accounts/{SID}/Calls/{}.json", started.call_id)
    );
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&hangup.body).unwrap();
    assert_eq!(form, [("Status".to_owned(), "completed".to_owned())]);
}

#[tokio::test]
async fn twilio_errors_are_read_from_its_error_body() {
    let (mock, base) = twilio_server().await;
    let provider = twilio(&base);
    mock.set(Mode::Invalid);
    let error = provider.start_call(&call()).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Rejected {
            status: 400,
            code: Some("21211".into()),
            message: "The 'To' number +1555 is not a valid phone number.".into(),
        }
    );
    assert!(!error.fails_over());
    mock.set(Mode::Throttled);
    let error = provider.start_call(&call()).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{error:?}"
    );
    mock.set(Mode::ServerError);
    let error = provider.start_call(&call()).await.unwrap_err();
    assert!(
        matches!(error, ProviderError::Unavailable { status: 500, .. }),
        "{error:?}"
    );
    mock.set(Mode::Garbage);
    let error = provider.start_call(&call()).await.unwrap_err();
    assert!(matches!(error, ProviderError::Protocol(_)), "{error:?}");
    // Ids that are not Twilio's never reach the URL.
    for bad in ["", "../../Accounts", "CA 1", "CA1/..", "CA%2F"] {
        assert!(matches!(
            provider.end_call(bad).await,
            Err(ProviderError::Rejected { .. })
        ));
    }
    assert_eq!(mock.received().len(), 4);
}

#[tokio::test]
async fn telnyx_gets_its_json_and_bearer() {
    let (mock, base) = telnyx_server().await;
    let provider = telnyx(&base);
    let started = provider
        .start_call(&call().answer_url("https://demo.example.com/telnyx"))
        .await
        .unwrap();
    assert_eq!(started.provider, "telnyx");
    assert_eq!(started.call_id, "v3:telnyx-1");

    let request = &mock.received()[0];
    assert_eq!(request.path, "/v2/calls");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TELNYX_KEY}").as_str())
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "connection_id": CONNECTION,
            "to": "+14155550100",
            "from": "+15005550006",
            "webhook_url": "https://demo.example.com/telnyx"
        })
    );

    assert_eq!(
        provider.end_call(&started.call_id).await.unwrap(),
        CallStatus::Completed
    );
    assert_eq!(
        mock.received()[1].path,
        "/v2/calls/v3:telnyx-1/actions/hangup"
    );

    mock.set(Mode::Invalid);
    let error = provider.start_call(&call()).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Rejected {
            status: 400,
            code: Some("10015".into()),
            message: "Bad Request: The 'to' parameter must be a valid E.164 number".into(),
        }
    );
}

#[tokio::test]
async fn fails_over_to_telnyx_on_5xx_429_timeout_and_garbage() {
    for mode in [
        Mode::ServerError,
        Mode::Throttled,
        Mode::Slow,
        Mode::Garbage,
    ] {
        let (twilio_mock, telnyx_mock, manager) = setup(patient()).await;
        twilio_mock.set(mode);
        let started =
            tokio::time::timeout(Duration::from_secs(60), manager.start_call(None, &call()))
                .await
                .expect("the manager gives up on a slow provider")
                .unwrap_or_else(|err| panic!("{mode:?}: {err}"));
        assert_eq!(started.provider, "telnyx", "{mode:?}");
        assert_eq!(twilio_mock.received().len(), 1, "{mode:?}");
        assert_eq!(telnyx_mock.received().len(), 1, "{mode:?}");
        assert_eq!(manager.metrics().provider_failures("twilio"), 1, "{mode:?}");
        assert_eq!(manager.metrics().provider_failures("telnyx"), 0, "{mode:?}");
    }
}

#[tokio::test]
async fn a_validation_error_is_the_callers_and_does_not_fail_over() {
    let (twilio_mock, telnyx_mock, manager) = setup(patient()).await;
    twilio_mock.set(Mode::Invalid);
    let error = manager.start_call(None, &call()).await.unwrap_err();
    match &error {
        TelephonyError::Rejected { provider, error } => {
            assert_eq!(*provider, "twilio");
            assert!(
                matches!(error, ProviderError::Rejected { status: 400, code: Some(c), .. } if c == "21211")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(telnyx_mock.received().len(), 0, "no failover on a 400");
    assert_eq!(manager.metrics().provider_failures("twilio"), 0);
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Closed));
}

#[tokio::test]
async fn every_provider_failing_is_unavailable_with_each_reason() {
    let (twilio_mock, telnyx_mock, manager) = setup(patient()).await;
    twilio_mock.set(Mode::ServerError);
    telnyx_mock.set(Mode::Throttled);
    let error = manager.start_call(None, &call()).await.unwrap_err();
    let TelephonyError::Unavailable { attempts } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].0, "twilio");
    assert!(matches!(
        attempts[0].1,
        Some(ProviderError::Unavailable { status: 500, .. })
    ));
    assert_eq!(attempts[1].0, "telnyx");
    assert!(matches!(
        attempts[1].1,
        Some(ProviderError::RateLimited { .. })
    ));
    assert!(
        error
            .to_string()
            .contains("twilio: the provider failed with 500"),
        "{error}"
    );
}

#[tokio::test]
async fn the_preferred_provider_goes_first() {
    let (twilio_mock, telnyx_mock, manager) = setup(patient()).await;
    let started = manager.start_call(Some("telnyx"), &call()).await.unwrap();
    assert_eq!(started.provider, "telnyx");
    assert_eq!(
        (twilio_mock.received().len(), telnyx_mock.received().len()),
        (0, 1)
    );
    // Unknown names fall back to the configured order.
    let started = manager.start_call(Some("vonage"), &call()).await.unwrap();
    assert_eq!(started.provider, "twilio");
    // Ending goes to the provider that placed the call, never another.
    assert_eq!(
        manager.end_call("telnyx", "v3:telnyx-1").await.unwrap(),
        CallStatus::Completed
    );
    assert!(matches!(
        manager.end_call("vonage", "x").await,
        Err(TelephonyError::UnknownProvider(_))
    ));
}

#[tokio::test]
async fn breaker_opens_skips_the_provider_and_recovers_after_a_probe() {
    let cooldown = Duration::from_millis(1500);
    let (twilio_mock, telnyx_mock, manager) = setup(BreakerConfig {
        failures: 2,
        cooldown,
    })
    .await;
    twilio_mock.set(Mode::ServerError);
    for _ in 0..2 {
        assert_eq!(
            manager.start_call(None, &call()).await.unwrap().provider,
            "telnyx"
        );
    }
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Open));
    // Open: Twilio is not even asked.
    for _ in 0..3 {
        assert_eq!(
            manager.start_call(None, &call()).await.unwrap().provider,
            "telnyx"
        );
    }
    assert_eq!(twilio_mock.received().len(), 2);
    assert_eq!(manager.metrics().provider_failures("twilio"), 2);

    // After the cool-down one probe goes to Twilio; still failing, it opens again.
    tokio::time::sleep(cooldown + Duration::from_millis(300)).await;
    assert_eq!(
        manager.start_call(None, &call()).await.unwrap().provider,
        "telnyx"
    );
    assert_eq!(twilio_mock.received().len(), 3);
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Open));
    assert_eq!(
        manager.start_call(None, &call()).await.unwrap().provider,
        "telnyx"
    );
    assert_eq!(twilio_mock.received().len(), 3);

    // Twilio is back: the next probe closes the circuit.
    twilio_mock.set(Mode::Ok);
    tokio::time::sleep(cooldown + Duration::from_millis(300)).await;
    assert_eq!(
        manager.start_call(None, &call()).await.unwrap().provider,
        "twilio"
    );
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Closed));
    assert_eq!(
        manager.start_call(None, &call()).await.unwrap().provider,
        "twilio"
    );
    assert_eq!(telnyx_mock.received().len(), 7);
}

/// The half-open probe's call is cancelled (the client hung up while Twilio
/// was slow): no verdict. The breaker stays open, but the next call probes
/// Twilio at once, and closes it when Twilio answers. (Before, a dropped
/// probe counted as a failure and Twilio was skipped for another cool-down.)
#[tokio::test]
async fn a_cancelled_probe_lets_the_next_call_probe() {
    let cooldown = Duration::from_secs(2);
    let (twilio_mock, _telnyx_mock, manager) = setup(BreakerConfig {
        failures: 1,
        cooldown,
    })
    .await;
    twilio_mock.set(Mode::ServerError);
    let placed = manager.start_call(None, &call()).await.unwrap();
    assert_eq!(placed.provider, "telnyx");
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Open));

    tokio::time::sleep(cooldown + Duration::from_millis(200)).await;
    twilio_mock.set(Mode::Slow);
    let request = call();
    let probe = manager.start_call(None, &request);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), probe)
            .await
            .is_err(),
        "the probe was waiting for Twilio"
    );
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Open));

    twilio_mock.set(Mode::Ok);
    let placed = manager.start_call(None, &call()).await.unwrap();
    assert_eq!(placed.provider, "twilio", "the next call was the probe");
    assert_eq!(manager.breaker_state("twilio"), Some(BreakerState::Closed));
}

#[tokio::test]
async fn both_circuits_open_is_unavailable_without_any_request() {
    let (twilio_mock, telnyx_mock, manager) = setup(BreakerConfig {
        failures: 1,
        cooldown: Duration::from_secs(60),
    })
    .await;
    twilio_mock.set(Mode::ServerError);
    telnyx_mock.set(Mode::ServerError);
    assert!(manager.start_call(None, &call()).await.is_err());
    let error = manager.start_call(None, &call()).await.unwrap_err();
    assert_eq!(
        error,
        TelephonyError::Unavailable {
            attempts: vec![("twilio", None), ("telnyx", None)]
        }
    );
    assert_eq!(
        (twilio_mock.received().len(), telnyx_mock.received().len()),
        (1, 1)
    );
}

#[tokio::test]
async fn metrics_are_exposed_under_their_names() {
    let (twilio_mock, _telnyx_mock, manager) = setup(patient()).await;
    let mut registry = Registry::default();
    manager.metrics().register(&mut registry);
    twilio_mock.set(Mode::ServerError);
    for _ in 0..3 {
        manager.start_call(None, &call()).await.unwrap();
    }
    manager
        .metrics()
        .observe_call_duration(Duration::from_secs(42));
    manager.metrics().campaign_executed();
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("provider_failures_total{provider=\"twilio\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE call_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("call_duration_seconds_sum 42.0"), "{text}");
    assert!(
        text.contains("call_duration_seconds_bucket{le=\"60.0\"} 1"),
        "{text}"
    );
    assert!(text.contains("campaign_executions_total 1"), "{text}");
}

#[tokio::test]
async fn unreachable_provider_fails_over() {
    // A port nothing listens on: bind, note it, close.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (telnyx_mock, telnyx_base) = telnyx_server().await;
    let manager = TelephonyManager::builder()
        .provider(twilio(&format!("http://{dead}")))
        .provider(telnyx(&telnyx_base))
        .build();
    let started = manager.start_call(None, &call()).await.unwrap();
    assert_eq!(started.provider, "telnyx");
    assert_eq!(telnyx_mock.received().len(), 1);
    assert_eq!(manager.metrics().provider_failures("twilio"), 1);
}
