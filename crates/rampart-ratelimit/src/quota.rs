//! How many requests a policy admits per period: `1000/hour`, `5/15minutes`,
//! `100/minute;burst=20`.

use std::{fmt, str::FromStr, time::Duration};

/// The most requests a quota may name per period.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// The longest period a quota may name (366 days).
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

/// The longest burst window a quota may have: `burst × interval`, the time
/// a full burst takes to come back, at most 2^53 µs (about 285 years). The
/// stores keep it in nanoseconds in a `u64` (memory) and in microseconds in
/// a Lua number, a double exact up to 2^53 (Redis): past that, the
/// arithmetic would overflow or round.
pub const MAX_BURST_WINDOW: Duration = Duration::from_micros(1 << 53);

/// A rate: `count` requests per `period`, of which `burst` may come at once.
///
/// Two quotas are equal when they admit the same: `5/900s` equals
/// `5/15minutes` and displays as the latter.
///
/// Parsed from the strings an operator types (`RATE_LIMIT_API=100/minute`):
///
/// | text | meaning |
/// |---|---|
/// | `1000/hour` | 1000 per hour, all 1000 may come at once |
/// | `5/15minutes`, `5/15 min`, `5/15m` | 5 per 15 minutes |
/// | `10/s`, `10/sec`, `10/second` | 10 per second |
/// | `100/minute;burst=20` | 100 per minute, at most 20 at once |
///
/// Units: `s`/`sec`/`second`, `m`/`min`/`minute`, `h`/`hr`/`hour`, `d`/`day`,
/// each with an optional plural `s`. The algorithm is GCRA: one request's
/// worth of quota comes back every `period / count` (rounded up to the
/// microsecond, so a quota never admits more than it says).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use rampart_ratelimit::Quota;
///
/// let quota: Quota = "5/15minutes".parse().unwrap();
/// assert_eq!(quota.count(), 5);
/// assert_eq!(quota.period(), Duration::from_secs(900));
/// assert_eq!(quota.burst(), 5);
/// assert_eq!(quota.to_string(), "5/15minutes");
///
/// assert!("0/minute".parse::<Quota>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u64,
    burst: u64,
    period_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let lower = text.to_ascii_lowercase();
        let singular = lower.strip_suffix('s').filter(|s| s.len() > 1);
        let base = match singular {
            Some(s) if Self::parse_exact(s).is_some() => s,
            _ => lower.as_str(),
        };
        Self::parse_exact(base)
    }

    fn parse_exact(text: &str) -> Option<Self> {
        Some(match text {
            "s" | "sec" | "second" => Self::Second,
            "m" | "min" | "minute" => Self::Minute,
            "h" | "hr" | "hour" => Self::Hour,
            "d" | "day" => Self::Day,
            _ => return None,
        })
    }
}

/// Why a quota string was refused. Each variant names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// The text was empty.
    #[error("empty quota: expected COUNT/PERIOD, such as `100/minute`")]
    Empty,
    /// No `/` between count and period.
    #[error("quota `{0}` has no `/`: expected COUNT/PERIOD, such as `100/minute`")]
    MissingSlash(String),
    /// The count is not a whole number.
    #[error("quota count `{0}` is not a whole number")]
    InvalidCount(String),
    /// The count is zero.
    #[error("quota count is 0: a policy that admits nothing is a block, not a rate limit")]
    ZeroCount,
    /// The count is above [`MAX_COUNT`].
    #[error("quota count {0} is above the maximum of {MAX_COUNT}")]
    CountTooLarge(String),
    /// The period's multiplier is not a whole number.
    #[error("quota period `{0}` does not start with a whole number")]
    InvalidPeriod(String),
    /// The period's unit is not one of s, m, h, d (or their long forms).
    #[error("quota period unit `{0}` is unknown: use second, minute, hour or day")]
    UnknownUnit(String),
    /// The period is zero.
    #[error("quota period is 0")]
    ZeroPeriod,
    /// The period is longer than [`MAX_PERIOD`] (or overflows).
    #[error("quota period `{0}` is longer than 366 days")]
    PeriodTooLong(String),
    /// More than one request per microsecond: finer than the stores keep time.
    #[error("quota `{0}` admits more than one request per microsecond")]
    TooFast(String),
    /// The part after `;` is not `burst=N`.
    #[error("quota option `{0}` is not understood: the only option is `burst=N`")]
    UnknownOption(String),
    /// The burst is not a whole number.
    #[error("quota burst `{0}` is not a whole number")]
    InvalidBurst(String),
    /// The burst is zero or above [`MAX_COUNT`].
    #[error("quota burst {0} must be between 1 and {MAX_COUNT}")]
    BurstOutOfRange(String),
    /// `burst × interval` is longer than [`MAX_BURST_WINDOW`]: a burst far
    /// above the count of a long period (`1/366d;burst=1000000000`).
    #[error(
        "quota burst {burst} at one request per {interval:?} spans more than the longest \
         burst window of {MAX_BURST_WINDOW:?} (about 285 years): lower the burst"
    )]
    BurstWindowTooLong {
        /// The burst asked for.
        burst: u64,
        /// The quota's emission interval ([`Quota::interval`]).
        interval: Duration,
    },
}

