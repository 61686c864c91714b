//! `PUT /api/v1/calls/{id}/disposition`: how a call ended, in the agent's words.

use serde_json::Value;

use super::prelude::*;

/// The dispositions an agent can record.
pub const DISPOSITIONS: [&str; 8] = [
    "answered",
    "no_answer",
    "busy",
    "voicemail",
    "callback",
    "not_interested",
    "interested",
    "wrong_number",
];

/// `disposition`'s schema: one of [`DISPOSITIONS`].
fn disposition_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(DISPOSITIONS))
        .build()
}

/// `custom_fields`' schema: an object of at most 50 members named by 1 to
/// 64 characters (the 8 KiB bound has no JSON Schema keyword).
fn custom_fields_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{
        ObjectBuilder, Type,
        schema::{AdditionalProperties, SchemaType},
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .max_properties(Some(validate::MAX_CUSTOM_FIELDS))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64)),
        ))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .build()
}

/// What a client sends.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionInput {
    /// One of `answered`, `no_answer`, `busy`, `voicemail`, `callback`,
    /// `not_interested`, `interested`, `wrong_number`.
    #[schema(schema_with = disposition_schema, example = "answered")]
    pub disposition: String,
    /// Up to 5,000 characters once trimmed, no control characters other
    /// than tab and newline.
    #[schema(max_length = 5000, pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$")]
    pub notes: Option<String>,
    /// A JSON object: at most 50 members whose names are 1 to 64
    /// characters, 8 KiB as JSON.
    #[schema(schema_with = custom_fields_schema)]
    pub custom_fields: Option<Value>,
}

/// A call's disposition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Disposition {
    /// The call (UUID).
    #[schema(format = Uuid)]
    pub call_id: String,
    /// How it ended.
    pub disposition: String,
    /// The agent's notes.
    pub notes: String,
    /// The organization's own fields.
    #[schema(value_type = Object)]
    pub custom_fields: Value,
    /// Who recorded it.
    pub updated_by: String,
    /// When (Unix seconds).
    pub updated_at: i64,
}

/// Record a call's disposition.
///
/// `PUT /api/v1/calls/{id}/disposition`: records (or replaces) the call's
/// disposition; 404 when the call is not the organization's.
#[utoipa::path(put, path = "/api/v1/calls/{id}/disposition", tag = "sessions",
    params(("id" = String, Path, format = Uuid)), request_body = DispositionInput,
    responses((status = 200, body = Disposition), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_disposition(
    State(state): State<AppState>,
    principal: Principal,
    Id(call_id): Id,
    JsonBody(input): JsonBody<DispositionInput>,
) -> Result<Json<Disposition>, ApiError> {
    let disposition = validate::one_of("disposition", &input.disposition, &DISPOSITIONS)?;
    let notes = match &input.notes {
        Some(notes) => validate::text("notes", notes, 0, 5000)?,
        None => String::new(),
    };
    let custom_fields = match &input.custom_fields {
        Some(value) => validate::custom_fields("custom_fields", value)?,
        None => "{}".to_owned(),
    };
    let db = state.db()?;
    let org = &principal.org_id;
    let at = now();
    let mut tx = db.write_tx(org).await?;
    let found: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE organization_id = $1 AND id = $2")
            .bind(org)
            .bind(&call_id)
            .fetch_one(&mut *tx)
            .await?;
    if found == 0 {
        return Err(ApiError::NotFound("call"));
    }
    let row = sqlx::query(
        "INSERT INTO call_dispositions (call_id, organization_id, disposition, notes, \
         custom_fields, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (call_id) DO UPDATE SET disposition = excluded.disposition, \
         notes = excluded.notes, custom_fields = excluded.custom_fields, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at \
         RETURNING custom_fields",
    )
    .bind(&call_id)
    .bind(org)
    .bind(disposition)
    .bind(&notes)
    .bind(&custom_fields)
    .bind(&principal.user_id)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let stored: String = row.try_get(0)?;
    let custom_fields = serde_json::from_str(&stored)
        .map_err(|err| ApiError::Internal(format!("stored custom_fields: {err}")))?;
    Ok(Json(Disposition {
        call_id,
        disposition: disposition.to_owned(),
        notes,
        custom_fields,
        updated_by: principal.user_id,
        updated_at: at,
    }))
}
