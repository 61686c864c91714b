//! The JSON API: authentication, companies, campaigns, call sessions,
//! dispositions, the organization's admin view and audit log, and the
//! caller's GDPR rights (export, erasure, privacy settings), described by an OpenAPI
//! document (`/openapi.json`, browsable at `/docs`).
//!
//! Every handler checks its input (a 422 problem+json names the field),
//! reaches the database only through [`Db::read`](crate::db::Db::read) (on
//! the replica when the read may lag and there is one, retried on the
//! primary when it fails) or [`Db::write_tx`](crate::db::Db::write_tx),
//! with the caller's organization, and answers 404 for another
//! organization's ids. No handler picks a pool: a read says how fresh it
//! must be ([`Freshness`](crate::db::Freshness)).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod campaigns;
pub mod companies;
mod error;
mod extract;
pub mod gdpr;
mod openapi;
mod quota;
mod rows;
#[cfg(feature = "telephony")]
pub mod sessions;
#[cfg(feature = "telephony")]
mod telephony;
#[cfg(test)]
mod testing;
pub mod validate;

use axum::{
    Router,
    routing::{delete, get, post, put},
};
use serde::Serialize;
use utoipa::ToSchema;

pub use self::{
    error::ApiError,
    extract::{DEFAULT_LIMIT, Id, JsonBody, MAX_LIMIT, MAX_OFFSET, Page, parse_id},
    openapi::{ApiDoc, docs},
    quota::{Limits, month_start},
};
#[cfg(feature = "telephony")]
pub use self::{
    sessions::{DEFAULT_TO, TelephonyProvider},
    telephony::{PlacedCall, Telephony},
};
use crate::app::AppState;

/// What the handler modules all use.
mod prelude {
    pub(super) use axum::{
        Json,
        extract::State,
        http::StatusCode,
        response::{IntoResponse, Response},
    };
    pub(super) use serde::{Deserialize, Serialize};
    pub(super) use sqlx::{Row, any::AnyRow};
    pub(super) use utoipa::ToSchema;

    pub(super) use super::{ApiError, Id, JsonBody, List, Page, rows, validate};
    pub(super) use crate::{
        app::AppState,
        auth::Principal,
        db::{Freshness, new_id, now},
    };
}

/// A page of a list.
///
/// ```
/// use operator_demo::api::{List, Page};
///
/// let list = List::new(vec![1, 2], Page { limit: 2, offset: 0 }, 5);
/// assert_eq!(serde_json::to_value(&list).unwrap()["total"], 5);
/// ```
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct List<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The page size asked for.
    pub limit: i64,
    /// How many items were skipped.
    pub offset: i64,
    /// How many items there are in all.
    pub total: i64,
}

impl<T> List<T> {
    /// `items`, the page they are, and the total.
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            limit: page.limit,
            offset: page.offset,
            total,
        }
    }
}

/// `/auth/*` and `/campaigns`: outside `/api`; `/campaigns` counts in the
/// per-user API limit all the same (login has limits of its own).
pub fn auth_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/me", get(auth::me))
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route("/campaigns", get(campaigns::list_legacy))
}

/// `/api/v1/*`: every route needs a token. The call sessions (each places
/// a call through a telephony provider) and the provider settings only with
/// the `telephony` feature.
pub fn api_routes() -> Router<AppState> {
    let router = Router::new();
    #[cfg(feature = "telephony")]
    let router = router
        .route(
            "/api/v1/sessions",
            get(sessions::list).post(sessions::create),
        )
        .route("/api/v1/sessions/{id}", get(sessions::read))
        .route("/api/v1/sessions/{id}/end", post(sessions::end))
        .route(
            "/api/v1/telephony/providers",
            get(telephony::provider_settings),
        );
    router
        .route(
            "/api/v1/companies",
            get(companies::list).post(companies::create),
        )
        .route(
            "/api/v1/companies/{id}",
            get(companies::read)
                .put(companies::update)
                .delete(companies::delete),
        )
        .route(
            "/api/v1/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route(
            "/api/v1/campaigns/{id}",
            get(campaigns::read)
                .put(campaigns::update)
                .delete(campaigns::delete),
        )
        .route("/api/v1/campaigns/{id}/execute", post(campaigns::execute))
        .route(
            "/api/v1/calls/{id}/disposition",
            put(calls::put_disposition),
        )
        .route("/api/v1/admin/organization", get(admin::organization))
        .route(
            "/api/v1/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route("/api/v1/admin/audit", get(audit::list))
        .route("/api/v1/gdpr/export", get(gdpr::export))
        .route("/api/v1/gdpr/delete-account", delete(gdpr::delete_account))
        .route("/api/v1/gdpr/cancel-deletion", post(gdpr::cancel_deletion))
        .route(
            "/api/v1/gdpr/privacy-settings",
            get(gdpr::privacy_settings).put(gdpr::put_privacy_settings),
        )
}
