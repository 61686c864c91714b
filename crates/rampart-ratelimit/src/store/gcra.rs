//! GCRA arithmetic for the in-process stores, in nanoseconds. The Redis
//! script does the same in microseconds (`redis.lua`); both use the quota's
//! interval rounded up to the microsecond, so the two stores agree exactly.

use std::time::Duration;

use super::{Outcome, Verdict};
use crate::Quota;

/// The numbers of one demand, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    interval: u64,
    limit: u64,
    increment: u64,
    cost: u64,
}

impl Params {
    pub(crate) fn new(quota: Quota, cost: u32) -> Self {
        let interval = quota.interval_micros().saturating_mul(1000);
        Self {
            interval,
            limit: quota.limit_micros().saturating_mul(1000),
            increment: interval.saturating_mul(u64::from(cost)),
            cost: u64::from(cost),
        }
    }

    pub(crate) fn increment(&self) -> u64 {
        self.increment
    }
}

/// The result of applying one demand to a theoretical arrival time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The new TAT if admitted.
    pub(crate) new_tat: Option<u64>,
    /// The verdict if this step is charged (or the limit if not admitted).
    pub(crate) verdict: Verdict,
    /// The verdict if it is admissible but not charged.
    pub(crate) uncharged: Verdict,
}

/// The new TAT if the demand is admitted: the part of [`step`] that runs
/// inside the compare-and-swap (the verdict is computed once, after).
#[inline]
pub(crate) fn next_tat(tat: Option<u64>, now: u64, p: Params) -> Option<u64> {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(p.increment);
    (new_tat - now <= p.limit).then_some(new_tat)
}

/// GCRA: a demand is admitted when, after adding its cost, the theoretical
/// arrival time is at most `limit` ahead of now.
pub(crate) fn step(tat: Option<u64>, now: u64, p: Params) -> Step {
    let tat = tat.unwrap_or(now).max(now);
    let ahead = tat - now;
    let new_tat = tat.saturating_add(p.increment);
    let new_ahead = new_tat - now;
    let remaining_before = p.limit.saturating_sub(ahead) / p.interval.max(1);
    let uncharged = Verdict {
        outcome: Outcome::Admitted,
        remaining: remaining_before,
        reset: Duration::from_nanos(ahead),
        retry_after: Duration::ZERO,
        granted: 0,
        fallback: false,
    };
    if new_ahead <= p.limit {
        Step {
            new_tat: Some(new_tat),
            verdict: Verdict {
                remaining: (p.limit - new_ahead) / p.interval.max(1),
                reset: Duration::from_nanos(new_ahead),
                granted: p.cost,
                ..uncharged
            },
            uncharged,
        }
    } else {
        let limited = Verdict {
            outcome: Outcome::Limited,
            remaining: remaining_before,
            reset: Duration::from_nanos(ahead),
            retry_after: Duration::from_nanos(new_ahead - p.limit),
            granted: 0,
            fallback: false,
        };
        Step {
            new_tat: None,
            verdict: limited,
            uncharged: limited,
        }
    }
}

/// `step(tat, now, p).verdict` for a demand that was admitted and charged,
/// without working out the uncharged verdict too (one division fewer on
/// the path of every admitted request that reports its fields).
#[inline]
pub(crate) fn charged_verdict(tat: Option<u64>, now: u64, p: Params) -> Verdict {
    let tat = tat.unwrap_or(now).max(now);
    let new_ahead = tat.saturating_add(p.increment) - now;
    Verdict {
        outcome: Outcome::Admitted,
        remaining: p.limit.saturating_sub(new_ahead) / p.interval.max(1),
        reset: Duration::from_nanos(new_ahead),
        retry_after: Duration::ZERO,
        granted: p.cost,
        fallback: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charged_verdict_is_steps() {
        for (quota, cost) in [
            ("3/minute", 1),
            ("10/s", 4),
            ("1000000/s", 1),
            ("5/15minutes", 2),
        ] {
            let p = Params::new(quota.parse().unwrap(), cost);
            let mut tat = None;
            for now in [5, 5, 7, 1_000, 1_000, 2_000_000_000, 2_000_000_001] {
                let s = step(tat, now, p);
                if let Some(new_tat) = s.new_tat {
                    assert_eq!(charged_verdict(tat, now, p), s.verdict, "{quota} {now}");
                    tat = Some(new_tat);
                }
            }
        }
    }

    #[test]
    fn burst_then_one_per_interval() {
        let quota: Quota = "3/minute".parse().unwrap();
        let p = Params::new(quota, 1);
        let mut tat = None;
        for left in [2, 1, 0] {
            let s = step(tat, 1_000, p);
            assert_eq!(s.verdict.outcome, Outcome::Admitted);
            assert_eq!(s.verdict.remaining, left);
            tat = s.new_tat;
        }
        let s = step(tat, 1_000, p);
        assert_eq!(s.verdict.outcome, Outcome::Limited);
        assert_eq!(s.verdict.retry_after, Duration::from_secs(20));
        assert_eq!(s.verdict.reset, Duration::from_secs(60));
        let later = 1_000 + 20_000_000_000;
        assert_eq!(step(tat, later - 1, p).verdict.outcome, Outcome::Limited);
        assert_eq!(step(tat, later, p).verdict.outcome, Outcome::Admitted);
    }

    #[test]
    fn cost_above_remaining_reports_remaining() {
        let quota: Quota = "10/s".parse().unwrap();
        let p = Params::new(quota, 4);
        let s1 = step(None, 5, p);
        let s2 = step(s1.new_tat, 5, p);
        let s3 = step(s2.new_tat, 5, p);
        assert_eq!(s3.verdict.outcome, Outcome::Limited);
        assert_eq!(s3.verdict.remaining, 2);
        assert_eq!(s3.verdict.retry_after, Duration::from_millis(200));
    }
}
