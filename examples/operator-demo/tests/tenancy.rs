//! Layer 9 of the demo: the organization of the verified principal becomes
//! the tenant; one that does not exist (a token outliving its organization)
//! is 404 problem+json before any handler runs.

use axum::{Router, body::Body, http::Request, routing::get};
use http_body_util::BodyExt;
use operator_demo::{
    auth::{Principal, Role},
    db::{
        Db, DbConfig,
        seed::{SeedPlan, org_id, seed},
    },
    tenancy::tenant_layer,
};
use tower::ServiceExt;

async fn whose_tenant() -> String {
    rampart::tenant::current_tenant()
        .map(|tenant| tenant.id().as_str().to_owned())
        .unwrap_or_else(|| "none".to_owned())
}

fn request(org: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/whoami").body(Body::empty()).unwrap();
    if let Some(org) = org {
        request.extensions_mut().insert(Principal {
            user_id: "u1".into(),
            org_id: org.into(),
            role: Role::Agent,
        });
    }
    request
}

async fn send(router: &Router, request: Request<Body>) -> (u16, String, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn the_principals_organization_is_the_tenant_and_a_vanished_one_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&DbConfig::embedded(dir.path())).await.unwrap();
    db.migrate_up().await.unwrap();
    seed(
        &db,
        SeedPlan {
            orgs: 2,
            users_per_org: 1,
        },
        "$argon2id$placeholder",
    )
    .await
    .unwrap();
    let layer = tenant_layer(Some(db)).unwrap();
    let router = Router::new()
        .route("/whoami", get(whose_tenant))
        .layer(layer.clone());

    for org in [org_id(1), org_id(2)] {
        let (status, _, body) = send(&router, request(Some(&org))).await;
        assert_eq!((status, body.as_str()), (200, org.as_str()));
    }
    // Public routes have no principal, and pass without a tenant.
    assert_eq!(send(&router, request(None)).await.0, 200);
    // A well-formed id that no organization has.
    let (status, content_type, body) = send(&router, request(Some("no-such-org"))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(content_type, "application/problem+json");
    // Not a tenant id at all (a forged principal could not get here, but
    // the layer must not panic or 500 on one).
    let (status, _, _) = send(&router, request(Some("a b/c"))).await;
    assert_eq!(status, 400);
    let stats = layer.stats();
    assert_eq!(stats.get(rampart::tenant::TenantCounter::Unknown), 1);
    assert_eq!(stats.get(rampart::tenant::TenantCounter::Invalid), 1);
    assert_eq!(stats.get(rampart::tenant::TenantCounter::FromPrincipal), 3);
}