fn parse_count(text: &str) -> Result<u64, QuotaError> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuotaError::InvalidCount(text.to_owned()));
    }
    match text.parse::<u64>() {
        Ok(0) => Err(QuotaError::ZeroCount),
        Ok(n) if n <= MAX_COUNT => Ok(n),
        _ => Err(QuotaError::CountTooLarge(text.to_owned())),
    }
}

impl FromStr for Quota {
    type Err = QuotaError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err(QuotaError::Empty);
        }
        let (rate, option) = match text.split_once(';') {
            Some((rate, option)) => (rate, Some(option.trim())),
            None => (text, None),
        };
        let (count, period) = rate
            .split_once('/')
            .ok_or_else(|| QuotaError::MissingSlash(text.to_owned()))?;
        let count = parse_count(count)?;

        let period = period.trim();
        let digits = period.bytes().take_while(u8::is_ascii_digit).count();
        let (amount, unit) = period.split_at(digits);
        let amount = if amount.is_empty() {
            1
        } else {
            amount
                .parse::<u64>()
                .map_err(|_| QuotaError::PeriodTooLong(period.to_owned()))?
        };
        if amount == 0 {
            return Err(QuotaError::ZeroPeriod);
        }
        let unit_text = unit.trim();
        if unit_text.is_empty() {
            return Err(QuotaError::InvalidPeriod(period.to_owned()));
        }
        let unit =
            Unit::parse(unit_text).ok_or_else(|| QuotaError::UnknownUnit(unit_text.to_owned()))?;
        let seconds = amount
            .checked_mul(unit.seconds())
            .filter(|s| *s <= MAX_PERIOD.as_secs())
            .ok_or_else(|| QuotaError::PeriodTooLong(period.to_owned()))?;
        if seconds.saturating_mul(1_000_000) < count {
            return Err(QuotaError::TooFast(text.to_owned()));
        }

        let burst = match option {
            None => count,
            Some(option) => {
                let value = option
                    .split_once('=')
                    .filter(|(name, _)| name.trim().eq_ignore_ascii_case("burst"))
                    .map(|(_, value)| value.trim())
                    .ok_or_else(|| QuotaError::UnknownOption(option.to_owned()))?;
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(QuotaError::InvalidBurst(value.to_owned()));
                }
                match value.parse::<u64>() {
                    Ok(b) if (1..=MAX_COUNT).contains(&b) => b,
                    _ => return Err(QuotaError::BurstOutOfRange(value.to_owned())),
                }
            }
        };
        Self {
            count,
            burst,
            period_secs: seconds,
        }
        .checked()
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.count)?;
        let unit = [Unit::Day, Unit::Hour, Unit::Minute, Unit::Second]
            .into_iter()
            .find(|u| self.period_secs % u.seconds() == 0)
            .unwrap_or(Unit::Second);
        let amount = self.period_secs / unit.seconds();
        if amount == 1 {
            f.write_str(unit.name())?;
        } else {
            write!(f, "{amount}{}s", unit.name())?;
        }
        if self.burst != self.count {
            write!(f, ";burst={}", self.burst)?;
        }
        Ok(())
    }
}

