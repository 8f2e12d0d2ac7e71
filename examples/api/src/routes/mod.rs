//! The routes: one module per area, assembled by [`router`].

mod auth;
mod catalog;
pub(crate) mod health;
mod metrics;
mod orders;
mod reconcile;
pub(crate) mod set_aside;

use axum::http::StatusCode;
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// The whole API as an axum [`Router`], ready for [`axum::serve()`].
///
/// Paths end with a slash, as the seed's did (`/api/products/`); the same path without it is
/// 404 with code `no_route`. Every request goes through the tower-http stack of
/// [`crate::layers`]: a request id, a trace span, a timeout, a body limit and compression.
///
/// Besides the documented API, it serves the operator's dashboard under `/admin/`
/// ([`crate::dashboard`]): HTML and assets, not JSON, so not in the OpenAPI document; the
/// dashboard's own list of its routes ([`crate::dashboard::ROUTES`]) is the one exception the
/// route tests allow.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    let routes = routes
        .merge(crate::dashboard::routes())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed);
    crate::layers::apply(routes, &state).with_state(state)
}

/// Every endpoint, each registered from its handler's `#[utoipa::path]` (path, method and
/// description in one place), so the router and [`crate::openapi::document`] list the same
/// operations.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(openapi))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(catalog::list_products, catalog::create_product))
        .routes(routes!(
            catalog::get_product,
            catalog::update_product,
            catalog::delete_product
        ))
        .routes(routes!(catalog::list_reviews, catalog::create_review))
        .routes(routes!(catalog::view_product))
        .routes(routes!(catalog::list_categories, catalog::create_category))
        .routes(routes!(orders::my_orders, orders::place_order))
        .routes(routes!(orders::admin_orders))
        .routes(routes!(set_aside::list))
        .routes(routes!(set_aside::release))
        .routes(routes!(reconcile::check))
        .routes(routes!(reconcile::repair))
        .routes(routes!(reconcile::resync_status, reconcile::start_resync))
        .routes(routes!(orders::my_purchases))
        .routes(routes!(orders::recommendations))
        .routes(routes!(orders::popular))
        .routes(routes!(metrics::metrics))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint (paths end with a slash; see /api/openapi.json)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}
