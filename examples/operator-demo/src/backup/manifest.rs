//! The manifest stored beside each backup: its files with their sizes and
//! SHA-256, the migration version, and per table a row count and a checksum
//! of the rows (independent of their order), taken from the same snapshot
//! as the dump. `verify` restores the backup and compares.

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Any, AssertSqlSafe, pool::PoolConnection};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout of this file (1).
    pub format: u32,
    /// The backup's name (without suffix).
    pub name: String,
    /// `postgres` or `sqlite`.
    pub backend: String,
    /// When the snapshot was taken, Unix seconds.
    pub created_at: i64,
    /// The newest migration applied to the database.
    pub migration_version: i64,
    /// Its data files (the manifest itself not included).
    pub files: Vec<FileEntry>,
    /// Every table, by name.
    pub tables: Vec<TableStats>,
}

impl Manifest {
    /// The bytes of all its files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// One stored file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The object's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex (also in the `.sha256` object beside it).
    pub sha256: String,
}

/// One table's row count and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// `schema.table` on Postgres, the table's name on SQLite.
    pub table: String,
    /// Its rows.
    pub rows: i64,
    /// A checksum of its rows that does not depend on their order: the sum
    /// of a 60-bit hash of each row's text (Postgres: `md5(row::text)`;
    /// SQLite: SHA-256 of the row's `quote()`d columns), as a decimal.
    pub checksum: String,
}

/// The tables whose rows differ between `expected` and `actual`, as
/// readable lines (empty when they agree).
///
/// ```
/// use operator_demo::backup::manifest::{TableStats, differences};
///
/// let t = |table: &str, rows| TableStats { table: table.into(), rows, checksum: "1".into() };
/// assert!(differences(&[t("a", 1)], &[t("a", 1)]).is_empty());
/// assert_eq!(differences(&[t("a", 1)], &[t("a", 2)]).len(), 1);
/// assert_eq!(differences(&[t("a", 1)], &[]), ["a: in the backup's manifest, missing after restore"]);
/// ```
pub fn differences(expected: &[TableStats], actual: &[TableStats]) -> Vec<String> {
    let mut lines = Vec::new();
    for want in expected {
        match actual.iter().find(|got| got.table == want.table) {
            None => lines.push(format!(
                "{}: in the backup's manifest, missing after restore",
                want.table
            )),
            Some(got) if got.rows != want.rows => lines.push(format!(
                "{}: {} rows in the manifest, {} after restore",
                want.table, want.rows, got.rows
            )),
            Some(got) if got.checksum != want.checksum => lines.push(format!(
                "{}: same {} rows, but their checksum differs ({} in the manifest, {} after restore)",
                want.table, want.rows, want.checksum, got.checksum
            )),
            Some(_) => {}
        }
    }
    for got in actual {
        if !expected.iter().any(|want| want.table == got.table) {
            lines.push(format!(
                "{}: after restore, not in the backup's manifest",
                got.table
            ));
        }
    }
    lines
}

/// Every table of the Postgres database `conn` is connected to (all
/// schemas but the system's), counted and checksummed. Run it in the
/// transaction whose snapshot the dump uses.
///
/// # Errors
///
/// The driver's error.
pub async fn postgres_stats(
    conn: &mut PoolConnection<Any>,
) -> Result<Vec<TableStats>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         AND schemaname NOT LIKE 'pg\\_%' ORDER BY 1",
    )
    .fetch_all(&mut **conn)
    .await?;
    let mut stats = Vec::with_capacity(tables.len());
    for table in tables {
        // 60 bits of each row's md5, summed as numeric: no overflow, and
        // the same whatever order the rows come in.
        let sql = format!(
            "SELECT count(*)::bigint, \
             coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint::numeric), 0)::text \
             FROM {table} t"
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&mut **conn)
            .await?;
        stats.push(TableStats {
            table,
            rows,
            checksum,
        });
    }
    Ok(stats)
}

/// Every table of the SQLite database `conn` is connected to, counted and
/// checksummed.
///
/// # Errors
///
/// The driver's error.
pub async fn sqlite_stats(conn: &mut PoolConnection<Any>) -> Result<Vec<TableStats>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&mut **conn)
    .await?;
    let mut stats = Vec::with_capacity(tables.len());
    for table in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let columns: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{}')",
            table.replace('\'', "''")
        )))
        .fetch_all(&mut **conn)
        .await?;
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{}\")", c.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let row = if row.is_empty() { "''".to_owned() } else { row };
        let sql = format!("SELECT {row} FROM {quoted}");
        let mut rows = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql)).fetch(&mut **conn);
        let (mut count, mut sum) = (0i64, 0u128);
        while let Some(text) = rows.try_next().await? {
            let digest = Sha256::digest(text.as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            sum += u128::from(u64::from_be_bytes(first) >> 4);
            count += 1;
        }
        stats.push(TableStats {
            table,
            rows: count,
            checksum: sum.to_string(),
        });
    }
    Ok(stats)
}

/// The newest migration applied (0 when none or no bookkeeping table).
///
/// # Errors
///
/// The driver's error.
pub async fn migration_version(
    conn: &mut PoolConnection<Any>,
    postgres: bool,
) -> Result<i64, sqlx::Error> {
    let exists = if postgres {
        "SELECT COUNT(*) FROM pg_class WHERE oid = to_regclass('_sqlx_migrations')"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
    };
    let count: i64 = sqlx::query_scalar(exists).fetch_one(&mut **conn).await?;
    if count == 0 {
        return Ok(0);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut **conn)
            .await?;
    Ok(version.unwrap_or(0))
}

/// Whether any table but sqlx's bookkeeping has a row: what makes a
/// restore target "not empty".
///
/// # Errors
///
/// The driver's error.
pub async fn has_data(conn: &mut PoolConnection<Any>, postgres: bool) -> Result<bool, sqlx::Error> {
    let list = if postgres {
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         AND schemaname NOT LIKE 'pg\\_%' AND tablename <> '_sqlx_migrations'"
    } else {
        "SELECT '\"' || replace(name, '\"', '\"\"') || '\"' FROM sqlite_master \
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name <> '_sqlx_migrations'"
    };
    let tables: Vec<String> = sqlx::query_scalar(list).fetch_all(&mut **conn).await?;
    for table in tables {
        let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS one");
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut **conn)
            .await?;
        if count > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
