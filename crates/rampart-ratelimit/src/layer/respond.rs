//! From the store's verdicts to what the client sees: pass with headers, 429
//! or 503.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use rampart_core::{Problem, ResponseBody};

use super::{HeaderMode, Shared};
use smallvec::SmallVec;

use crate::{Counter, Fallback, Mode, Outcome, StoreError, Verdict};

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

    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some(value) = self.policy {
            headers.insert(RATELIMIT_POLICY.clone(), value);
        }
        if let Some(value) = self.limit {
            headers.insert(RATELIMIT.clone(), value);
        }
        for (name, value) in self.legacy {
            headers.insert(name, value);
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

/// Appends `n` in decimal (itoa: no `fmt` machinery on every response).
fn push_number(out: &mut SmallVec<[u8; 128]>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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
    if shared.headers == HeaderMode::Never || items.is_empty() {
        return;
    }
    if shared.headers == HeaderMode::OnRejection && !limited {
        return;
    }
    let mut policy_field = String::new();
    // One policy's item fits inline (a name is at most 64 bytes): the
    // value is built on the stack and copied once into the header value.
    let mut field = SmallVec::<[u8; 128]>::new();
    for (i, (index, verdict)) in items.iter().enumerate() {
        let compiled = &shared.policies[*index];
        if i > 0 {
            policy_field.push_str(", ");
            field.extend_from_slice(b", ");
        }
        if items.len() > 1 {
            policy_field.push_str(&compiled.item);
        }
        let t = if verdict.outcome == Outcome::Limited {
            ceil_secs(verdict.retry_after).max(1)
        } else {
            ceil_secs(verdict.reset)
        };
        field.push(b'"');
        field.extend_from_slice(compiled.policy.name.as_bytes());
        field.extend_from_slice(b"\";r=");
        push_number(&mut field, verdict.remaining);
        field.extend_from_slice(b";t=");
        push_number(&mut field, t);
    }
    let policy_value = match items {
        [(index, _)] => shared.policies[*index].item_value.clone(),
        _ => value(policy_field),
    };
    if let (Some(p), Ok(f)) = (policy_value, HeaderValue::from_bytes(&field)) {
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
    if shared.headers == HeaderMode::Always || shared.legacy {
        return false;
    }
    shared.stats.at(index).add(Counter::Admitted);
    true
}

/// Turns the verdicts for the policies `applied` into a decision, counting
/// each policy's outcome.
pub(crate) fn decide<B>(
    shared: &Shared,
    applied: &[usize],
    result: Result<&[Verdict], &StoreError>,
) -> Decision<B> {
    let verdicts = match result {
        Ok(verdicts) if verdicts.len() == applied.len() => verdicts,
        Ok(verdicts) => {
            let error = StoreError::Protocol(format!(
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
            counters.add(Counter::Fallback);
        }
        let enforce = shared.policies[index].policy.mode == Mode::Enforce;
        match (verdict.outcome, enforce) {
            (Outcome::Unavailable, true) => unavailable_policy = Some(index),
            (Outcome::Limited, true) => {
                counters.add(Counter::Limited);
                if worst.is_none_or(|(_, w)| verdict.retry_after > w.retry_after) {
                    worst = Some((index, verdict));
                }
            }
            (Outcome::Limited, false) => {
                counters.add(Counter::ShadowLimited);
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
        stats.at(index).add(Counter::Unavailable);
        let name = &shared.policies[index].policy.name;
        let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "the rate limit store is unavailable and policy \"{name}\" fails closed"
            ))
            .with_extension("policy", name.to_string())
            .into_rejection();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Decision::Reject(response);
    }
    if let Some((index, verdict)) = worst {
        let policy = &shared.policies[index].policy;
        let retry = ceil_secs(verdict.retry_after).max(1);
        let mut set = HeaderSet::default();
        fields(shared, &[(index, verdict)], true, &mut set);
        legacy(shared, Some((index, verdict)), &mut set);
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
        set.apply(response.headers_mut());
        return Decision::Reject(response);
    }
    let report = shared.headers == HeaderMode::Always || shared.legacy;
    let mut items: SmallVec<[(usize, &Verdict); 2]> = SmallVec::new();
    for (&index, verdict) in applied.iter().zip(verdicts) {
        let counters = stats.at(index);
        // Enforcing policies all admitted here; a shadow one counts as
        // admitted only if it would have.
        if shared.policies[index].policy.mode == Mode::Enforce
            || verdict.outcome == Outcome::Admitted
        {
            counters.add(Counter::Admitted);
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

fn unavailable<B>(shared: &Shared, applied: &[usize], error: &StoreError) -> Decision<B> {
    tracing::error!(
        target: "rampart_ratelimit",
        %error,
        "rate limit store failed and has no fallback: answering 503"
    );
    for &index in applied {
        shared.stats.at(index).add(Counter::Unavailable);
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
    use super::*;

    #[test]
    fn seconds_round_up_and_never_hit_zero_by_accident() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(999)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    }
}
