//! From the store's verdicts to what the client sees: pass with headers, 429
//! or 503.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use rampart_core::{Problem, ResponseBody};

use crate::{RateLimitHeaders, layer::Shared};
use smallvec::SmallVec;

use crate::{Fallback, Mode, Outcome, Policy, RateLimitCounter, RateLimitStoreError, Verdict};

/// The `type` of the problem body of a 429.
pub const PROBLEM_TYPE_LIMITED: &str =
    "https://docs.rs/rampart-ratelimit/latest/rampart_ratelimit/#rejections";

static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whole seconds, rounded up: a client that waits this long will not be
/// early (tower_governor sends `Retry-After: 0` for sub-second waits).
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Headers to add to a response: the two IETF fields by value (their names
/// are known), the legacy ones in a `Vec` that stays empty (unallocated)
/// unless they are on. Small, because it travels in the response future.
#[derive(Debug, Default)]
pub(crate) struct HeaderSet {
    policy: Option<HeaderValue>,
    limit: Option<HeaderValue>,
    legacy: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.policy.is_none() && self.limit.is_none() && self.legacy.is_empty()
    }

    /// Adds this layer's fields beside those an inner rate limit set: the
    /// IETF fields are lists, so each layer's items are appended (a login
    /// 429 inside a global limit names both policies, not only the outer
    /// one); the legacy `X-RateLimit-*` hold one value, and the inner,
    /// more specific layer's stays.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some(value) = self.policy {
            headers.append(RATELIMIT_POLICY.clone(), value);
        }
        if let Some(value) = self.limit {
            headers.append(RATELIMIT.clone(), value);
        }
        for (name, value) in self.legacy {
            headers.entry(name).or_insert(value);
        }
    }
}

pub(crate) enum Decision<B> {
    Pass(HeaderSet),
    Reject(Response<ResponseBody<B>>),
}

fn value(text: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()
}

/// A header value written on the stack: an item of the `RateLimit` field
/// for each policy (a name is at most 64 bytes, so one item is at most
/// 112 bytes; two fit inline). Hand-written because `SmallVec`'s generic
/// `extend_from_slice` cost more than the copies themselves on every
/// admitted response.
struct FieldWriter {
    inline: [u8; 256],
    len: usize,
    /// Used once the items no longer fit inline (many policies).
    spilled: Vec<u8>,
}