impl Quota {
    /// `count` requests per `period_secs` seconds, burst = count.
    ///
    /// # Example
    ///
    /// ```
    /// use rampart_ratelimit::Quota;
    ///
    /// let quota = Quota::per_seconds(100, 60).unwrap();
    /// assert_eq!(quota, "100/minute".parse().unwrap());
    /// ```
    pub fn per_seconds(count: u64, period_secs: u64) -> Result<Self, QuotaError> {
        format!("{count}/{period_secs}s").parse()
    }

    /// The same rate with a different burst (the most requests admitted at once).
    ///
    /// # Example
    ///
    /// ```
    /// use rampart_ratelimit::Quota;
    ///
    /// let quota: Quota = "100/minute".parse().unwrap();
    /// assert_eq!(quota.with_burst(10).unwrap().to_string(), "100/minute;burst=10");
    /// assert!(quota.with_burst(0).is_err());
    /// ```
    pub fn with_burst(self, burst: u64) -> Result<Self, QuotaError> {
        if !(1..=MAX_COUNT).contains(&burst) {
            return Err(QuotaError::BurstOutOfRange(burst.to_string()));
        }
        Self { burst, ..self }.checked()
    }

    /// `self`, if its burst window fits the stores' arithmetic.
    fn checked(self) -> Result<Self, QuotaError> {
        self.burst
            .checked_mul(self.interval_micros())
            .filter(|&micros| u128::from(micros) <= MAX_BURST_WINDOW.as_micros())
            .map(|_| self)
            .ok_or(QuotaError::BurstWindowTooLong {
                burst: self.burst,
                interval: self.interval(),
            })
    }

    /// This quota shared among `replicas` processes: count and burst divided,
    /// rounded up, never below 1. What a local fallback limiter uses when
    /// several replicas lose Redis at once.
    ///
    /// # Example
    ///
    /// ```
    /// use rampart_ratelimit::Quota;
    ///
    /// let quota: Quota = "100/minute".parse().unwrap();
    /// assert_eq!(quota.divided_among(3).to_string(), "34/minute");
    /// ```
    #[must_use]
    pub fn divided_among(self, replicas: u32) -> Self {
        let replicas = u64::from(replicas.max(1));
        Self {
            count: self.count.div_ceil(replicas).max(1),
            burst: self.burst.div_ceil(replicas).max(1),
            ..self
        }
    }

    /// Requests per period.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Requests that may come at once (defaults to [`count`](Self::count)).
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// The period.
    pub fn period(&self) -> Duration {
        Duration::from_secs(self.period_secs)
    }

