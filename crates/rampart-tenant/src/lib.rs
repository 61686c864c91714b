#![doc = include_str!("../README.md")]

mod id;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-any"
))]
pub mod sqlx;

pub use self::id::{MAX_LEN, TenantId, TenantIdError};
