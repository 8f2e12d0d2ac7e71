//! The primary store: the system of record, split by aggregate, and the sync ledger that makes
//! the graph follow it without losing a change.
//!
//! # The traits
//!
//! An application talks to the store through [`PrimaryStore`], which is the four aggregates'
//! traits together ([`UserStore`], [`CatalogStore`] for categories and products,
//! [`OrderStore`], [`ReviewStore`]) plus a health check. Bring them into scope at once with
//! `use swiftbox_core::prelude::*`.
//!
//! The sync bookkeeping is a trait of its own, [`SyncLedger`]: what the graph is owed, and the
//! acknowledgements that settle it. Every backend implements it, and the sync crate's worker
//! and reconciler use it; [`PrimaryBackend`] names the two together. The sync decorator
//! (`swiftbox_sync::Synced`) is a [`PrimaryStore`] but *not* a ledger, so an application that
//! writes through it cannot acknowledge a change by hand.
//!
//! # Sync bookkeeping
//!
//! Every write stores, atomically with the entity itself (in the same document or row), that
//! the graph owes a change for it: the entity's `version` moves past the version the graph has
//! acknowledged, and the time it became owed is kept. A delete leaves a *tombstone* (the id,
//! the new version, unique fields released) until the graph acknowledges it.
//!
//! Owed changes are *state*: [`SyncLedger::owed_changes`] computes each one from the entity
//! as it is now ([`GraphChange::Upsert`](crate::GraphChange::Upsert) of its current graph
//! record, or [`GraphChange::Delete`](crate::GraphChange::Delete) for a tombstone; an order or
//! review whose user is gone, or an order none of whose products is left, becomes a delete).
//! Several writes to one entity therefore owe one change, and an acknowledgement names the
//! version it applied: [`SyncLedger::ack_changes`] settles the entity only if no newer write
//! came meanwhile.

use async_trait::async_trait;

use crate::domain::*;
use crate::error::Result;
use crate::forward::forward_through_pointers;
use crate::id::{CategoryId, OrderId, ProductId, ReviewId, UserId};

mod lease;
mod ledger;

pub use lease::{validate_prefix, validate_swap, LeaseLedger, LeaseRecord, MAX_LEASE_NAME};
pub use ledger::{
    sync_bucket, ChangeAck, FailureRecord, OwedChange, OwedQuery, Partition, Partitions,
    SetAsideQuery, SyncLedger, SyncStats, SYNC_BUCKETS,
};

// Every trait below follows the same rules: each method validates its input with the
// [`crate::domain`] rules before it writes, so bad input gets [`crate::Error::Invalid`] and
// changes nothing; unique values taken give [`crate::Error::Conflict`] naming the field;
// missing entities give [`crate::Error::NotFound`]. Deleted entities are not found. Every
// write bumps the entity's version and records the owed graph change atomically with itself
// (see the [module docs](self)).

/// Users and their credentials. See [`PrimaryStore`] for the rules every method follows.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a user. Conflict on `username` or `email` when taken.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    /// A user by id.
    async fn get_user(&self, id: &UserId) -> Result<User>;
    /// Updates a user. Conflict on `email` when taken by another user.
    async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User>;
    /// Deletes a user (their orders and reviews stay in the primary store; the graph drops the
    /// user's node and relationships).
    async fn delete_user(&self, id: &UserId) -> Result<()>;
    /// Users by id.
    async fn list_users(&self, page: PageRequest) -> Result<Page<User>>;
    /// The user whose username equals `login` exactly, or whose e-mail equals it ignoring case,
    /// with their password hash. Compared as a literal string, never as a query.
    async fn credentials(&self, login: &str) -> Result<Option<Credentials>>;

    /// The user if `password` is theirs; `None` for an unknown login, a wrong password or an
    /// account without one (the three take the same time, so logins do not reveal which users
    /// exist).
    async fn authenticate(&self, login: &str, password: &str) -> Result<Option<User>> {
        Ok(Credentials::check(self.credentials(login).await?, password))
    }
}