impl FieldWriter {
    fn new() -> Self {
        Self {
            inline: [0; 256],
            len: 0,
            spilled: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.inline.get_mut(self.len..end) {
            Some(room) if self.spilled.is_empty() => {
                room.copy_from_slice(bytes);
                self.len = end;
            }
            _ => {
                if self.spilled.is_empty() {
                    self.spilled.extend_from_slice(&self.inline[..self.len]);
                }
                self.spilled.extend_from_slice(bytes);
            }
        }
    }

    /// Appends `n` in decimal (itoa: no `fmt` machinery on every response).
    #[inline]
    fn push_number(&mut self, n: u64) {
        self.push(itoa::Buffer::new().format(n).as_bytes());
    }

    fn as_bytes(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Whether a verdict says something a client can use (a blind "allow" from a
/// fallback does not).
fn reportable(shared: &Shared, policy: usize, verdict: &Verdict) -> bool {
    let policy = &shared.policies[policy].policy;
    policy.mode == Mode::Enforce
        && !(verdict.fallback && matches!(policy.fallback, Fallback::Allow))
        && verdict.outcome != Outcome::Unavailable
}

fn fields(shared: &Shared, items: &[(usize, &Verdict)], limited: bool, set: &mut HeaderSet) {
    if shared.headers == RateLimitHeaders::Never || items.is_empty() {
        return;
    }
    if shared.headers == RateLimitHeaders::OnRejection && !limited {
        return;
    }
    let mut policy_field = String::new();
    let mut field = FieldWriter::new();
    for (i, (index, verdict)) in items.iter().enumerate() {
        let compiled = &shared.policies[*index];
        if i > 0 {
            policy_field.push_str(", ");
            field.push(b", ");
        }
        if items.len() > 1 {
            policy_field.push_str(&compiled.item);
        }
        let t = if verdict.outcome == Outcome::Limited {
            ceil_secs(verdict.retry_after).max(1)
        } else {
            ceil_secs(verdict.reset)
        };
        field.push(&compiled.field_prefix);
        field.push_number(verdict.remaining);
        field.push(b";t=");
        field.push_number(t);
    }
    let policy_value = match items {
        [(index, _)] => shared.policies[*index].item_value.clone(),
        _ => value(policy_field),
    };
    if let (Some(p), Ok(f)) = (policy_value, HeaderValue::from_bytes(field.as_bytes())) {
        set.policy = Some(p);
        set.limit = Some(f);
    }
}

fn legacy(shared: &Shared, tightest: Option<(usize, &Verdict)>, set: &mut HeaderSet) {
    let Some((index, verdict)) = tightest.filter(|_| shared.legacy) else {
        return;
    };
    let quota = shared.policies[index].policy.quota;
    let reset = if verdict.outcome == Outcome::Limited {
        ceil_secs(verdict.retry_after).max(1)
    } else {
        ceil_secs(verdict.reset)
    };
    set.legacy
        .push((X_LIMIT.clone(), HeaderValue::from(quota.count())));
    set.legacy
        .push((X_REMAINING.clone(), HeaderValue::from(verdict.remaining)));
    set.legacy.push((X_RESET.clone(), HeaderValue::from(reset)));
}

/// For one policy that admitted and charged a request (no fallback): when
/// nothing is to be reported on an admitted response, counts it as
/// [`decide`] would and returns `true` (the caller passes the request on
/// with no headers to add, and needs no verdict).
#[inline]
pub(crate) fn admitted_quietly(shared: &Shared, index: usize) -> bool {
    if shared.headers == RateLimitHeaders::Always || shared.legacy {
        return false;
    }
    shared.stats.at(index).add(RateLimitCounter::Admitted);
    true
}

/// For one policy that admitted and charged a request (no fallback), when
/// something may be reported: counts it and returns the headers to add,
/// as [`decide`] would for this one verdict, without its general walk.
pub(crate) fn admitted_one(shared: &Shared, index: usize, verdict: &Verdict) -> HeaderSet {
    shared.stats.at(index).add(RateLimitCounter::Admitted);
    let mut set = HeaderSet::default();
    if reportable(shared, index, verdict) {
        fields(shared, &[(index, verdict)], false, &mut set);
        legacy(shared, Some((index, verdict)), &mut set);
    }
    set
}

/// Turns the verdicts for the policies `applied` into a decision, counting
/// each policy's outcome.
pub(crate) fn decide<B>(
    shared: &Shared,
    applied: &[usize],
    result: Result<&[Verdict], &RateLimitStoreError>,
) -> Decision<B> {
    let verdicts = match result {
        Ok(verdicts) if verdicts.len() == applied.len() => verdicts,
        Ok(verdicts) => {
            let error = RateLimitStoreError::Protocol(format!(
                "{} verdicts for {} policies",
                verdicts.len(),
                applied.len()
            ));
            return unavailable(shared, applied, &error);
        }
        Err(error) => return unavailable(shared, applied, error),
    };
    let stats = &shared.stats;
    let mut worst: Option<(usize, &Verdict)> = None;
    let mut unavailable_policy = None;
    for (&index, verdict) in applied.iter().zip(verdicts) {
        let counters = stats.at(index);
        if verdict.fallback {
            counters.add(RateLimitCounter::Fallback);
        }
        let enforce = shared.policies[index].policy.mode == Mode::Enforce;
        match (verdict.outcome, enforce) {
            (Outcome::Unavailable, true) => unavailable_policy = Some(index),
            (Outcome::Limited, true) => {
                counters.add(RateLimitCounter::Limited);
                if worst.is_none_or(|(_, w)| verdict.retry_after > w.retry_after) {
                    worst = Some((index, verdict));
                }
            }
            (Outcome::Limited, false) => {
                counters.add(RateLimitCounter::ShadowLimited);
                tracing::debug!(
                    target: "rampart_ratelimit",
                    policy = %shared.policies[index].policy.name,
                    "shadow policy would have limited this request"
                );
            }
            _ => {}
        }
    }
    if let Some(index) = unavailable_policy {
        stats.at(index).add(RateLimitCounter::Unavailable);
        return Decision::Reject(fails_closed(&shared.policies[index].policy));
    }
    if let Some((index, verdict)) = worst {
        let policy = &shared.policies[index].policy;
        let mut set = HeaderSet::default();
        fields(shared, &[(index, verdict)], true, &mut set);
        legacy(shared, Some((index, verdict)), &mut set);
        let mut response = too_many_requests(policy, verdict);
        set.apply(response.headers_mut());
        return Decision::Reject(response);
    }
    let report = shared.headers == RateLimitHeaders::Always || shared.legacy;
    let mut items: SmallVec<[(usize, &Verdict); 2]> = SmallVec::new();
    for (&index, verdict) in applied.iter().zip(verdicts) {
        let counters = stats.at(index);
        // Enforcing policies all admitted here; a shadow one counts as
        // admitted only if it would have.
        if shared.policies[index].policy.mode == Mode::Enforce
            || verdict.outcome == Outcome::Admitted
        {
            counters.add(RateLimitCounter::Admitted);
        }
        if report && reportable(shared, index, verdict) {
            items.push((index, verdict));
        }
    }
    let mut set = HeaderSet::default();
    if items.is_empty() {
        return Decision::Pass(set);
    }
    fields(shared, &items, false, &mut set);
    let tightest = items.iter().copied().min_by_key(|(_, v)| v.remaining);
    legacy(shared, tightest, &mut set);
    Decision::Pass(set)
}

/// The 429 of a request that `policy` limited, without the `RateLimit`
/// fields: status, `Retry-After` and the problem body.
fn too_many_requests<B>(policy: &Policy, verdict: &Verdict) -> Response<ResponseBody<B>> {
    let retry = ceil_secs(verdict.retry_after).max(1);
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_type(PROBLEM_TYPE_LIMITED)
        .with_detail(format!(
            "policy \"{}\" allows {}; retry in {retry} s",
            policy.name, policy.quota
        ))
        .with_extension("policy", policy.name.to_string())
        .with_extension("retry_after", retry)
        .into_rejection();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    response
}

/// The 503 of a request whose policy fails closed while its store is away.
fn fails_closed<B>(policy: &Policy) -> Response<ResponseBody<B>> {
    let name = &policy.name;
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(format!(
            "the rate limit store is unavailable and policy \"{name}\" fails closed"
        ))
        .with_extension("policy", name.to_string())
        .into_rejection();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The response a [`RateLimitLayer`](crate::RateLimitLayer) with its default
/// headers sends when `policy` alone decided a request with `verdict`: a 429
/// (`Retry-After`, `RateLimit-Policy`, `RateLimit`, problem+json naming the
/// policy) for [`Outcome::Limited`], a 503 for [`Outcome::Unavailable`], and
/// `None` for an admitted request.
///
/// For code that asks a [`Store`](crate::Store) itself, where no layer can
/// (a login handler limiting by the email in its body), so that its
/// rejections look exactly like the layer's.
///
/// # Example
///
/// ```
/// use rampart_ratelimit::{Demand, Key, MemoryStore, Policy, Store, rejection};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let policy = Policy::parse("login", "1/minute").unwrap();
/// let store = MemoryStore::new();
/// let demand = [Demand::new("login", policy.quota(), Key::text("ada@example.com"))];
///
/// let first = store.decide(&demand).await.unwrap();
/// assert!(rejection::<()>(&policy, &first[0]).is_none());
///
/// let second = store.decide(&demand).await.unwrap();
/// let response = rejection::<()>(&policy, &second[0]).unwrap();
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["retry-after"], "60");
/// assert_eq!(response.headers()["ratelimit-policy"], "\"login\";q=1;w=60");
/// assert_eq!(response.headers()["ratelimit"], "\"login\";r=0;t=60");
/// # });
/// ```
pub fn rejection<B>(policy: &Policy, verdict: &Verdict) -> Option<Response<ResponseBody<B>>> {
    match verdict.outcome {
        Outcome::Admitted => None,
        Outcome::Unavailable => Some(fails_closed(policy)),
        Outcome::Limited => {
            let mut response = too_many_requests(policy, verdict);
            let item = format!(
                "\"{}\";q={};w={}",
                policy.name,
                policy.quota.count(),
                policy.quota.period().as_secs()
            );
            let field = format!(
                "\"{}\";r={};t={}",
                policy.name,
                verdict.remaining,
                ceil_secs(verdict.retry_after).max(1)
            );
            let headers = response.headers_mut();
            if let (Some(item), Some(field)) = (value(item), value(field)) {
                headers.insert(RATELIMIT_POLICY.clone(), item);
                headers.insert(RATELIMIT.clone(), field);
            }
            Some(response)
        }
    }
}

fn unavailable<B>(shared: &Shared, applied: &[usize], error: &RateLimitStoreError) -> Decision<B> {
    tracing::error!(
        target: "rampart_ratelimit",
        %error,
        "rate limit store failed and has no fallback: answering 503"
    );
    for &index in applied {
        shared.stats.at(index).add(RateLimitCounter::Unavailable);
    }
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail("the rate limit store is unavailable")
        .into_rejection();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Decision::Reject(response)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use rampart_core::{ClientIp, ClientIpSource};
    use tower::{ServiceExt, service_fn};
    use tower_layer::Layer;

    use super::*;
    use crate::{Demand, Key, MemoryStore, RateLimitLayer, Store};

    async fn parts_and_body<B>(
        response: Response<ResponseBody<B>>,
    ) -> (http::response::Parts, bytes::Bytes)
    where
        B: http_body::Body<Data = bytes::Bytes>,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        (parts, body.collect().await.unwrap().to_bytes())
    }

    #[tokio::test]
    async fn rejection_is_the_layers_429() {
        let policy = || Policy::parse("login", "1/minute").unwrap();
        let layer = RateLimitLayer::builder(MemoryStore::new())
            .policy(policy())
            .build()
            .unwrap();
        let service = layer.layer(service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
        }));
        let request = || {
            let mut request = http::Request::new(());
            request.extensions_mut().insert(ClientIp::new(
                "192.0.2.1".parse().unwrap(),
                ClientIpSource::Peer,
            ));
            request
        };
        service.clone().oneshot(request()).await.unwrap();
        let from_layer = service.oneshot(request()).await.unwrap();

        let store = MemoryStore::new();
        let demand = [Demand::new(
            "login",
            policy().quota(),
            Key::ip("192.0.2.1".parse().unwrap()),
        )];
        store.decide(&demand).await.unwrap();
        let verdict = store.decide(&demand).await.unwrap()[0];
        let from_helper =
            rejection::<http_body_util::Empty<bytes::Bytes>>(&policy(), &verdict).unwrap();

        let (layer_parts, layer_body) = parts_and_body(from_layer).await;
        let (helper_parts, helper_body) = parts_and_body(from_helper).await;
        assert_eq!(layer_parts.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(helper_parts.status, layer_parts.status);
        assert_eq!(helper_parts.headers, layer_parts.headers);
        assert_eq!(helper_body, layer_body);
    }

    #[test]
    fn rejection_of_admitted_and_unavailable() {
        let policy = Policy::parse("login", "1/minute").unwrap();
        let admitted = Verdict {
            outcome: Outcome::Admitted,
            remaining: 0,
            reset: Duration::from_secs(60),
            retry_after: Duration::ZERO,
            granted: 1,
            fallback: false,
        };
        assert!(rejection::<()>(&policy, &admitted).is_none());
        let unavailable = rejection::<()>(&policy, &Verdict::unavailable()).unwrap();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "1");
        // A sub-second wait is still announced as one second, never zero.
        let limited = Verdict {
            outcome: Outcome::Limited,
            retry_after: Duration::from_millis(1),
            ..admitted
        };
        let response = rejection::<()>(&policy, &limited).unwrap();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()["ratelimit"], "\"login\";r=0;t=1");
    }

    #[test]
    fn seconds_round_up_and_never_hit_zero_by_accident() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(999)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    }
}
