//! Calendar months in UTC.
//!
//! Hand-written (two 10-line conversions from Howard Hinnant's
//! `chrono`-compatible algorithms) rather than a date crate: a month's
//! start and end in Unix seconds is all that is needed.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// A calendar month in UTC, the period of a monthly quota.
///
/// # Example
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use rampart_tenant::Month;
///
/// // 2026-11-26T01:00:00Z
/// let now = UNIX_EPOCH + Duration::from_secs(1_795_654_800);
/// let month = Month::containing(now);
/// assert_eq!(month.to_string(), "2026-11");
/// assert_eq!(month.next().to_string(), "2026-12");
/// assert_eq!(month.end(), UNIX_EPOCH + Duration::from_secs(1_796_083_200)); // 2026-12-01T00:00:00Z
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    /// 1 to 12.
    month: u8,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil (year, month) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

impl Month {
    /// The month `time` falls in (UTC). Times before 1970 count as
    /// January 1970.
    pub fn containing(time: SystemTime) -> Self {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
        let (year, month) = civil_from_days(days);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u8::try_from(month).unwrap_or(12),
        }
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The month after this one.
    #[must_use]
    pub fn next(&self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year.saturating_add(1),
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first second of the month, in Unix seconds.
    pub fn start_unix(&self) -> u64 {
        let days = days_from_civil(i64::from(self.year), i64::from(self.month), 1);
        u64::try_from(days).unwrap_or(0) * 86_400
    }

    /// The first instant of the month.
    pub fn start(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.start_unix())
    }

    /// The first instant of the next month (the quota comes back then).
    pub fn end(&self) -> SystemTime {
        self.next().start()
    }

    /// How long from `now` until the month ends (zero once it has).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.end().duration_since(now).unwrap_or_default()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_dates() {
        // (Unix seconds, month), from `date -u -d @...`.
        for (secs, expected) in [
            (0, "1970-01"),
            (951_782_400, "2000-02"),   // 2000-02-29T00:00:00Z (leap, /400)
            (951_868_799, "2000-02"),   // 2000-02-29T23:59:59Z
            (951_868_800, "2000-03"),   // 2000-03-01
            (4_107_542_399, "2100-02"), // 2100-02-28T23:59:59Z (not leap, /100)
            (4_107_542_400, "2100-03"),
            (1_798_761_599, "2026-12"), // 2026-12-31T23:59:59Z
            (1_798_761_600, "2027-01"),
        ] {
            assert_eq!(Month::containing(at(secs)).to_string(), expected, "{secs}");
        }
    }

    #[test]
    fn start_and_end_round_trip() {
        let mut month = Month::containing(at(0));
        for _ in 0..(12 * 300) {
            let next = month.next();
            assert_eq!(month.end(), next.start());
            assert_eq!(Month::containing(month.start()), month);
            assert_eq!(
                Month::containing(month.end() - Duration::from_secs(1)),
                month
            );
            let days = (next.start_unix() - month.start_unix()) / 86_400;
            assert!((28..=31).contains(&days), "{month}: {days}");
            month = next;
        }
    }

    #[test]
    fn before_the_epoch_is_january_1970() {
        let month = Month::containing(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(month.to_string(), "1970-01");
        assert_eq!(month.remaining(at(0)), Duration::from_secs(31 * 86_400));
        assert_eq!(month.remaining(at(u64::from(u32::MAX))), Duration::ZERO);
    }
}
