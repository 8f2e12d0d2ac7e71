//! The operators' view of poison: `GET /api/admin/set-aside/` lists the changes the sync worker
//! set aside (with their last error, attempts, retries and next retry time) and
//! `POST /api/admin/set-aside/release/` puts one, or all, back in line. Administrators only.
//!
//! A set-aside change is retried by the worker on its own after a cool-down; a release is for
//! the changes whose retries are used up (`retry_at` null) once their cause is fixed, or to
//! retry at once.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use swiftbox_core::{EntityKind, EntityRef, OwedChange};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_limit, ApiJson, ApiQuery, PageParams};
use crate::openapi::schemas;

use crate::state::AppState;

/// One set-aside change as the list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SetAsideItem {
    #[schema(value_type = schemas::EntityKind)]
    pub(crate) kind: EntityKind,
    #[schema(format = Uuid)]
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) owed_since: DateTime<Utc>,
    /// Failed applies before it was set aside.
    pub(crate) attempts: u32,
    /// Failed retries since.
    pub(crate) retries: u32,
    /// Next retry; null once the retries are used up.
    pub(crate) retry_at: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
}

impl From<OwedChange> for SetAsideItem {
    fn from(c: OwedChange) -> Self {
        Self {
            kind: c.entity.kind,
            id: c.entity.id,
            version: c.version,
            owed_since: c.owed_since,
            attempts: c.attempts,
            retries: c.retries,
            retry_at: c.retry_at,
            last_error: c.last_error,
        }
    }
}

/// The list, longest owed first (`?limit=` as for other lists: 1..=200, default 50).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SetAsideList {
    items: Vec<SetAsideItem>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// How many, 1..=200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/admin/set-aside/",
    tag = "admin",
    summary = "Changes the sync worker set aside as poison, longest owed first",
    description = "With their last error, attempts, retries and next retry time (null: retries used up).",
    security(("bearer" = ["admin"])),
    params(ListParams),
    responses((status = 200, description = "the set-aside changes", body = SetAsideList))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<SetAsideList>> {
    let limit = parse_limit(
        params.limit.as_deref(),
        PageParams::DEFAULT_LIMIT,
        PageParams::MAX_LIMIT,
    )?;
    let items = state.backend().set_aside(limit as usize).await?;
    Ok(Json(SetAsideList {
        items: items.into_iter().map(SetAsideItem::from).collect(),
    }))
}

/// Body of the release: `{"kind": "product", "id": "<uuid>"}` for one entity's change, or
/// `{"all": true}` for every set-aside change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseBody {
    #[schema(value_type = Option<schemas::EntityKind>)]
    kind: Option<EntityKind>,
    #[schema(format = Uuid)]
    id: Option<String>,
    all: Option<bool>,
}

impl ReleaseBody {
    /// The entity to release, or `None` for all; 422 naming the field otherwise.
    fn target(self) -> Result<Option<EntityRef>, ApiError> {
        match (self.kind, self.id, self.all) {
            (None, None, Some(true)) => Ok(None),
            (Some(kind), Some(id), None | Some(false)) => {
                if uuid_like(&id) {
                    Ok(Some(EntityRef::new(kind, id)))
                } else {
                    Err(ApiError::invalid("id", "id: not an entity id"))
                }
            }
            (_, _, Some(true)) => Err(ApiError::invalid(
                "all",
                "all: give either all or kind and id, not both",
            )),
            (None, _, _) => Err(ApiError::invalid(
                "kind",
                "kind: required to release one change (or give \"all\": true)",
            )),
            (Some(_), None, _) => Err(ApiError::invalid("id", "id: required with kind")),
        }
    }
}

/// Ids are UUIDs; anything else names no entity.
fn uuid_like(id: &str) -> bool {
    id.parse::<swiftbox_core::UserId>().is_ok()
}

/// How many changes went back in line.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Released {
    released: u64,
}

/// 200 with the number released (0 when the entity's change is not set aside: releasing is
/// idempotent).
#[utoipa::path(
    post,
    path = "/api/admin/set-aside/release/",
    tag = "admin",
    summary = "Put one entity's set-aside change (kind and id), or all of them, back in line for the sync worker",
    security(("bearer" = ["admin"])),
    request_body = ReleaseBody,
    responses((status = 200, description = "how many changes went back in line (0: none was set aside)", body = Released))
)]
pub(crate) async fn release(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> ApiResult<Json<Released>> {
    let released = release_target(&state, &admin, body).await?;
    Ok(Json(Released { released }))
}

/// Releases what `body` names on behalf of `admin` (the release endpoint and the dashboard's
/// release button): how many changes went back in line.
pub(crate) async fn release_target(
    state: &AppState,
    admin: &Caller,
    body: ReleaseBody,
) -> ApiResult<u64> {
    let target = body.target()?;
    let released = state.backend().release_set_aside(target.as_ref()).await?;
    tracing::info!(admin = %admin.user.id, entity = ?target, released, "set-aside changes released");
    Ok(released)
}