/// The catalogue: categories and the products in them. See [`PrimaryStore`] for the rules
/// every method follows.
#[async_trait]
pub trait CatalogStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a category. Conflict on `name` when taken; NotFound when the parent is missing.
    async fn create_category(&self, new: NewCategory) -> Result<Category>;
    /// A category by id.
    async fn get_category(&self, id: &CategoryId) -> Result<Category>;
    /// A category by exact name.
    async fn category_by_name(&self, name: &str) -> Result<Option<Category>>;
    /// Categories by id.
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>>;
    /// Deletes a category; Conflict on `products` while any product is in it.
    async fn delete_category(&self, id: &CategoryId) -> Result<()>;

    /// Creates a product; NotFound when its category is missing.
    async fn create_product(&self, new: NewProduct) -> Result<Product>;
    /// A product by id.
    async fn get_product(&self, id: &ProductId) -> Result<Product>;
    /// Updates a product; NotFound when a new category is missing.
    async fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product>;
    /// Deletes a product (orders keep their items; the graph drops the node and relationships).
    async fn delete_product(&self, id: &ProductId) -> Result<()>;
    /// Products by id, optionally of one category.
    async fn list_products(&self, query: ProductQuery) -> Result<Page<Product>>;
}

/// Orders and their items. See [`PrimaryStore`] for the rules every method follows.
#[async_trait]
pub trait OrderStore: Send + Sync + std::fmt::Debug + 'static {
    /// Places an order: checks the user and every product exist (NotFound otherwise), captures
    /// unit prices, reserves stock so that concurrent orders never oversell
    /// ([`crate::Error::InsufficientStock`] otherwise, with no stock taken), computes the total.
    async fn place_order(&self, new: NewOrder) -> Result<Order>;
    /// Places an order at most once per user and idempotency key (see
    /// [`IdempotencyKey`]), for clients that retry a request whose
    /// answer they did not get.
    ///
    /// - no order of `new.user` carries `key`: places it as [`OrderStore::place_order`] does
    ///   and records the key and [`NewOrder::fingerprint`] *atomically with the order* (in the
    ///   same document or row), so any number of concurrent calls with one key place one
    ///   order; `replayed: false`;
    /// - an order carries the key and was placed from a request with the same fingerprint:
    ///   returns that order as it is now and places nothing (no stock taken); `replayed: true`;
    /// - the key was used with another request: [`crate::Error::Invalid`] on
    ///   `idempotency_key`, nothing changes.
    ///
    /// A placement that fails (stock, a missing product) records nothing, so the key may be
    /// retried. Keys are kept until [`OrderStore::purge_idempotency_keys`] drops them.
    async fn place_order_once(&self, new: NewOrder, key: &IdempotencyKey) -> Result<Placement>;
    /// Forgets the idempotency keys of orders placed more than `older_than` ago (the orders
    /// stay): a retry with such a key places a new order. Returns how many keys were dropped.
    /// Applications run it periodically with [`IDEMPOTENCY_RETENTION`].
    async fn purge_idempotency_keys(&self, older_than: std::time::Duration) -> Result<u64>;
    /// An order by id.
    async fn get_order(&self, id: &OrderId) -> Result<Order>;
    /// Updates an order's status or payment status.
    async fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order>;
    /// One user's orders by id (NotFound when the user is missing).
    async fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>>;
    /// All orders by id (for admins).
    async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>>;
    /// Gives back the stock that placements interrupted part-way (a process killed, a server
    /// lost, or the caller dropping the `place_order` future) left reserved for orders that do
    /// not exist, once the reservation is at least `stale_after` old; returns how many
    /// reservations were given back. Safe to run at any time and from several processes at
    /// once: each reservation is given back at most once, and never for an order that exists.
    ///
    /// `stale_after` must exceed the longest a placement still running can take (its
    /// operation timeouts): a younger reservation may belong to an order about to be
    /// inserted. Backends that reserve and insert in one atomic step (the in-memory store)
    /// never leave a reservation behind and return 0. Run it at start-up and periodically;
    /// `swiftbox_sync::maintenance` has a task that does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> swiftbox_core::Result<()> {
    /// use std::time::Duration;
    /// use swiftbox_core::memory::MemoryStore;
    /// use swiftbox_core::prelude::*;
    ///
    /// let store = MemoryStore::new();
    /// assert_eq!(store.recover_reservations(Duration::from_secs(600)).await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    async fn recover_reservations(&self, stale_after: std::time::Duration) -> Result<u64>;
}

