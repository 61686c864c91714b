//! The shapes every handler of the organization's rows repeats: one row
//! read or changed and answered as JSON (404 when the organization has no
//! such row), a row deleted, a page of a list with its total.

use axum::{Json, http::StatusCode};
use sqlx::{
    Any, Row, Transaction,
    any::{AnyArguments, AnyRow},
    query::Query,
};

use super::{ApiError, List, Page};
use crate::{app::AppState, db::Freshness};

/// Turns a row of a table into what the API answers.
pub(super) type FromRow<T> = fn(&AnyRow) -> Result<T, sqlx::Error>;

/// Runs `query` in `tx`, commits, and answers its row through `from_row`,
/// or 404 naming `what` when there is none. For the statements that touch
/// at most one row of the organization: a `SELECT` by id, or an
/// `UPDATE ... WHERE organization_id = $1 AND id = $2 RETURNING ...`, so
/// that an update and the answer are one round trip.
pub(super) async fn fetch_owned<T>(
    mut tx: Transaction<'static, Any>,
    query: Query<'_, Any, AnyArguments>,
    what: &'static str,
    from_row: FromRow<T>,
) -> Result<Json<T>, ApiError> {
    let row = query.fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    owned(row, what, from_row)
}

/// The organization's row through `from_row`, or 404 naming `what`.
fn owned<T>(
    row: Option<AnyRow>,
    what: &'static str,
    from_row: FromRow<T>,
) -> Result<Json<T>, ApiError> {
    let row = row.ok_or(ApiError::NotFound(what))?;
    Ok(Json(from_row(&row)?))
}

/// Reads organization `org_id`'s row `id` with `select` (`SELECT ... WHERE
/// organization_id = $1 AND id = $2`) in a read transaction, through
/// [`Db::read`](crate::db::Db::read): with [`Freshness::MayLag`] on the
/// replica when there is one, retried once on the primary when the replica
/// fails mid-query or cancels it for recovery.
pub(super) async fn read_row(
    state: &AppState,
    org_id: &str,
    freshness: Freshness,
    select: &'static str,
    id: &str,
) -> Result<Option<AnyRow>, ApiError> {
    let (org, id) = (org_id.to_owned(), id.to_owned());
    let row = state
        .db()?
        .read(org_id, freshness, |tx| {
            let (org, id) = (org.clone(), id.clone());
            Box::pin(async move {
                sqlx::query(select)
                    .bind(org)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
            })
        })
        .await?;
    Ok(row)
}

/// [`read_row`], answered through `from_row`, or 404 naming `what` when
/// the organization has no such row.
pub(super) async fn read_owned<T>(
    state: &AppState,
    org_id: &str,
    freshness: Freshness,
    select: &'static str,
    id: &str,
    what: &'static str,
    from_row: FromRow<T>,
) -> Result<Json<T>, ApiError> {
    let row = read_row(state, org_id, freshness, select, id).await?;
    owned(row, what, from_row)
}

