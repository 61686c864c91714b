//! Backup names: `operator-demo-BACKEND-YYYYMMDDTHHMMSSZ-vVERSION`, then one
//! suffix per object (`.manifest.json`, `.pgdump`, `.globals.sql`,
//! `.sqlite3`). The time (UTC) and the migration version are readable in a
//! listing, and prune reads the time from the name alone.

use crate::db::Backend;

/// The manifest's suffix: a backup is complete once its manifest is stored
/// (it is written last).
pub const MANIFEST: &str = ".manifest.json";

/// One backup's name, without suffix.
///
/// ```
/// use operator_demo::{backup::BackupName, db::Backend};
///
/// let name = BackupName::new(Backend::Postgres, 1_780_000_000, 3);
/// assert_eq!(name.to_string(), "operator-demo-postgres-20260528T202640Z-v3");
/// let object = format!("{name}.pgdump");
/// assert_eq!(BackupName::of_object(&object), Some(name));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupName {
    /// When it was taken, Unix seconds (UTC); first, so that names sort by time.
    pub time: i64,
    /// The database it came from.
    pub backend: &'static str,
    /// The newest migration applied to it.
    pub version: i64,
}

impl BackupName {
    /// The name of a backup of `backend` taken at `time` (Unix seconds) at
    /// migration `version`.
    pub fn new(backend: Backend, time: i64, version: i64) -> Self {
        Self {
            time,
            backend: backend_str(backend),
            version,
        }
    }

    /// The backup an object belongs to, from the object's name; `None` for
    /// anything else in the store.
    pub fn of_object(object: &str) -> Option<Self> {
        let rest = object.strip_prefix("operator-demo-")?;
        let (backend, rest) = rest.split_once('-')?;
        let backend = match backend {
            "postgres" => "postgres",
            "sqlite" => "sqlite",
            _ => return None,
        };
        let (stamp, rest) = rest.split_once("-v")?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let version = rest[..digits].parse().ok()?;
        let time = parse_stamp(stamp)?;
        Some(Self {
            time,
            backend,
            version,
        })
    }

    /// The name of one of its objects.
    pub fn object(&self, suffix: &str) -> String {
        format!("{self}{suffix}")
    }
}

impl std::fmt::Display for BackupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, mo, d, h, mi, se) = civil(self.time);
        write!(
            f,
            "operator-demo-{}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{se:02}Z-v{}",
            self.backend, self.version
        )
    }
}

/// `postgres` or `sqlite`.
pub(crate) fn backend_str(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    }
}

/// A Unix time as `2026-12-05 02:00:00 UTC`.
pub fn human_time(time: i64) -> String {
    let (y, mo, d, h, mi, se) = civil(time);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02} UTC")
}

/// Unix seconds as UTC year, month, day, hour, minute, second (the
/// proleptic Gregorian calendar; Howard Hinnant's `civil_from_days`).
fn civil(time: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, secs) = (time.div_euclid(86_400), time.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `YYYYMMDDTHHMMSSZ` as Unix seconds, `None` unless a real time.
fn parse_stamp(stamp: &str) -> Option<i64> {
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = stamp.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    // days_from_civil, then back through civil to refuse 31 February.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let time = days * 86_400 + h * 3600 + mi * 60 + se;
    (civil(time) == (y, mo, d, h, mi, se)).then_some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_objects_are_not_backups() {
        for other in [
            "notes.txt",
            "operator-demo-mysql-20260101T000000Z-v1.dump",
            "operator-demo-sqlite-2026-v1.sqlite3",
            "operator-demo-sqlite-20260101T000000Z-vx.sqlite3",
            "operator-demo-sqlite-20261301T000000Z-v1.sqlite3",
            "operator-demo-sqlite-20260231T000000Z-v1.sqlite3",
        ] {
            assert_eq!(BackupName::of_object(other), None, "{other}");
        }
        let name =
            BackupName::of_object("operator-demo-sqlite-20260101T000000Z-v12.sqlite3.sha256");
        assert_eq!(name.map(|n| (n.time, n.version)), Some((1_767_225_600, 12)));
    }

    #[test]
    fn names_and_times_round_trip() {
        for time in [0, 951_782_400, 1_767_225_599, 1_796_479_506, 4_102_444_800] {
            let name = BackupName::new(Backend::Sqlite, time, 1);
            assert_eq!(BackupName::of_object(&name.to_string()), Some(name));
        }
        assert_eq!(human_time(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