/// Reviews of products. See [`PrimaryStore`] for the rules every method follows.
#[async_trait]
pub trait ReviewStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a review; NotFound when user or product is missing; Conflict on `product` when
    /// the user already reviewed it.
    async fn create_review(&self, new: NewReview) -> Result<Review>;
    /// A review by id.
    async fn get_review(&self, id: &ReviewId) -> Result<Review>;
    /// Updates a review.
    async fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review>;
    /// Deletes a review.
    async fn delete_review(&self, id: &ReviewId) -> Result<()>;
    /// A product's reviews by id (NotFound when the product is missing).
    async fn list_product_reviews(
        &self,
        product: &ProductId,
        page: PageRequest,
    ) -> Result<Page<Review>>;
}

/// The system of record, as an application sees it: the four aggregates' traits and a health
/// check.
///
/// Every method validates its input with the [`crate::domain`] rules before it writes, so bad
/// input gets [`crate::Error::Invalid`] and changes nothing; unique values taken give
/// [`crate::Error::Conflict`] naming the field; missing entities give
/// [`crate::Error::NotFound`]. Deleted entities are not found.
///
/// Every write bumps the entity's version and records the owed graph change atomically with
/// itself (see the [module docs](self)); the bookkeeping is read and settled through
/// [`SyncLedger`].
#[async_trait]
pub trait PrimaryStore: UserStore + CatalogStore + OrderStore + ReviewStore {
    /// Checks the store answers.
    async fn ping(&self) -> Result<()>;
}

/// A primary store with its sync ledger and lease records: what every backend implements,
/// what `swiftbox_sync::Synced` wraps and its worker and reconciler drive. Implemented for
/// every type that is all three, so `Arc<dyn PrimaryBackend>` is the dynamic form.
pub trait PrimaryBackend: PrimaryStore + SyncLedger + LeaseLedger {}

impl<T: PrimaryStore + SyncLedger + LeaseLedger + ?Sized> PrimaryBackend for T {}

forward_through_pointers!(UserStore {
    fn create_user(&self, new: NewUser) -> Result<User>;
    fn get_user(&self, id: &UserId) -> Result<User>;
    fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User>;
    fn delete_user(&self, id: &UserId) -> Result<()>;
    fn list_users(&self, page: PageRequest) -> Result<Page<User>>;
    fn credentials(&self, login: &str) -> Result<Option<Credentials>>;
    fn authenticate(&self, login: &str, password: &str) -> Result<Option<User>>;
});

forward_through_pointers!(CatalogStore {
    fn create_category(&self, new: NewCategory) -> Result<Category>;
    fn get_category(&self, id: &CategoryId) -> Result<Category>;
    fn category_by_name(&self, name: &str) -> Result<Option<Category>>;
    fn list_categories(&self, page: PageRequest) -> Result<Page<Category>>;
    fn delete_category(&self, id: &CategoryId) -> Result<()>;
    fn create_product(&self, new: NewProduct) -> Result<Product>;
    fn get_product(&self, id: &ProductId) -> Result<Product>;
    fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product>;
    fn delete_product(&self, id: &ProductId) -> Result<()>;
    fn list_products(&self, query: ProductQuery) -> Result<Page<Product>>;
});

forward_through_pointers!(OrderStore {
    fn place_order(&self, new: NewOrder) -> Result<Order>;
    fn place_order_once(&self, new: NewOrder, key: &IdempotencyKey) -> Result<Placement>;
    fn purge_idempotency_keys(&self, older_than: std::time::Duration) -> Result<u64>;
    fn get_order(&self, id: &OrderId) -> Result<Order>;
    fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order>;
    fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>>;
    fn list_orders(&self, page: PageRequest) -> Result<Page<Order>>;
    fn recover_reservations(&self, stale_after: std::time::Duration) -> Result<u64>;
});

forward_through_pointers!(ReviewStore {
    fn create_review(&self, new: NewReview) -> Result<Review>;
    fn get_review(&self, id: &ReviewId) -> Result<Review>;
    fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review>;
    fn delete_review(&self, id: &ReviewId) -> Result<()>;
    fn list_product_reviews(&self, product: &ProductId, page: PageRequest) -> Result<Page<Review>>;
});

forward_through_pointers!(PrimaryStore {
    fn ping(&self) -> Result<()>;
});
