//! Orders, the caller's purchases, recommendations and popular products.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use swiftbox_core::{
    IdempotencyKey, NewOrder, NewOrderItem, Order, Page, Placement, PopularQuery, PopularityMetric,
    PurchaseRecord, Recommendation, ScoredProduct, ShippingAddress,
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

/// The header a client retries an order with (see [`place_order`]).
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` header, if sent: 422 when it is not a valid key.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<IdempotencyKey>> {
    let Some(raw) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let raw = raw.to_str().map_err(|_| {
        ApiError::invalid(
            "idempotency_key",
            "must be 1 to 255 visible ASCII characters",
        )
    })?;
    Ok(Some(IdempotencyKey::parse(raw)?))
}

/// `POST /api/orders/`: 201 with the new order. With an `Idempotency-Key` header the order is
/// placed at most once per caller and key: a retry with the same key and body answers 200 with
/// the first order and places nothing; the same key with another body is 422. Keys are kept in
/// the primary store (so every API process agrees) for
/// [`crate::ApiConfig::idempotency_retention`] (24 h by default).
pub(crate) async fn place_order(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewOrderBody>,
) -> ApiResult<impl IntoResponse> {
    let key = idempotency_key(&headers)?;
    let new = NewOrder {
        user: caller.user.id,
        items: b.items,
        shipping: b.shipping,
    };
    let placed = match &key {
        Some(key) => state.store().place_order_once(new, key).await,
        None => state.store().place_order(new).await.map(|order| Placement {
            order,
            replayed: false,
        }),
    }
    .map_err(referenced(swiftbox_core::EntityKind::Product, "items"))?;
    let order = placed.order;
    let status = if placed.replayed {
        tracing::info!(user = %caller.user.id, order = %order.id, "order request replayed");
        StatusCode::OK
    } else {
        tracing::info!(user = %caller.user.id, order = %order.id, "order placed");
        StatusCode::CREATED
    };
    // Read your writes: the next page shows this purchase. The order is placed whatever this
    // says; a graph that is down or slow only delays it (the worker applies it later).
    let wait = state.config().read_your_writes;
    if !wait.is_zero() {
        let entity = swiftbox_core::EntityRef::new(swiftbox_core::EntityKind::Order, order.id);
        if let Err(err) = state
            .backend()
            .wait_synced(&entity, order.version, wait)
            .await
        {
            tracing::warn!(order = %order.id, error = %err, "order placed; the graph will show it later");
        }
    }
    Ok((status, Json(order)))
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