    /// GCRA's emission interval: the time one request's worth of quota takes
    /// to come back, rounded up to the microsecond.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use rampart_ratelimit::Quota;
    ///
    /// let quota: Quota = "100/minute".parse().unwrap();
    /// assert_eq!(quota.interval(), Duration::from_millis(600));
    /// ```
    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_micros())
    }

    pub(crate) fn interval_micros(&self) -> u64 {
        (self.period().as_secs() * 1_000_000).div_ceil(self.count)
    }

    /// Burst tolerance in microseconds: `burst × interval`, at most
    /// [`MAX_BURST_WINDOW`] (checked when the quota is made; saturating all
    /// the same, so that no quota can make it wrap).
    pub(crate) fn limit_micros(&self) -> u64 {
        self.burst.saturating_mul(self.interval_micros())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn q(text: &str) -> Result<Quota, QuotaError> {
        text.parse()
    }

    #[test]
    fn the_plans_quotas_parse() {
        let global = q("1000/hour").unwrap();
        assert_eq!(
            (global.count(), global.period()),
            (1000, Duration::from_secs(3600))
        );
        let api = q("100/minute").unwrap();
        assert_eq!((api.count(), api.period()), (100, Duration::from_secs(60)));
        let login = q("5/15minutes").unwrap();
        assert_eq!(
            (login.count(), login.period()),
            (5, Duration::from_secs(900))
        );
    }

    #[test]
    fn spellings_agree() {
        for text in [
            "5/15minutes",
            "5/15minute",
            "5/15 min",
            "5/15m",
            " 5 / 15mins ",
            "5/900s",
            "5/900seconds",
            "5/15MINUTES",
        ] {
            assert_eq!(
                q(text).unwrap().period(),
                Duration::from_secs(900),
                "{text}"
            );
        }
        assert_eq!(q("10/s").unwrap().period(), Duration::from_secs(1));
        assert_eq!(q("1/d").unwrap().period(), Duration::from_secs(86_400));
        assert_eq!(q("1/2hrs").unwrap().period(), Duration::from_secs(7200));
    }

    #[test]
    fn burst_option() {
        let quota = q("100/minute;burst=20").unwrap();
        assert_eq!((quota.count(), quota.burst()), (100, 20));
        assert_eq!(q("100/minute ; BURST = 20").unwrap(), quota);
        assert_eq!(
            q("100/minute;burst=0"),
            Err(QuotaError::BurstOutOfRange("0".into()))
        );
        assert_eq!(
            q("100/minute;burst="),
            Err(QuotaError::InvalidBurst("".into()))
        );
        assert_eq!(
            q("100/minute;burst=-1"),
            Err(QuotaError::InvalidBurst("-1".into()))
        );
        assert_eq!(
            q("100/minute;size=2"),
            Err(QuotaError::UnknownOption("size=2".into()))
        );
        assert_eq!(
            q("100/minute;burst=99999999999999999999999"),
            Err(QuotaError::BurstOutOfRange(
                "99999999999999999999999".into()
            ))
        );
    }

    #[test]
    fn bad_input_gets_a_named_error() {
        assert_eq!(q(""), Err(QuotaError::Empty));
        assert_eq!(q("   "), Err(QuotaError::Empty));
        assert_eq!(q("100"), Err(QuotaError::MissingSlash("100".into())));
        assert_eq!(q("0/minute"), Err(QuotaError::ZeroCount));
        assert_eq!(q("-5/minute"), Err(QuotaError::InvalidCount("-5".into())));
        assert_eq!(q("+5/minute"), Err(QuotaError::InvalidCount("+5".into())));
        assert_eq!(q("1.5/minute"), Err(QuotaError::InvalidCount("1.5".into())));
        assert_eq!(q("/minute"), Err(QuotaError::InvalidCount("".into())));
        assert_eq!(
            q("99999999999999999999999/minute"),
            Err(QuotaError::CountTooLarge("99999999999999999999999".into()))
        );
        assert_eq!(
            q("1000000001/day"),
            Err(QuotaError::CountTooLarge("1000000001".into()))
        );
        assert_eq!(q("5/0minutes"), Err(QuotaError::ZeroPeriod));
        assert_eq!(q("5/"), Err(QuotaError::InvalidPeriod("".into())));
        assert_eq!(q("5/15"), Err(QuotaError::InvalidPeriod("15".into())));
        assert_eq!(
            q("5/fortnight"),
            Err(QuotaError::UnknownUnit("fortnight".into()))
        );
        assert_eq!(q("5/ms"), Err(QuotaError::UnknownUnit("ms".into())));
        assert_eq!(q("5/ss"), Err(QuotaError::UnknownUnit("ss".into())));
        assert_eq!(
            q("5/367days"),
            Err(QuotaError::PeriodTooLong("367days".into()))
        );
        assert_eq!(
            q("5/99999999999999999999days"),
            Err(QuotaError::PeriodTooLong("99999999999999999999days".into()))
        );
        assert_eq!(
            q("18446744073709551615/18446744073709551615d"),
            Err(QuotaError::CountTooLarge("18446744073709551615".into()))
        );
        assert_eq!(
            q("10000000/s"),
            Err(QuotaError::TooFast("10000000/s".into()))
        );
        assert!(q("1000000/s").is_ok());
        assert_eq!(
            q("5/min/ute"),
            Err(QuotaError::UnknownUnit("min/ute".into()))
        );
        assert_eq!(q("٥/minute"), Err(QuotaError::InvalidCount("٥".into())));
    }

    #[test]
    fn errors_name_the_bad_value() {
        let message = q("5/fortnight").unwrap_err().to_string();
        assert!(message.contains("fortnight"), "{message}");
    }

    #[test]
    fn interval_is_rounded_up() {
        let quota = q("7/minute").unwrap();
        assert_eq!(quota.interval_micros(), 8_571_429);
        assert!(quota.interval_micros() * 7 >= 60_000_000);
        assert_eq!(
            q("1000/hour").unwrap().interval(),
            Duration::from_millis(3600)
        );
    }

    #[test]
    fn division_rounds_up() {
        let quota = q("5/15minutes").unwrap();
        assert_eq!(quota.divided_among(3).count(), 2);
        assert_eq!(quota.divided_among(100).count(), 1);
        assert_eq!(quota.divided_among(0), quota);
    }

    #[test]
    fn a_burst_window_past_the_stores_arithmetic_is_refused() {
        // 1/366d: one request per 31,622,400 s; 2^53 µs holds 284 of them.
        let year = q("1/366d;burst=284").unwrap();
        assert_eq!(year.limit_micros(), 284 * 31_622_400_000_000);
        let interval = Duration::from_secs(31_622_400);
        assert_eq!(
            q("1/366d;burst=285"),
            Err(QuotaError::BurstWindowTooLong {
                burst: 285,
                interval
            })
        );
        // The largest burst of the longest period: burst × interval is
        // 3.2e22 µs, past u64 (it wrapped before, or panicked in debug).
        let error = q("1/366d;burst=1000000000").unwrap_err();
        assert_eq!(
            error,
            QuotaError::BurstWindowTooLong {
                burst: MAX_COUNT,
                interval
            }
        );
        assert!(error.to_string().contains("burst 1000000000"), "{error}");
        let base = q("1/366d").unwrap();
        assert_eq!(
            base.with_burst(MAX_COUNT),
            Err(QuotaError::BurstWindowTooLong {
                burst: MAX_COUNT,
                interval
            })
        );
        assert_eq!(base.with_burst(284), Ok(year));
        // The largest burst of a short period fits.
        let fast = q("1/s;burst=1000000000").unwrap();
        assert_eq!(fast.limit_micros(), 1_000_000_000_000_000);
        // Counts never overflow the window: burst = count spans one period.
        let full = q("1000000000/366d").unwrap();
        assert!(u128::from(full.limit_micros()) <= MAX_BURST_WINDOW.as_micros());
    }

    proptest! {
        #[test]
        fn every_quota_that_parses_fits_the_burst_window(count in 1u64..=MAX_COUNT, seconds in 1u64..=MAX_PERIOD.as_secs(), burst in 1u64..=MAX_COUNT) {
            if let Ok(quota) = q(&format!("{count}/{seconds}s;burst={burst}")) {
                prop_assert!(u128::from(quota.burst()) * u128::from(quota.interval_micros()) <= MAX_BURST_WINDOW.as_micros());
            }
        }

        #[test]
        fn parser_never_panics(text in "\\PC{0,40}") {
            let _ = q(&text);
        }

        #[test]
        fn display_round_trips(count in 1u64..=MAX_COUNT, amount in 1u64..=300, unit in 0usize..4, burst in proptest::option::of(1u64..=MAX_COUNT)) {
            let unit = ["s", "m", "h", "d"][unit];
            let mut text = format!("{count}/{amount}{unit}");
            if let Some(burst) = burst {
                text.push_str(&format!(";burst={burst}"));
            }
            if let Ok(quota) = q(&text) {
                prop_assert_eq!(q(&quota.to_string()).unwrap(), quota);
                prop_assert!(quota.interval_micros() * quota.count() >= quota.period().as_secs() * 1_000_000);
            }
        }
    }
}
