//! The archive of one organization's calls in one run: JSON lines, gzip,
//! one object `calls-ORG-UNIXTIME.jsonl.gz` (and its `.sha256`) in
//! `ARCHIVE_URL`. Written, then read back through the same store and
//! checked before a row is deleted.

use std::{collections::BTreeSet, io::Write};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Cutoffs, MAX_CALLS_PER_RUN, report::Archived};
use crate::{
    db::{Db, Freshness},
    storage::Storage,
};

/// One line of an archive: a call and its disposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveLine {
    /// The call's id.
    pub id: String,
    /// Its organization.
    pub organization_id: String,
    /// Its session.
    pub session_id: String,
    /// The provider.
    pub provider: String,
    /// The provider's id of the call.
    pub provider_call_id: Option<String>,
    /// The caller's number.
    pub from_number: String,
    /// The callee's number.
    pub to_number: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// How long it lasted.
    pub duration_seconds: Option<i64>,
    /// Its disposition, if one was set (anonymized in the archive too when
    /// older than the dispositions' period).
    pub disposition: Option<Value>,
}

/// The calls due in one organization, encoded.
pub(super) struct Collected {
    pub(super) ids: Vec<String>,
    gzip: Vec<u8>,
    lines_sha256: String,
}

/// Reads the calls due in `org`, `batch` at a time (keyset by id), and
/// encodes them.
pub(super) async fn collect(
    db: &Db,
    org: &str,
    cut: Cutoffs,
    batch: i64,
) -> Result<Collected, String> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut lines = Sha256::new();
    let mut ids = Vec::new();
    let mut after = String::new();
    let db_error = |err: sqlx::Error| format!("database: {err}");
    while ids.len() < MAX_CALLS_PER_RUN {
        let rows = db
            .read(org, Freshness::Latest, |tx| {
                let (org, after) = (org.to_owned(), after.clone());
                Box::pin(async move {
                    sqlx::query(
                        "SELECT c.id, c.organization_id, c.session_id, c.provider, \
                         c.provider_call_id, c.from_number, c.to_number, c.started_at, \
                         c.ended_at, c.duration_seconds, d.disposition, d.notes, \
                         d.custom_fields, d.updated_by, d.updated_at \
                         FROM calls c LEFT JOIN call_dispositions d ON d.call_id = c.id \
                         WHERE c.organization_id = $1 AND c.started_at < $2 AND c.id > $3 \
                         ORDER BY c.id LIMIT $4",
                    )
                    .bind(org)
                    .bind(cut.calls)
                    .bind(after)
                    .bind(batch)
                    .fetch_all(&mut **tx)
                    .await
                })
            })
            .await
            .map_err(db_error)?;
        let done = (rows.len() as i64) < batch;
        for row in &rows {
            let line = line_of(row, cut).map_err(db_error)?;
            let mut json = serde_json::to_vec(&line).map_err(|err| err.to_string())?;
            json.push(b'\n');
            lines.update(&json);
            encoder.write_all(&json).map_err(|err| err.to_string())?;
            after.clone_from(&line.id);
            ids.push(line.id);
        }
        if done {
            break;
        }
    }
    Ok(Collected {
        ids,
        gzip: encoder.finish().map_err(|err| err.to_string())?,
        lines_sha256: hex::encode(lines.finalize()),
    })
}

fn line_of(row: &sqlx::any::AnyRow, cut: Cutoffs) -> Result<ArchiveLine, sqlx::Error> {
    let disposition = match row.try_get::<Option<String>, _>("disposition")? {
        None => None,
        Some(outcome) => {
            let updated_at: i64 = row.try_get("updated_at")?;
            let old = updated_at < cut.dispositions;
            let notes: String = row.try_get("notes")?;
            let custom: String = row.try_get("custom_fields")?;
            Some(serde_json::json!({
                "disposition": outcome,
                "notes": if old { "[ANONYMIZED]".to_owned() } else { notes },
                "custom_fields": if old {
                    Value::Object(serde_json::Map::new())
                } else {
                    serde_json::from_str(&custom).unwrap_or(Value::String(custom))
                },
                "updated_by": row.try_get::<String, _>("updated_by")?,
                "updated_at": updated_at,
            }))
        }
    };
    Ok(ArchiveLine {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        session_id: row.try_get("session_id")?,
        provider: row.try_get("provider")?,
        provider_call_id: row.try_get("provider_call_id")?,
        from_number: row.try_get("from_number")?,
        to_number: row.try_get("to_number")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        duration_seconds: row.try_get("duration_seconds")?,
        disposition,
    })
}

/// Writes `archive`, reads it back and checks it: the object's SHA-256
/// (against the one computed here and its `.sha256`), the line count, the
/// SHA-256 of the lines and the set of ids.
pub(super) async fn store(
    storage: &Storage,
    org: &str,
    now: i64,
    archive: &Collected,
) -> Result<Archived, String> {
    let name = format!("calls-{org}-{now}.jsonl.gz");
    let stored = storage
        .put(&name, bytes::Bytes::from(archive.gzip.clone()))
        .await
        .map_err(|err| format!("archive upload failed, nothing deleted: {err}"))?;
    let fail = |what: String| format!("archive {name} failed its check, nothing deleted: {what}");
    // The store's own check compares the bytes with NAME.sha256.
    let back = storage
        .get(&name)
        .await
        .map_err(|err| fail(err.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&back));
    if sha256 != stored.sha256 {
        return Err(fail(format!("SHA-256 {sha256}, written {}", stored.sha256)));
    }
    let (lines, lines_sha256) = read_archive(&back).map_err(fail)?;
    if lines_sha256 != archive.lines_sha256 {
        return Err(fail("the lines' SHA-256 differs".into()));
    }
    if lines.len() != archive.ids.len() {
        return Err(fail(format!(
            "{} lines, {} calls",
            lines.len(),
            archive.ids.len()
        )));
    }
    let read: BTreeSet<&str> = lines.iter().map(|l| l.id.as_str()).collect();
    let written: BTreeSet<&str> = archive.ids.iter().map(String::as_str).collect();
    if read != written {
        return Err(fail("the calls' ids differ".into()));
    }
    Ok(Archived {
        name,
        sha256,
        size: stored.size,
    })
}

/// The lines of an archive object, and the SHA-256 of its uncompressed
/// bytes.
///
/// # Errors
///
/// Not gzip, or a line that is not an [`ArchiveLine`].
pub fn read_archive(gzip: &[u8]) -> Result<(Vec<ArchiveLine>, String), String> {
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut GzDecoder::new(gzip), &mut text)
        .map_err(|err| format!("not gzip: {err}"))?;
    let sha256 = hex::encode(Sha256::digest(&text));
    let lines = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_slice(l).map_err(|err| format!("line {}: {err}", i + 1)))
        .collect::<Result<Vec<ArchiveLine>, String>>()?;
    Ok((lines, sha256))
}
