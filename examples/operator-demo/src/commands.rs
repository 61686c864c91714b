//! The subcommands: `serve` (the default), `migrate up|down|status`, `seed`,
//! `keygen`, `hash-password`, `gdpr purge`, `backup create|list|restore|prune|verify`,
//! `retention run`.

use crate::{
    Error,
    config::{
        Cli, Command, DatabaseArgs, Environment, GdprAction, MigrateAction, MigrateArgs, PurgeArgs,
        SeedArgs,
    },
    db::{Db, DbConfig, seed},
    server,
};

/// Runs what the command line asks for.
///
/// # Errors
///
/// An [`Error`] naming the setting at fault.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Seed(args)) => seed(args).await,
        Some(Command::Keygen(args)) => keygen(&args.path),
        Some(Command::Gdpr(args)) => match args.action {
            GdprAction::Purge(args) => purge(args).await,
        },
        Some(Command::Backup(args)) => Ok(crate::backup::run(args).await?),
        Some(Command::HashPassword) => hash_password(std::io::stdin().lock()),
        Some(Command::Retention(args)) => crate::retention::command(args).await,
        Some(Command::Serve(args)) => server::serve(*args).await,
        None => server::serve(cli.serve).await,
    }
}

/// The database configuration the options describe: `DATABASE_URL`, else
/// the SQLite file in `data_dir` (the folder is created).
///
/// # Errors
///
/// `DATA_DIR` that cannot be created.
pub fn db_config(data_dir: &std::path::Path, args: &DatabaseArgs) -> Result<DbConfig, Error> {
    // An empty variable counts as unset (a `DATABASE_URL=` in an env file).
    let url = args
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let mut config = if let Some(url) = url {
        DbConfig::from_url(url)
    } else {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        DbConfig::embedded(data_dir)
    };
    // Empty counts as unset here too.
    config.read_url = args
        .database_read_url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned);
    config.max_connections = args.database_max_connections;
    config.read_timeout = std::time::Duration::from_millis(args.database_read_timeout_ms);
    Ok(config)
}

/// Connects, naming the variable at fault.
///
/// # Errors
///
/// `DATABASE_URL` / `DATABASE_READ_URL` that cannot be used.
pub async fn connect(config: &DbConfig) -> Result<Db, Error> {
    Db::connect(config).await.map_err(|err| Error::Config {
        variable: match err {
            crate::db::DbError::Connect { variable, .. }
            | crate::db::DbError::Role { variable, .. }
            | crate::db::DbError::UnsupportedUrl { variable } => variable,
            crate::db::DbError::MixedBackends => "DATABASE_READ_URL",
            _ => "DATABASE_URL",
        },
        message: err.to_string(),
    })
}

fn database_error(err: impl std::fmt::Display) -> Error {
    Error::Config {
        variable: "DATABASE_URL",
        message: err.to_string(),
    }
}