/// Runs `delete` (`DELETE FROM <table> WHERE organization_id = $1 AND id = $2`)
/// in organization `org_id`'s write transaction: `204`, or `404` naming
/// `what` when the organization has no such row.
pub(super) async fn delete_owned(
    state: &AppState,
    org_id: &str,
    delete: &'static str,
    id: &str,
    what: &'static str,
) -> Result<StatusCode, ApiError> {
    let db = state.db()?;
    let mut tx = db.write_tx(org_id).await?;
    let deleted = sqlx::query(delete)
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if deleted == 0 {
        return Err(ApiError::NotFound(what));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A page of organization `org_id`'s rows and their total, in one statement
/// (one round trip) of this form:
///
/// ```sql
/// SELECT n.total, p.* FROM
///   (SELECT COUNT(*) AS total FROM t WHERE organization_id = $1) n
///   LEFT JOIN (SELECT ... FROM t WHERE organization_id = $1
///              ORDER BY id LIMIT $2 OFFSET $3) p ON TRUE
/// ORDER BY p.id
/// ```
///
/// The count is its own aggregate (an index scan of the organization's
/// entries), so it is right for a page past the end too: that page is one
/// row with the total and nulls, which `list_page` turns into no items. A
/// `COUNT(*) OVER ()` beside the page's columns would give no total at all
/// for an empty page, and would read every row of the organization in full
/// (wide text columns included) before the `LIMIT`: on 5,000 campaigns of
/// 1.4 kB it took 55 ms against 8 ms for this form (EXPLAIN ANALYZE,
/// docs/performance.md).
///
/// Runs in a read transaction of the organization (on the replica when
/// there is one, else or when it fails on the primary).
pub(super) async fn list_page<T>(
    state: &AppState,
    org_id: &str,
    sql: &'static str,
    page: Page,
    from_row: FromRow<T>,
) -> Result<Json<List<T>>, ApiError> {
    // Through `Db::read`: a replica that fails mid-query, or cancels the
    // query for a conflict with recovery, is retried once on the primary.
    let org = org_id.to_owned();
    let rows = state
        .db()?
        .read(org_id, Freshness::MayLag, |tx| {
            let org = org.clone();
            Box::pin(async move {
                sqlx::query(sql)
                    .bind(org)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(&mut **tx)
                    .await
            })
        })
        .await?;
    Ok(Json(page_of(&rows, page, from_row)?))
}

/// The rows of a statement of [`list_page`]'s form (`total`, then the
/// page's columns, `id` null in the one row of an empty page) as a list.
pub(super) fn page_of<T>(
    rows: &[AnyRow],
    page: Page,
    from_row: FromRow<T>,
) -> Result<List<T>, sqlx::Error> {
    let total = match rows.first() {
        Some(row) => row.try_get("total")?,
        None => 0,
    };
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if row.try_get::<Option<String>, _>("id")?.is_some() {
            items.push(from_row(row)?);
        }
    }
    Ok(List::new(items, page, total))
}

#[cfg(test)]
mod tests {
    use axum::extract::State;

    use super::*;
    use crate::{
        api::{
            companies,
            testing::{drop_pg, postgres, seeded},
        },
        auth::{Principal, Role},
        db::{Db, DbConfig, new_id, now, seed::org_id},
    };

    fn principal(org: u32) -> Principal {
        Principal {
            user_id: "u1".into(),
            org_id: org_id(org),
            role: Role::Admin,
        }
    }

    /// Names on the page and the total, as `GET /api/v1/companies` answers.
    async fn companies(state: &AppState, org: u32, limit: i64, offset: i64) -> (Vec<String>, i64) {
        let page = Page { limit, offset };
        let Json(list) = companies::list(State(state.clone()), principal(org), page)
            .await
            .unwrap();
        assert_eq!((list.limit, list.offset), (limit, offset));
        (list.items.into_iter().map(|c| c.name).collect(), list.total)
    }

    async fn pages_and_totals(db: Db) {
        let org = org_id(1);
        let mut tx = db.write_tx(&org).await.unwrap();
        for name in ["c2", "c3", "c4", "c5"] {
            sqlx::query(
                "INSERT INTO companies (id, organization_id, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(new_id())
            .bind(&org)
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let state = AppState::new(std::env::temp_dir()).with_db(db.clone());

        let first = "Company of organization 1".to_owned();
        assert_eq!(
            companies(&state, 1, 2, 0).await,
            (vec![first, "c2".into()], 5)
        );
        assert_eq!(
            companies(&state, 1, 2, 2).await,
            (vec!["c3".into(), "c4".into()], 5)
        );
        assert_eq!(companies(&state, 1, 2, 4).await, (vec!["c5".into()], 5));
        // Past the end: no items, and still the total.
        assert_eq!(companies(&state, 1, 2, 5).await, (vec![], 5));
        assert_eq!(companies(&state, 1, 100, 1_000_000).await, (vec![], 5));
        // Another organization's rows are neither listed nor counted.
        assert_eq!(companies(&state, 2, 100, 0).await.1, 1);

        // An organization with no sessions at all: total 0, on any page.
        #[cfg(feature = "telephony")]
        for offset in [0, 10] {
            let page = Page { limit: 5, offset };
            let Json(list) = crate::api::sessions::list(State(state.clone()), principal(1), page)
                .await
                .unwrap();
            assert!(list.items.is_empty());
            assert_eq!(list.total, 0);
        }
    }

    #[tokio::test]
    async fn a_page_and_its_total_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = seeded(&DbConfig::embedded(dir.path()).url).await;
        pages_and_totals(db.clone()).await;
        db.close().await;
    }

    #[tokio::test]
    async fn a_page_and_its_total_on_postgres() {
        let Some((db, url, name)) = postgres().await else {
            return;
        };
        pages_and_totals(db.clone()).await;
        drop_pg(db, &url, &name).await;
    }
}
