//! The OpenAPI document of the API (`GET /openapi.json`) and Swagger UI over
//! it (`GET /docs`), served from files compiled into the binary
//! (utoipa-swagger-ui's `vendored` feature: nothing is downloaded at build
//! time or at run time).

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use super::{admin, audit, auth, calls, campaigns, companies, gdpr};
#[cfg(feature = "telephony")]
use super::{sessions, telephony};
use crate::app::AppState;

/// The API's OpenAPI 3.1 document.
///
/// ```
/// use operator_demo::api::ApiDoc;
/// use utoipa::OpenApi;
///
/// let doc = ApiDoc::openapi();
/// assert!(doc.paths.paths.contains_key("/api/v1/companies"));
/// ```
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "operator-demo", description = "The reference backend assembled from every Rampart crate"),
    paths(
        auth::login, auth::me, auth::jwks,
        campaigns::list_legacy,
        companies::list, companies::create, companies::read, companies::update, companies::delete,
        campaigns::list, campaigns::create, campaigns::read, campaigns::update, campaigns::delete,
        campaigns::execute,
        calls::put_disposition,
        admin::organization, admin::create_user, admin::list_users, audit::list,
        gdpr::export, gdpr::delete_account, gdpr::cancel_deletion, gdpr::privacy_settings,
        gdpr::put_privacy_settings,
    ),
    modifiers(&BearerAuth, &TelephonyPaths),
    tags(
        (name = "auth", description = "Log in, who am I, the keys tokens verify with"),
        (name = "companies"), (name = "campaigns"),
        (name = "admin", description = "Organization admins only"),
        (name = "gdpr", description = "The caller's data: export, erasure, privacy settings"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

/// The call sessions' and provider settings' routes, in the document only with the `telephony`
/// feature (as in the router): `OpenApi`'s `paths(...)` takes no `cfg`, so
/// they are merged in here.
struct TelephonyPaths;

#[cfg(feature = "telephony")]
#[derive(OpenApi)]
#[openapi(
    paths(
        sessions::create, sessions::list, sessions::read, sessions::end,
        telephony::provider_settings,
    ),
    tags(
        (name = "sessions"),
        (name = "telephony", description = "The provider settings calls are placed with"),
    ),
)]
struct TelephonyDoc;

impl Modify for TelephonyPaths {
    #[cfg_attr(
        not(feature = "telephony"),
        expect(unused_variables, reason = "nothing to add without telephony")
    )]
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        #[cfg(feature = "telephony")]
        openapi.merge(TelephonyDoc::openapi());
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `/docs` (Swagger UI) and `/openapi.json`.
pub fn docs() -> Router<AppState> {
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
