//! Reversible migrations, one set per backend (`migrations/sqlite/`,
//! `migrations/postgres/`, each step an `.up.sql` and a `.down.sql`),
//! embedded in the binary: `operator-demo migrate up|down|status`.

use sqlx::migrate::{Migrate, Migrator};

use super::{Backend, Db, DbError};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// One migration and whether it is applied.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::db::{Db, DbConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
/// assert!(db.migration_status().await.unwrap().iter().all(|m| !m.applied));
/// db.migrate_up().await.unwrap();
/// assert!(db.migration_status().await.unwrap().iter().all(|m| m.applied));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Its version (the number the file name starts with).
    pub version: i64,
    /// What it does (from the file name).
    pub description: String,
    /// Whether the database has it.
    pub applied: bool,
}

impl Db {
    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }

    /// Applies every migration not yet applied, on the primary.
    ///
    /// # Errors
    ///
    /// The migration that failed.
    pub async fn migrate_up(&self) -> Result<(), DbError> {
        self.migrator().run(&self.primary).await?;
        Ok(())
    }

    /// Reverts the most recent applied migration, or down to (but not
    /// including) `target` when given (`0` reverts everything). Returns how
    /// many were reverted.
    ///
    /// # Errors
    ///
    /// The migration that failed.
    pub async fn migrate_down(&self, target: Option<i64>) -> Result<usize, DbError> {
        let applied = self.applied_versions().await?;
        let target = if let Some(target) = target {
            target
        } else {
            // One step: down to the version below the latest applied.
            let mut versions = applied.clone();
            versions.sort_unstable();
            versions.iter().rev().nth(1).copied().unwrap_or(0)
        };
        let reverted = applied.iter().filter(|v| **v > target).count();
        self.migrator().undo(&self.primary, target).await?;
        Ok(reverted)
    }

    /// Every known migration and whether it is applied.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, DbError> {
        let applied = self.applied_versions().await?;
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }

    /// Whether every known migration is applied.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn is_migrated(&self) -> Result<bool, DbError> {
        Ok(self.migration_status().await?.iter().all(|m| m.applied))
    }

    /// Read without creating sqlx's bookkeeping table: the app's role on
    /// Postgres may read but not create tables.
    async fn applied_versions(&self) -> Result<Vec<i64>, DbError> {
        let exists = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM pg_class WHERE oid = to_regclass('_sqlx_migrations')"
            }
        };
        let count: i64 = sqlx::query_scalar(exists).fetch_one(&self.primary).await?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.primary.acquire().await?;
        Ok(conn
            .list_applied_migrations("_sqlx_migrations")
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbConfig;

    #[tokio::test]
    async fn up_down_up_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
        db.migrate_up().await.unwrap();
        assert!(db.is_migrated().await.unwrap());
        assert_eq!(db.migrate_down(None).await.unwrap(), 1);
        assert!(!db.is_migrated().await.unwrap());
        // The tables are gone: creating them again works.
        db.migrate_up().await.unwrap();
        assert!(db.is_migrated().await.unwrap());
        assert_eq!(db.migrate_down(Some(0)).await.unwrap(), 4);
        assert_eq!(db.migrate_down(None).await.unwrap(), 0);
    }
}
