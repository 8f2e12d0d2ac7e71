//! Products, categories, reviews and views.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use swiftbox_core::{
    Category, CategoryId, EntityKind, Money, NewCategory, NewProduct, NewReview, Page, Product,
    ProductId, ProductPatch, ProductQuery, Review,
};

use crate::auth::{Admin, Caller};
use crate::error::{referenced, ApiError, ApiResult};
use crate::extract::{parse_id, ApiJson, ApiQuery, PageParams};
use crate::state::AppState;

// ---- products ----

#[derive(Debug, Deserialize)]
pub(crate) struct CategoryFilter {
    category: Option<String>,
}

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

/// Body of `POST /api/products/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProductBody {
    name: String,
    #[serde(default)]
    description: String,
    price: Money,
    #[serde(default)]
    images: Vec<String>,
    category: CategoryId,
    #[serde(default)]
    stock: i64,
}

pub(crate) async fn create_product(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(b): ApiJson<NewProductBody>,
) -> ApiResult<impl IntoResponse> {
    let new = NewProduct {
        name: b.name,
        description: b.description,
        price: b.price,
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

pub(crate) async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    Ok(Json(state.store().get_product(&id).await?))
}

/// Body of `PUT /api/products/{id}/`: the fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatchBody {
    name: Option<String>,
    description: Option<String>,
    price: Option<Money>,
    images: Option<Vec<String>>,
    category: Option<CategoryId>,
    stock: Option<i64>,
}

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
        price: b.price,
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

pub(crate) async fn list_categories(
    State(state): State<AppState>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Category>>> {
    Ok(Json(state.store().list_categories(page).await?))
}

/// Body of `POST /api/categories/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCategoryBody {
    name: String,
    #[serde(default)]
    parent: Option<CategoryId>,
}

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

pub(crate) async fn list_reviews(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageParams(page): PageParams,
) -> ApiResult<Json<Page<Review>>> {
    let id: ProductId = parse_id(&id, EntityKind::Product)?;
    Ok(Json(state.store().list_product_reviews(&id, page).await?))
}

/// Body of `POST /api/products/{id}/reviews/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewReviewBody {
    rating: i64,
    #[serde(default)]
    comment: String,
}

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
