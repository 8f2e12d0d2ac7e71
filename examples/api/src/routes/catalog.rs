//! Products, categories, reviews and views.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use swiftbox_core::{
    Category, CategoryId, Currency, EntityKind, Money, NewCategory, NewProduct, NewReview, Page,
    Product, ProductId, ProductPatch, ProductQuery, Review,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::error::{referenced, ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, PageParams, RawPage};
use crate::openapi::schemas;
use crate::state::AppState;

// ---- products ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CategoryFilter {
    /// Only products of this category (its id).
    #[param(format = Uuid)]
    category: Option<String>,
}

/// List products, optionally of one category.
#[utoipa::path(
    get,
    path = "/api/products/",
    tag = "catalog",
    params(RawPage, CategoryFilter),
    responses((status = 200, description = "a page of products", body = schemas::Page<schemas::Product>))
)]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    PageParams(page): PageParams,
    ApiQuery(filter): ApiQuery<CategoryFilter>,
) -> ApiResult<Json<Page<Product>>> {
    let category = match filter.category.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<CategoryId>().map_err(|_| {
            ApiError::bad_request("category must be a category id").with_field("category")
        })?),
        None => None,
    };
    let page = state
        .store()
        .list_products(ProductQuery { category, page })
        .await?;
    Ok(Json(page))
}

/// A price in a request body: [`Money`]'s wire shape, `{"minor": 1999, "currency": "EUR"}`,
/// with unknown fields refused (422 naming them, as everywhere else in a body). `Money` itself
/// stays lenient: it is also how the stores read prices back.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    minor: i64,
    currency: Currency,
}

impl From<PriceBody> for Money {
    fn from(p: PriceBody) -> Self {
        Money::new(p.minor, p.currency)
    }
}

/// Body of `POST /api/products/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProductBody {
    #[schema(min_length = 1, pattern = r"\S", max_length = 200)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    description: String,
    #[schema(value_type = schemas::Money)]
    price: PriceBody,
    /// Image URLs (http or https).
    #[serde(default)]
    #[schema(max_items = 20)]
    images: Vec<String>,
    #[schema(value_type = schemas::Id)]
    category: CategoryId,
    #[serde(default)]
    #[schema(minimum = 0)]
    stock: i64,
}

/// Create a product.
#[utoipa::path(
    post,
    path = "/api/products/",
    tag = "catalog",
    security(("bearer" = ["admin"])),
    request_body = NewProductBody,
    responses((status = 201, description = "created", body = schemas::Product))
)]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(b): ApiJson<NewProductBody>,
) -> ApiResult<impl IntoResponse> {
    let new = NewProduct {
        name: b.name,
        description: b.description,
        price: b.price.into(),
        images: b.images,
        category: b.category,
        stock: b.stock,
    };
    let p = state
        .store()
        .create_product(new)
        .await
        .map_err(referenced(EntityKind::Category, "category"))?;
    tracing::info!(admin = %admin.user.id, product = %p.id, "product created");
    Ok((StatusCode::CREATED, Json(p)))
}

/// One product.
#[utoipa::path(
    get,
    path = "/api/products/{id}/",
    tag = "catalog",
    params(("id" = schemas::Id, Path, description = "product id")),
    responses((status = 200, description = "the product", body = schemas::Product))
)]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    Ok(Json(state.store().get_product(&id).await?))
}

/// Body of `PUT /api/products/{id}/`: the fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatchBody {
    #[schema(min_length = 1, pattern = r"\S", max_length = 200)]
    name: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[schema(value_type = Option<schemas::Money>)]
    price: Option<PriceBody>,
    #[schema(max_items = 20)]
    images: Option<Vec<String>>,
    #[schema(value_type = Option<schemas::Id>)]
    category: Option<CategoryId>,
    #[schema(minimum = 0)]
    stock: Option<i64>,
}

/// Change a product (absent fields stay as they are).
#[utoipa::path(
    put,
    path = "/api/products/{id}/",
    tag = "catalog",
    security(("bearer" = ["admin"])),
    params(("id" = schemas::Id, Path, description = "product id")),
    request_body = ProductPatchBody,
    responses((status = 200, description = "the changed product", body = schemas::Product))
)]
pub(crate) async fn update_product(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProductPatchBody>,
) -> ApiResult<Json<Product>> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    let patch = ProductPatch {
        name: b.name,
        description: b.description,
        price: b.price.map(Money::from),
        images: b.images,
        category: b.category,
        stock: b.stock,
    };
    let p = state
        .store()
        .update_product(&id, patch)
        .await
        .map_err(referenced(EntityKind::Category, "category"))?;
    Ok(Json(p))
}

