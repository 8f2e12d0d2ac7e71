//! Orders, the caller's purchases, recommendations and popular products.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use swiftbox_core::{
    NewOrder, NewOrderItem, Order, Page, PopularQuery, PopularityMetric, PurchaseRecord,
    Recommendation, ScoredProduct, ShippingAddress,
};

use crate::auth::{Admin, Caller};
use crate::error::{referenced, ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, LimitParams, PageParams};
use crate::state::AppState;

/// A bounded list answered by a graph query (`?limit=` instead of a cursor).
#[derive(Debug, Serialize)]
pub(crate) struct Items<T> {
    items: Vec<T>,
}

/// Body of `POST /api/orders/`: the caller orders for themselves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrderBody {
    items: Vec<NewOrderItem>,
    shipping: ShippingAddress,
}

pub(crate) async fn place_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<NewOrderBody>,
) -> ApiResult<impl IntoResponse> {
    let order = state
        .store()
        .place_order(NewOrder {
            user: caller.user.id,
            items: b.items,
            shipping: b.shipping,
        })
        .await
        .map_err(referenced(swiftbox_core::EntityKind::Product, "items"))?;
    tracing::info!(user = %caller.user.id, order = %order.id, "order placed");
    Ok((StatusCode::CREATED, Json(order)))
}

pub(crate) async fn my_orders(
    State(state): State<AppState>,
    caller: Caller,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Order>>> {
    Ok(Json(
        state
            .store()
            .list_user_orders(&caller.user.id, page)
            .await?,
    ))
}

pub(crate) async fn admin_orders(
    State(state): State<AppState>,
    Admin(_): Admin,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Order>>> {
    Ok(Json(state.store().list_orders(page).await?))
}

pub(crate) async fn my_purchases(
    State(state): State<AppState>,
    caller: Caller,
    LimitParams(limit): LimitParams,
) -> ApiResult<Json<Items<PurchaseRecord>>> {
    let items = state
        .graph()
        .purchase_history(&caller.user.id, limit)
        .await?;
    Ok(Json(Items { items }))
}

pub(crate) async fn recommendations(
    State(state): State<AppState>,
    caller: Caller,
    LimitParams(limit): LimitParams,
) -> ApiResult<Json<Items<Recommendation>>> {
    let items = state
        .graph()
        .recommendations_for(&caller.user.id, limit)
        .await?;
    Ok(Json(Items { items }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PopularParams {
    category: Option<String>,
    metric: Option<String>,
}

pub(crate) async fn popular(
    State(state): State<AppState>,
    LimitParams(limit): LimitParams,
    ApiQuery(p): ApiQuery<PopularParams>,
) -> ApiResult<Json<Items<ScoredProduct>>> {
    let metric = match p.metric.as_deref() {
        None | Some("") | Some("purchases") => PopularityMetric::Purchases,
        Some("units") => PopularityMetric::Units,
        Some("buyers") => PopularityMetric::Buyers,
        Some(_) => {
            return Err(
                ApiError::bad_request("metric must be purchases, units or buyers")
                    .with_field("metric"),
            )
        }
    };
    let query = PopularQuery {
        category: p.category.filter(|c| !c.is_empty()),
        metric,
        limit,
    };
    let items = state.graph().popular(&query).await?;
    Ok(Json(Items { items }))
}
