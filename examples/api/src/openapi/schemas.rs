//! The wire shapes of the `swiftbox-core` types the API sends and takes, for the OpenAPI
//! document only (the library crates do not depend on an OpenAPI generator). Nothing builds
//! these values: the handlers send the core types themselves, and the end-to-end test
//! `responses_match_the_document` checks every answer of a full shopping flow against these
//! schemas, so a field that core adds, drops or renames fails it.
#![allow(missing_docs)] // each field's meaning is in its `description`

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

/// An entity id (a UUID).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(value_type = String, format = Uuid)]
pub struct Id(String);

/// The kinds of entity SwiftBox stores.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EntityKind {
    User,
    Category,
    Product,
    Order,
    Review,
}

/// An exact amount of money. Unknown fields are refused (422 naming them), as for every body.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Amount in minor units (cents).
    pub minor: i64,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: String,
}

/// A user's personal details.
#[derive(Debug, ToSchema)]
pub struct Profile {
    #[schema(max_length = 150)]
    pub display_name: Option<String>,
    #[schema(max_length = 40)]
    pub phone: Option<String>,
    /// Default shipping address, free text.
    #[schema(max_length = 500)]
    pub address: Option<String>,
}

/// A user (the password hash never leaves the primary store).
#[derive(Debug, ToSchema)]
pub struct User {
    pub id: Id,
    pub username: String,
    pub email: String,
    pub profile: Profile,
    pub is_admin: bool,
    pub has_password: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

/// A product category.
#[derive(Debug, ToSchema)]
pub struct Category {
    pub id: Id,
    pub name: String,
    pub parent: Option<Id>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

/// A product for sale.
#[derive(Debug, ToSchema)]
pub struct Product {
    pub id: Id,
    pub name: String,
    pub description: String,
    pub price: Money,
    pub images: Vec<String>,
    pub category: Id,
    /// The category's name.
    pub category_name: String,
    pub stock: i64,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user's rating and comment on a product.
#[derive(Debug, ToSchema)]
pub struct Review {
    pub id: Id,
    pub user: Id,
    pub product: Id,
    #[schema(minimum = 1, maximum = 5)]
    pub rating: u8,
    pub comment: String,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

/// Where an order goes. The service trims text and refuses it blank, so the required fields
/// must hold a character that is not white space (`pattern: \S`).
#[derive(Debug, ToSchema)]
pub struct ShippingAddress {
    #[schema(min_length = 1, pattern = r"\S", max_length = 150)]
    pub name: String,
    #[schema(min_length = 1, pattern = r"\S", max_length = 200)]
    pub line1: String,
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, pattern = r"\S", max_length = 100)]
    pub city: String,
    #[schema(min_length = 1, pattern = r"\S", max_length = 20)]
    pub postal_code: String,
    #[schema(min_length = 1, pattern = r"\S", max_length = 60)]
    pub country: String,
}

/// One line of an order to place.
#[derive(Debug, ToSchema)]
pub struct NewOrderItem {
    pub product: Id,
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

/// One line of a placed order, with the unit price at purchase.
#[derive(Debug, ToSchema)]
pub struct OrderItem {
    pub product: Id,
    pub quantity: i64,
    pub unit_price: Money,
}

/// Payment state of an order.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Paid,
    Failed,
    Refunded,
}

/// Fulfilment state of an order.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
}

/// A placed order.
#[derive(Debug, ToSchema)]
pub struct Order {
    pub id: Id,
    pub user: Id,
    pub items: Vec<OrderItem>,
    pub shipping: ShippingAddress,
    pub payment_status: PaymentStatus,
    pub status: OrderStatus,
    pub total: Money,
    pub placed_at: DateTime<Utc>,
    pub version: u64,
}

/// One page of a list.
#[derive(Debug, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for `?after=` of the next page; null on the last page.
    pub next: Option<String>,
}

/// One line of the caller's purchase history.
#[derive(Debug, ToSchema)]
pub struct PurchaseRecord {
    pub order_id: Id,
    pub product: Id,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub purchased_at: DateTime<Utc>,
}

/// Why a product is recommended.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Bought by users who bought these products of yours.
    CoPurchased { because: Vec<Id> },
    /// Popular in a category you bought from.
    PopularInCategory { category: String },
    /// Popular overall.
    Popular,
}

/// One recommended product.
#[derive(Debug, ToSchema)]
pub struct Recommendation {
    pub product: Id,
    pub name: String,
    pub score: f64,
    pub reason: Reason,
}

/// A product with a score.
#[derive(Debug, ToSchema)]
pub struct ScoredProduct {
    pub product: Id,
    pub name: String,
    pub score: f64,
}
