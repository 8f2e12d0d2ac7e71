//! The routes: one module per area, assembled by [`router`].

mod auth;
mod catalog;
mod health;
mod orders;
mod set_aside;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::ApiError;
use crate::state::AppState;

/// The whole API as an axum [`Router`], ready for [`axum::serve()`].
///
/// Paths end with a slash, as the seed's did (`/api/products/`); the same path without it is
/// 404 with code `no_route`. Bodies larger than [`crate::ApiConfig::max_body_bytes`] are refused
/// with 413 before they are read in full.
pub fn router(state: AppState) -> Router {
    let limit = state.config().max_body_bytes;
    Router::new()
        .route("/api/health/", get(health::health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/auth/signup/", post(auth::signup))
        .route("/api/auth/login/", post(auth::login))
        .route("/api/auth/logout/", post(auth::logout))
        .route("/api/auth/me/", get(auth::me))
        .route(
            "/api/products/",
            get(catalog::list_products).post(catalog::create_product),
        )
        .route(
            "/api/products/{id}/",
            get(catalog::get_product)
                .put(catalog::update_product)
                .delete(catalog::delete_product),
        )
        .route(
            "/api/products/{id}/reviews/",
            get(catalog::list_reviews).post(catalog::create_review),
        )
        .route("/api/products/{id}/view/", post(catalog::view_product))
        .route(
            "/api/categories/",
            get(catalog::list_categories).post(catalog::create_category),
        )
        .route(
            "/api/orders/",
            get(orders::my_orders).post(orders::place_order),
        )
        .route("/api/admin/orders/", get(orders::admin_orders))
        .route("/api/admin/set-aside/", get(set_aside::list))
        .route("/api/admin/set-aside/release/", post(set_aside::release))
        .route("/api/my-purchases/", get(orders::my_purchases))
        .route("/api/recommendations/", get(orders::recommendations))
        .route("/api/popular/", get(orders::popular))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn openapi() -> Json<serde_json::Value> {
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
