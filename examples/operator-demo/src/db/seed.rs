//! `operator-demo seed --orgs N --users-per-org M`: demo data for trying the
//! API and for load tests.
//!
//! Users are numbered across organizations (`user1@example.com`,
//! `user2@example.com`, ...), all with the password `test123`; the first user
//! of each organization is its admin. Each organization also gets a company
//! and a campaign.
//!
//! Every seeded user shares one argon2id hash of `test123`, computed once
//! (with one random salt) by the caller: hashing a hundred passwords one by
//! one at argon2id's cost would take minutes, and these are demo accounts
//! whose password is published anyway. Real users get a hash of their own.
//!
//! Ids are derived from the numbers (UUID v5), and every insert skips what
//! exists: seeding twice is harmless, and `--orgs 3` after `--orgs 2` adds
//! the third organization.

use uuid::Uuid;

use super::{Db, DbError, new_id, now};

/// How many organizations and users to seed.
///
/// ```
/// let plan = operator_demo::db::seed::SeedPlan { orgs: 2, users_per_org: 3 };
/// assert_eq!(plan.email(2, 1), "user4@example.com");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    /// Organizations, numbered from 1.
    pub orgs: u32,
    /// Users in each organization.
    pub users_per_org: u32,
}

impl SeedPlan {
    /// The email of user `index` (from 1) of organization `org` (from 1).
    pub fn email(&self, org: u32, index: u32) -> String {
        let n = u64::from(org - 1) * u64::from(self.users_per_org) + u64::from(index);
        format!("user{n}@example.com")
    }
}

/// What a seed run added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Organizations created.
    pub orgs: u64,
    /// Users created.
    pub users: u64,
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6f70_6572_6174_6f72_2d64_656d_6f2d_7365);

fn seeded_id(name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// The id `seed` gives organization number `org` (from 1).
///
/// ```
/// let a = operator_demo::db::seed::org_id(1);
/// assert_eq!(a, operator_demo::db::seed::org_id(1));
/// assert_ne!(a, operator_demo::db::seed::org_id(2));
/// ```
pub fn org_id(org: u32) -> String {
    seeded_id(&format!("org-{org}"))
}

/// Seeds `plan` into `db`, every user with `password_hash` (a PHC string).
///
/// # Errors
///
/// The driver's error.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use operator_demo::db::{Db, DbConfig, seed::{SeedPlan, seed}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
/// db.migrate_up().await.unwrap();
/// let plan = SeedPlan { orgs: 2, users_per_org: 2 };
/// let report = seed(&db, plan, "$argon2id$placeholder").await.unwrap();
/// assert_eq!((report.orgs, report.users), (2, 4));
/// // A second run adds nothing.
/// assert_eq!(seed(&db, plan, "$argon2id$placeholder").await.unwrap().users, 0);
/// # }
/// ```
pub async fn seed(db: &Db, plan: SeedPlan, password_hash: &str) -> Result<SeedReport, DbError> {
    let mut report = SeedReport::default();
    let at = now();
    let max_users = i64::from(plan.users_per_org.max(25));
    for org in 1..=plan.orgs {
        let org_id = org_id(org);
        let mut tx = db.write_tx(&org_id).await?;
        let created = sqlx::query(
            "INSERT INTO organizations (id, name, slug, max_users, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&org_id)
        .bind(format!("Organization {org}"))
        .bind(format!("org-{org}"))
        .bind(max_users)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        report.orgs += created;
        if created == 1 {
            let company_id = new_id();
            sqlx::query(
                "INSERT INTO companies (id, organization_id, name, domain, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&company_id)
            .bind(&org_id)
            .bind(format!("Company of organization {org}"))
            .bind(format!("org{org}.example.com"))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO campaigns (id, organization_id, company_id, name, language, script, \
                 status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'en', $5, 'draft', $6, $6)",
            )
            .bind(new_id())
            .bind(&org_id)
            .bind(&company_id)
            .bind("Welcome calls")
            .bind("Hello, this is a call from the demo. How are you today?")
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for index in 1..=plan.users_per_org {
            let email = plan.email(org, index);
            let user_id = seeded_id(&email);
            let role = if index == 1 { "admin" } else { "agent" };
            let inserted = sqlx::query(
                "INSERT INTO users (id, organization_id, email, full_name, password_hash, role, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(&user_id)
            .bind(&org_id)
            .bind(&email)
            .bind(format!(
                "Demo User {}",
                email.trim_end_matches("@example.com")
            ))
            .bind(password_hash)
            .bind(role)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                sqlx::query(
                    "INSERT INTO user_logins (email, user_id, organization_id) VALUES ($1, $2, $3)",
                )
                .bind(&email)
                .bind(&user_id)
                .bind(&org_id)
                .execute(&mut *tx)
                .await?;
                report.users += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}
