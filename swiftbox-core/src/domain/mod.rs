//! The domain of the seed shop: users, categories, products, orders and reviews, their inputs
//! (`New*`, `*Patch`) and the validation every backend runs before it writes.
//!
//! Validation lives here, once: a backend calls `validate()` (or the `prepare` functions) and
//! so refuses bad input exactly as every other backend does, before anything is changed.

mod category;
mod idempotency;
mod order;
mod product;
mod review;
mod user;
pub(crate) mod validate;

pub use category::{Category, NewCategory};
pub use idempotency::{IdempotencyKey, Placement, IDEMPOTENCY_RETENTION};
pub use order::{
    NewOrder, NewOrderItem, Order, OrderItem, OrderStatus, OrderStatusPatch, PaymentStatus,
    ShippingAddress,
};
pub use product::{NewProduct, Product, ProductPatch, ProductQuery};
pub use review::{NewReview, Review, ReviewPatch};
pub use user::{Credentials, NewUser, Profile, User, UserPatch};

/// A page request for list calls: up to `limit` items whose id sorts after `after`.
///
/// Lists are ordered by id ascending (ids are time-ordered UUIDs), so a cursor stays stable
/// under concurrent inserts: new entities never shift a page already read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageRequest {
    /// The `next` cursor of the previous page, or `None` for the first page.
    pub after: Option<String>,
    /// Items per page, 1..=[`PageRequest::MAX_LIMIT`].
    pub limit: u32,
}

impl PageRequest {
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 1000;
    /// Page size of [`PageRequest::default`].
    pub const DEFAULT_LIMIT: u32 = 50;

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }

    /// The page after cursor `after`.
    pub fn after(after: impl Into<String>, limit: u32) -> Self {
        Self {
            after: Some(after.into()),
            limit,
        }
    }

    /// Checks the limit, and that the cursor looks like an id (it is compared, never parsed as
    /// a query).
    pub fn validate(&self) -> crate::Result<()> {
        if self.limit == 0 || self.limit > Self::MAX_LIMIT {
            return Err(crate::Error::invalid("limit", "must be between 1 and 1000"));
        }
        if let Some(after) = &self.after {
            if uuid::Uuid::try_parse(after).is_err() {
                return Err(crate::Error::invalid("after", "not a valid cursor"));
            }
        }
        Ok(())
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of a list call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The items, ordered by id ascending.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` when this page is the last.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched items: keeps `limit`, and sets `next` from the last
    /// kept item when there were more. `id` extracts the cursor.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(&id)
        } else {
            None
        };
        Page { items, next }
    }
}