#[allow(clippy::print_stdout, reason = "the command's output for a person")]
async fn migrate(args: MigrateArgs) -> Result<(), Error> {
    let db = connect(&db_config(&args.data_dir, &args.database)?).await?;
    match args.action {
        MigrateAction::Up => {
            db.migrate_up().await.map_err(database_error)?;
            println!("migrations applied");
        }
        MigrateAction::Down => {
            let reverted = db.migrate_down(args.to).await.map_err(database_error)?;
            println!("{reverted} migration(s) reverted");
        }
        MigrateAction::Status => {
            for migration in db.migration_status().await.map_err(database_error)? {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                println!(
                    "{:>4} {state:<8} {}",
                    migration.version, migration.description
                );
            }
        }
    }
    db.close().await;
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's output for a person")]
async fn seed(args: SeedArgs) -> Result<(), Error> {
    if args.environment == Environment::Production {
        return Err(Error::Config {
            variable: "ENVIRONMENT",
            message: "seed refuses to run in production: its users share a published password"
                .into(),
        });
    }
    let db = connect(&db_config(&args.data_dir, &args.database)?).await?;
    if db.backend() == crate::db::Backend::Sqlite {
        db.migrate_up().await.map_err(database_error)?;
    }
    // One hash for every seeded user (see db::seed for why).
    let hash = match args.password_hash {
        Some(hash) if hash.starts_with("$argon2id$") => hash,
        Some(_) => {
            return Err(Error::Config {
                variable: "SEED_PASSWORD_HASH",
                message: "expected an argon2id PHC string ($argon2id$...)".into(),
            });
        }
        None => crate::auth::PasswordPool::default()
            .hash("test123".into())
            .await
            .map_err(|err| database_error(format!("hashing: {err}")))?
            .map_err(|err| database_error(format!("hashing: {err}")))?,
    };
    let plan = seed::SeedPlan {
        orgs: args.orgs,
        users_per_org: args.users_per_org,
    };
    let report = seed::seed(&db, plan, &hash).await.map_err(database_error)?;
    println!(
        "seeded {} organization(s) and {} user(s) (user1@example.com ... user{}@example.com, password test123)",
        report.orgs,
        report.users,
        u64::from(args.orgs) * u64::from(args.users_per_org)
    );
    db.close().await;
    Ok(())
}

/// The shortest password `hash-password` takes: a first admin's password
/// typed by an operator is a secret someone will guess otherwise.
const MIN_PASSWORD_CHARS: usize = 12;

/// `hash-password`: the first line of `input` (without its line end) hashed
/// with argon2id, printed. The password never goes through the command line
/// (it would be in `ps` and the shell's history).
#[allow(clippy::print_stdout, reason = "the hash is the command's output")]
fn hash_password(mut input: impl std::io::BufRead) -> Result<(), Error> {
    let bad = |message: String| Error::Config {
        variable: "stdin",
        message,
    };
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|err| bad(format!("cannot read the password: {err}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(bad(format!(
            "expected a password of at least {MIN_PASSWORD_CHARS} characters on the first line"
        )));
    }
    let hash = crate::auth::password::hash_password(password)
        .map_err(|err| bad(format!("hashing failed: {err}")))?;
    println!("{hash}");
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's output for a person")]
async fn purge(args: PurgeArgs) -> Result<(), Error> {
    let hasher = args
        .gdpr
        .hasher(&args.data_dir)
        .map_err(|(variable, message)| Error::Config { variable, message })?;
    let db = connect(&db_config(&args.data_dir, &args.database)?).await?;
    if db.backend() == crate::db::Backend::Sqlite {
        db.migrate_up().await.map_err(database_error)?;
    }
    // The servers' cached answers about those erased go with them.
    let cache = args.cache.shared(args.redis_url.as_deref()).await?;
    let now = args.now.unwrap_or_else(crate::db::now);
    let report = crate::gdpr::erase::purge_due(&db, &hasher, now, cache.as_ref())
        .await
        .map_err(database_error)?;
    db.close().await;
    println!(
        "erased {} account(s), {} failed",
        report.erased, report.failed
    );
    if report.failed > 0 {
        return Err(database_error(format!(
            "{} erasure(s) failed; see the log",
            report.failed
        )));
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the command's output for a person")]
fn keygen(path: &std::path::Path) -> Result<(), Error> {
    let keys = crate::auth::keygen(path).map_err(|err| Error::Config {
        variable: "PATH",
        message: err.to_string(),
    })?;
    println!("wrote {} (kid {})", path.display(), keys.kid());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    #[test]
    fn hash_password_refuses_short_and_empty_input() {
        for input in ["", "\n", "short\n", "elevenchars\n"] {
            let err = hash_password(input.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("at least 12 characters"), "{input:?}: {err}");
        }
        hash_password("twelve chars\r\nignored".as_bytes()).unwrap();
    }

    fn database_args(args: &[&str]) -> DatabaseArgs {
        Cli::try_parse_from(std::iter::once("operator-demo").chain(args.iter().copied()))
            .unwrap()
            .serve_args()
            .database
            .clone()
    }

    #[test]
    fn an_empty_read_url_counts_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        for read_url in ["", "  "] {
            let args = database_args(&[
                "--database-url",
                "postgres://app@127.0.0.1/demo",
                "--database-read-url",
                read_url,
            ]);
            let config = db_config(dir.path(), &args).unwrap();
            assert_eq!(config.read_url, None, "{read_url:?}");
        }
        let args = database_args(&[
            "--database-url",
            "postgres://app@127.0.0.1/demo",
            "--database-read-url",
            " postgres://app@replica/demo ",
        ]);
        let config = db_config(dir.path(), &args).unwrap();
        assert_eq!(
            config.read_url.as_deref(),
            Some("postgres://app@replica/demo")
        );
    }

    #[test]
    fn the_read_timeout_defaults_to_half_a_second_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let config = db_config(dir.path(), &database_args(&[])).unwrap();
        assert_eq!(config.read_timeout, Duration::from_millis(500));
        let args = database_args(&["--database-read-timeout-ms", "250"]);
        let config = db_config(dir.path(), &args).unwrap();
        assert_eq!(config.read_timeout, Duration::from_millis(250));
        for bad in ["0", "-1", "abc", "", "60001"] {
            let flag = format!("--database-read-timeout-ms={bad}");
            let parsed = Cli::try_parse_from(["operator-demo", flag.as_str()]);
            let err = parsed.expect_err(bad).to_string();
            assert!(err.contains("DATABASE_READ_TIMEOUT_MS"), "{bad}: {err}");
        }
    }
}