/// Delete a product (and its graph node).
#[utoipa::path(
    delete,
    path = "/api/products/{id}/",
    tag = "catalog",
    security(("bearer" = ["admin"])),
    params(("id" = schemas::Id, Path, description = "product id")),
    responses((status = 204, description = "deleted"))
)]
pub(crate) async fn delete_product(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    state.store().delete_product(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/products/{id}/view/`: records that the caller viewed the product, in the graph
/// (views are behavioural events that live only there).
#[utoipa::path(
    post,
    path = "/api/products/{id}/view/",
    tag = "catalog",
    summary = "Record that the caller viewed the product (graph VIEWED)",
    security(("bearer" = [])),
    params(("id" = schemas::Id, Path, description = "product id")),
    responses((status = 204, description = "recorded"))
)]
pub(crate) async fn view_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    // The primary store decides whether the product exists; the graph may lag behind it.
    state.store().get_product(&id).await?;
    match state.backend().record_view(&caller.user.id, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(swiftbox_core::Error::NotFound { .. }) => Err(ApiError::unavailable(
            "the graph has not caught up with this product or user yet, retry shortly",
        )),
        Err(e) => Err(e.into()),
    }
}

// ---- categories ----

/// List categories.
#[utoipa::path(
    get,
    path = "/api/categories/",
    tag = "catalog",
    params(RawPage),
    responses((status = 200, description = "a page of categories", body = schemas::Page<schemas::Category>))
)]
pub(crate) async fn list_categories(
    State(state): State<AppState>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Category>>> {
    Ok(Json(state.store().list_categories(page).await?))
}

/// Body of `POST /api/categories/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCategoryBody {
    /// Unique name.
    #[schema(min_length = 1, pattern = r"\S", max_length = 100)]
    name: String,
    /// Parent category, which must exist.
    #[serde(default)]
    #[schema(value_type = Option<schemas::Id>)]
    parent: Option<CategoryId>,
}

/// Create a category.
#[utoipa::path(
    post,
    path = "/api/categories/",
    tag = "catalog",
    security(("bearer" = ["admin"])),
    request_body = NewCategoryBody,
    responses(
        (status = 201, description = "created", body = schemas::Category),
        (status = 409, description = "the name is taken", body = ErrorBody),
    )
)]
pub(crate) async fn create_category(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiJson(b): ApiJson<NewCategoryBody>,
) -> ApiResult<impl IntoResponse> {
    let c = state
        .store()
        .create_category(NewCategory {
            name: b.name,
            parent: b.parent,
        })
        .await
        .map_err(referenced(EntityKind::Category, "parent"))?;
    Ok((StatusCode::CREATED, Json(c)))
}

// ---- reviews ----

/// A product's reviews.
#[utoipa::path(
    get,
    path = "/api/products/{id}/reviews/",
    tag = "catalog",
    params(("id" = schemas::Id, Path, description = "product id"), RawPage),
    responses((status = 200, description = "a page of reviews", body = schemas::Page<schemas::Review>))
)]
pub(crate) async fn list_reviews(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Review>>> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    Ok(Json(state.store().list_product_reviews(&id, page).await?))
}

/// Body of `POST /api/products/{id}/reviews/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewReviewBody {
    #[schema(minimum = 1, maximum = 5)]
    rating: i64,
    #[serde(default)]
    #[schema(max_length = 5000)]
    comment: String,
}

/// Review a product (once per user).
#[utoipa::path(
    post,
    path = "/api/products/{id}/reviews/",
    tag = "catalog",
    security(("bearer" = [])),
    params(("id" = schemas::Id, Path, description = "product id")),
    request_body = NewReviewBody,
    responses(
        (status = 201, description = "created", body = schemas::Review),
        (status = 409, description = "the caller reviewed this product already", body = ErrorBody),
    )
)]
pub(crate) async fn create_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<NewReviewBody>,
) -> ApiResult<impl IntoResponse> {
    let product: ProductId = parse_id(&id, EntityKind::Product)?;
    let r = state
        .store()
        .create_review(NewReview {
            user: caller.user.id,
            product,
            rating: b.rating,
            comment: b.comment,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}
