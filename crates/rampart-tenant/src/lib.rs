#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
#![doc = document_features::document_features!()]

mod context;
mod exceeded;
mod id;
mod limits;
mod lookup;
mod principal;
mod quota;
mod resolve;
mod stats;
mod tenant;

#[cfg(feature = "axum")]
mod extract;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-any"
))]
pub mod sqlx;

#[cfg(feature = "axum")]
pub use self::extract::MissingTenant;
#[cfg(feature = "redis")]
pub use self::quota::monthly::RedisMonthlyStore;
pub use self::{
    context::{WithTenant, current_tenant, spawn_with_tenant, with_tenant},
    exceeded::{PROBLEM_TYPE, QuotaExceeded, QuotaKind},
    id::{MAX_LEN, TenantId, TenantIdError},
    limits::Limits,
    lookup::{LookupError, LookupFuture, TenantLookup},
    principal::TenantPrincipal,
    quota::{
        ChargeError, QuotaBody, QuotaFuture, QuotaLayer, QuotaService, Quotas,
        monthly::{
            Charge, MemoryMonthlyStore, Month, MonthlyFuture, MonthlyStore, QuotaStoreError, Usage,
        },
    },
    resolve::{
        ResponseFuture, TenantConfigError, TenantConfigIssue, TenantLayer, TenantLayerBuilder,
        TenantService, TenantSource,
    },
    stats::{TenantCounter, TenantStats},
    tenant::Tenant,
};
