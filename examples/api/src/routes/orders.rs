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
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::error::{referenced, ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, LimitParams, PageParams, RawLimit, RawPage};
use crate::openapi::schemas;
use crate::state::AppState;

/// A bounded list answered by a graph query (`?limit=` instead of a cursor).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Items<T> {
    items: Vec<T>,
}

/// Body of `POST /api/orders/`: the caller orders for themselves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrderBody {
    /// 1..=100 lines, each product at most once.
    #[schema(value_type = Vec<schemas::NewOrderItem>, min_items = 1, max_items = 100)]
    items: Vec<NewOrderItem>,
    #[schema(value_type = schemas::ShippingAddress)]
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
#[utoipa::path(
    post,
    path = "/api/orders/",
    tag = "orders",
    summary = "Place an order for the caller (at most once per Idempotency-Key)",
    security(("bearer" = [])),
    params((
        "Idempotency-Key" = Option<String>,
        Header,
        description = "a key of the client's choosing (e.g. a UUID) for one order attempt: a retry with the same key and body answers 200 with the first order and places nothing; the same key with another body is 422. Kept 24 h.",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )),
    request_body = NewOrderBody,
    responses(
        (status = 201, description = "placed", body = schemas::Order),
        (status = 200, description = "a retry: the order placed earlier with this Idempotency-Key (nothing placed now)", body = schemas::Order),
        (status = 409, description = "not enough stock (`field` is `items`)", body = ErrorBody),
    )
)]
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

/// The caller's orders.
#[utoipa::path(
    get,
    path = "/api/orders/",
    tag = "orders",
    security(("bearer" = [])),
    params(RawPage),
    responses((status = 200, description = "a page of orders", body = schemas::Page<schemas::Order>))
)]
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

/// Every order.
#[utoipa::path(
    get,
    path = "/api/admin/orders/",
    tag = "admin",
    security(("bearer" = ["admin"])),
    params(RawPage),
    responses((status = 200, description = "a page of orders", body = schemas::Page<schemas::Order>))
)]
pub(crate) async fn admin_orders(
    State(state): State<AppState>,
    Admin(_): Admin,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Order>>> {
    Ok(Json(state.store().list_orders(page).await?))
}

/// The caller's purchases from the graph, newest first.
#[utoipa::path(
    get,
    path = "/api/my-purchases/",
    tag = "graph",
    security(("bearer" = [])),
    params(RawLimit),
    responses((status = 200, description = "the purchases", body = Items<schemas::PurchaseRecord>))
)]
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

/// Personalised recommendations for the caller.
#[utoipa::path(
    get,
    path = "/api/recommendations/",
    tag = "graph",
    security(("bearer" = [])),
    params(RawLimit),
    responses((status = 200, description = "the recommendations, best first", body = Items<schemas::Recommendation>))
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PopularParams {
    /// Only products of this category (its name).
    category: Option<String>,
    /// What makes a product popular: `purchases` (default), `units` or `buyers`.
    #[param(value_type = Option<Metric>, inline)]
    metric: Option<String>,
}

/// The `metric` of `GET /api/popular/`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes the parameter, which the handler checks as a string
pub(crate) enum Metric {
    Purchases,
    Units,
    Buyers,
}

/// Most popular products.
#[utoipa::path(
    get,
    path = "/api/popular/",
    tag = "graph",
    params(RawLimit, PopularParams),
    responses((status = 200, description = "the products, most popular first", body = Items<schemas::ScoredProduct>))
)]
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
