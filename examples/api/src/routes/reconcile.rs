//! The reconciler for operators (administrators only): `GET /api/admin/drift/` runs the drift
//! check (`Reconciler::check`), `POST /api/admin/drift/repair/` repairs what a fresh check finds
//! (`Reconciler::repair`), `POST /api/admin/resync/` starts a full resync in the background
//! (`Reconciler::resync`; one at a time) and `GET /api/admin/resync/` shows its progress. The
//! work itself is [`crate::operator`]'s, shared with the dashboard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::auth::Admin;
use crate::error::ApiResult;
use crate::operator::{self, DriftSummary, RepairSummary, ResyncStatus};
use crate::state::AppState;

#[utoipa::path(
    get,
    path = "/api/admin/drift/",
    tag = "admin",
    summary = "Drift between the graph and the primary store, entity by entity (the reconciler's check)",
    description = "Compares every entity's expected graph record with the graph's: missing, extra and stale entities (a change still owed counts until it is applied). Reads both stores whole: an operator's tool, not a probe.",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "what differs", body = DriftSummary))
)]
pub(crate) async fn check(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> ApiResult<Json<DriftSummary>> {
    Ok(Json(operator::check(state.backend()).await?))
}

#[utoipa::path(
    post,
    path = "/api/admin/drift/repair/",
    tag = "admin",
    summary = "Check, then repair exactly the drift found (the reconciler's repair)",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "what was found and repaired", body = RepairSummary))
)]
pub(crate) async fn repair(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> ApiResult<Json<RepairSummary>> {
    tracing::info!(admin = %admin.user.id, "drift repair requested");
    Ok(Json(operator::repair(state.backend()).await?))
}

#[utoipa::path(
    get,
    path = "/api/admin/resync/",
    tag = "admin",
    summary = "Progress of the full resync (idle, running, finished or failed)",
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "the resync job", body = ResyncStatus))
)]
pub(crate) async fn resync_status(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> Json<ResyncStatus> {
    Json(state.operator().resync.status())
}

#[utoipa::path(
    post,
    path = "/api/admin/resync/",
    tag = "admin",
    summary = "Start rebuilding the graph from the primary store in the background (one at a time)",
    description = "Answers at once with the job's status; follow it with GET /api/admin/resync/. While a resync runs, another is refused with 409 `resync_running`.",
    security(("bearer" = ["admin"])),
    responses(
        (status = 202, description = "started", body = ResyncStatus),
        (status = 409, description = "a resync is already running (code `resync_running`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn start_resync(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> ApiResult<(StatusCode, Json<ResyncStatus>)> {
    let status = state.operator().resync.start(state.shared_backend())?;
    tracing::info!(admin = %admin.user.id, "resync requested");
    Ok((StatusCode::ACCEPTED, Json(status)))
}
