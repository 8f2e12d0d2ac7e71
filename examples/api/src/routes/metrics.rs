//! `GET /metrics`: the service's metrics in the Prometheus text format (see
//! [`crate::exporter`] and the README for each metric). Public, like `/api/health/`, and cheap:
//! the primary store's counts (no graph query), bounded by [`crate::ApiConfig::health_timeout`].

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::health::bounded;
use crate::state::AppState;

/// The Prometheus text format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics page.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((
        status = 200,
        description = "HTTP and sync metrics in the Prometheus text format (0.0.4)",
        body = String,
        content_type = "text/plain"
    ))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let limit = state.config().health_timeout;
    let stats = match bounded("primary", limit, state.backend().sync_stats()).await {
        Ok(stats) => Some(stats),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: sync counts unavailable");
            None
        }
    };
    let page = state
        .metrics()
        .render(&state.backend().sync_metrics(), stats.as_ref());
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], page)
}
