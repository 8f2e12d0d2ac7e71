//! The primary store: the system of record, and the sync bookkeeping that makes the graph
//! follow it without losing a change.
//!
//! # Sync bookkeeping (DESIGN.md section 3)
//!
//! Every write stores, atomically with the entity itself (in the same document or row), that
//! the graph owes a change for it: the entity's `version` moves past the version the graph has
//! acknowledged, and the time it became owed is kept. A delete leaves a *tombstone* (the id,
//! the new version, unique fields released) until the graph acknowledges it.
//!
//! Owed changes are *state*: [`PrimaryStore::owed_changes`] computes each one from the entity
//! as it is now ([`GraphChange::Upsert`] of its current graph record, or
//! [`GraphChange::Delete`] for a tombstone; an order or review whose user is gone, or an order
//! none of whose products is left, becomes a delete). Several writes to one entity therefore
//! owe one change, and an acknowledgement names the version it applied:
//! [`PrimaryStore::ack_changes`] settles the entity only if no newer write came meanwhile.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::*;
use crate::error::{EntityKind, Result};
use crate::graph::{GraphChange, GraphRecord};
use crate::id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};
use crate::password::PasswordHash;

/// Number of sync buckets an entity id hashes into (see [`sync_bucket`]).
pub const SYNC_BUCKETS: u32 = 1024;

/// The sync bucket of an entity id: FNV-1a of its bytes modulo [`SYNC_BUCKETS`]. Stores keep it
/// with the entity so that [`Partition`]s can be selected with a query.
pub fn sync_bucket(id: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % SYNC_BUCKETS
}

/// A share of the owed changes, so several workers can drain them without touching the same
/// entity: an entity belongs to partition `sync_bucket(id) % count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// This partition, `0..count`.
    pub index: u32,
    /// How many partitions there are, 1..=[`SYNC_BUCKETS`].
    pub count: u32,
}

impl Partition {
    /// Everything: one partition.
    pub const ALL: Partition = Partition { index: 0, count: 1 };

    /// True when `id` belongs to this partition.
    pub fn contains(&self, id: &str) -> bool {
        self.count <= 1 || sync_bucket(id) % self.count == self.index
    }

    /// Checks `index < count <= SYNC_BUCKETS`.
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 || self.count > SYNC_BUCKETS || self.index >= self.count {
            return Err(crate::Error::invalid(
                "partition",
                "index must be below count, count in 1..=1024",
            ));
        }
        Ok(())
    }
}

impl Default for Partition {
    fn default() -> Self {
        Partition::ALL
    }
}

/// Which owed changes [`PrimaryStore::owed_changes`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedQuery {
    /// At most this many, 1..=10000.
    pub limit: usize,
    /// Only entities of this partition.
    pub partition: Partition,
    /// Only changes owed since before this time (lets an inline apply finish first); `None` for all.
    pub owed_before: Option<DateTime<Utc>>,
    /// Include changes that were set aside as poison.
    pub include_set_aside: bool,
}

impl OwedQuery {
    /// The oldest `limit` owed changes, not set aside, in every partition.
    pub fn oldest(limit: usize) -> Self {
        Self {
            limit,
            partition: Partition::ALL,
            owed_before: None,
            include_set_aside: false,
        }
    }

    /// Checks limit and partition.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > 10_000 {
            return Err(crate::Error::invalid(
                "limit",
                "must be between 1 and 10000",
            ));
        }
        self.partition.validate()
    }
}

/// A change the graph owes for one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedChange {
    /// The entity in the primary store.
    pub entity: EntityRef,
    /// The entity's current version: acknowledge with this.
    pub version: u64,
    /// What to apply to the graph.
    pub change: GraphChange,
    /// Since when the graph has owed this entity a change (the first unacknowledged write).
    pub owed_since: DateTime<Utc>,
    /// Failed attempts recorded for this version.
    pub attempts: u32,
    /// The last recorded failure.
    pub last_error: Option<String>,
    /// Whether it was set aside as poison.
    pub set_aside: bool,
}

/// An acknowledgement: the graph now holds `entity` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChangeAck {
    /// The entity.
    pub entity: EntityRef,
    /// The version applied.
    pub version: u64,
}

/// What [`PrimaryStore::record_sync_failure`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureRecord {
    /// Failed attempts for this version so far (0 when the entity has moved on or is settled).
    pub attempts: u32,
    /// Whether the change is now set aside.
    pub set_aside: bool,
}

/// The primary store's side of sync status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Live (not deleted) entities by kind.
    pub entities: BTreeMap<EntityKind, u64>,
    /// Entities owing the graph a change, set-aside ones included.
    pub owed: u64,
    /// Owed changes set aside as poison.
    pub set_aside: u64,
    /// Since when the longest-owed change has been owed.
    pub oldest_owed: Option<DateTime<Utc>>,
    /// The most recently recorded failure among owed changes.
    pub last_error: Option<String>,
}

/// The system of record. Every method validates its input with the [`crate::domain`] rules
/// before it writes, so bad input gets [`crate::Error::Invalid`] and changes nothing; unique
/// values taken give [`crate::Error::Conflict`] naming the field; missing entities give
/// [`crate::Error::NotFound`]. Deleted entities are not found.
///
/// Every write bumps the entity's version and records the owed graph change atomically with
/// itself (see the [module docs](self)).
#[async_trait]
pub trait PrimaryStore: Send + Sync + std::fmt::Debug + 'static {
    // ---- users ----

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
        match self.credentials(login).await? {
            Some(Credentials {
                user,
                hash: Some(hash),
            }) => Ok(hash.verify(password).then_some(user)),
            _ => {
                PasswordHash::verify_dummy(password);
                Ok(None)
            }
        }
    }

    // ---- categories ----

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

    // ---- products ----

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

    // ---- orders ----

    /// Places an order: checks the user and every product exist (NotFound otherwise), captures
    /// unit prices, reserves stock so that concurrent orders never oversell
    /// ([`crate::Error::InsufficientStock`] otherwise, with no stock taken), computes the total.
    async fn place_order(&self, new: NewOrder) -> Result<Order>;
    /// An order by id.
    async fn get_order(&self, id: &OrderId) -> Result<Order>;
    /// Updates an order's status or payment status.
    async fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order>;
    /// One user's orders by id (NotFound when the user is missing).
    async fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>>;
    /// All orders by id (for admins).
    async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>>;

    // ---- reviews ----

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

    // ---- sync bookkeeping ----

    /// Owed changes, longest owed first (then by kind in [`EntityKind::ALL`] order, then id).
    async fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>>;
    /// The change owed for one entity, if any.
    async fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>>;
    /// Settles each entity whose version still equals the acknowledged one (purging tombstones);
    /// acknowledgements of older versions, or of unknown entities, change nothing.
    async fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()>;
    /// Records a failed attempt to apply `entity` at `version`; once `set_aside_after` attempts
    /// have failed the change is set aside (left out of [`PrimaryStore::owed_changes`] unless
    /// asked for) until the entity is written again or [`PrimaryStore::release_set_aside`].
    async fn record_sync_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
    ) -> Result<FailureRecord>;
    /// Puts set-aside changes (one entity's, or all) back in line with their attempts reset;
    /// returns how many.
    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64>;
    /// Counts for status reports; cheap (counts, no scans of entity content).
    async fn sync_stats(&self) -> Result<SyncStats>;
    /// Up to `limit` graph records of live entities of `kind` whose id sorts after `after`,
    /// ordered by id: what the graph should hold (orders and reviews as
    /// [`crate::changes`] derives them). The reconciler compares this with
    /// [`crate::GraphStore::records`].
    async fn expected_graph(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>>;

    /// Checks the store answers.
    async fn ping(&self) -> Result<()>;
}

/// Forwards every [`PrimaryStore`] method (provided ones too, so an inner override is never
/// skipped) through a smart pointer, so `Arc<dyn PrimaryStore>`, `Arc<MemoryStore>` and
/// `Box<dyn PrimaryStore>` are stores themselves (object_store's `as_ref_impl!`).
macro_rules! forward_primary_store {
    ($ptr:ident) => {
        #[async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: PrimaryStore + ?Sized> PrimaryStore for $ptr<T> {
            async fn create_user(&self, new: NewUser) -> Result<User> {
                self.as_ref().create_user(new).await
            }
            async fn get_user(&self, id: &UserId) -> Result<User> {
                self.as_ref().get_user(id).await
            }
            async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User> {
                self.as_ref().update_user(id, patch).await
            }
            async fn delete_user(&self, id: &UserId) -> Result<()> {
                self.as_ref().delete_user(id).await
            }
            async fn list_users(&self, page: PageRequest) -> Result<Page<User>> {
                self.as_ref().list_users(page).await
            }
            async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
                self.as_ref().credentials(login).await
            }
            async fn authenticate(&self, login: &str, password: &str) -> Result<Option<User>> {
                self.as_ref().authenticate(login, password).await
            }
            async fn create_category(&self, new: NewCategory) -> Result<Category> {
                self.as_ref().create_category(new).await
            }
            async fn get_category(&self, id: &CategoryId) -> Result<Category> {
                self.as_ref().get_category(id).await
            }
            async fn category_by_name(&self, name: &str) -> Result<Option<Category>> {
                self.as_ref().category_by_name(name).await
            }
            async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>> {
                self.as_ref().list_categories(page).await
            }
            async fn delete_category(&self, id: &CategoryId) -> Result<()> {
                self.as_ref().delete_category(id).await
            }
            async fn create_product(&self, new: NewProduct) -> Result<Product> {
                self.as_ref().create_product(new).await
            }
            async fn get_product(&self, id: &ProductId) -> Result<Product> {
                self.as_ref().get_product(id).await
            }
            async fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product> {
                self.as_ref().update_product(id, patch).await
            }
            async fn delete_product(&self, id: &ProductId) -> Result<()> {
                self.as_ref().delete_product(id).await
            }
            async fn list_products(&self, query: ProductQuery) -> Result<Page<Product>> {
                self.as_ref().list_products(query).await
            }
            async fn place_order(&self, new: NewOrder) -> Result<Order> {
                self.as_ref().place_order(new).await
            }
            async fn get_order(&self, id: &OrderId) -> Result<Order> {
                self.as_ref().get_order(id).await
            }
            async fn update_order_status(
                &self,
                id: &OrderId,
                patch: OrderStatusPatch,
            ) -> Result<Order> {
                self.as_ref().update_order_status(id, patch).await
            }
            async fn list_user_orders(
                &self,
                user: &UserId,
                page: PageRequest,
            ) -> Result<Page<Order>> {
                self.as_ref().list_user_orders(user, page).await
            }
            async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>> {
                self.as_ref().list_orders(page).await
            }
            async fn create_review(&self, new: NewReview) -> Result<Review> {
                self.as_ref().create_review(new).await
            }
            async fn get_review(&self, id: &ReviewId) -> Result<Review> {
                self.as_ref().get_review(id).await
            }
            async fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review> {
                self.as_ref().update_review(id, patch).await
            }
            async fn delete_review(&self, id: &ReviewId) -> Result<()> {
                self.as_ref().delete_review(id).await
            }
            async fn list_product_reviews(
                &self,
                product: &ProductId,
                page: PageRequest,
            ) -> Result<Page<Review>> {
                self.as_ref().list_product_reviews(product, page).await
            }
            async fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>> {
                self.as_ref().owed_changes(query).await
            }
            async fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>> {
                self.as_ref().owed_change(entity).await
            }
            async fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()> {
                self.as_ref().ack_changes(acks).await
            }
            async fn record_sync_failure(
                &self,
                entity: &EntityRef,
                version: u64,
                error: &str,
                set_aside_after: u32,
            ) -> Result<FailureRecord> {
                self.as_ref()
                    .record_sync_failure(entity, version, error, set_aside_after)
                    .await
            }
            async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64> {
                self.as_ref().release_set_aside(entity).await
            }
            async fn sync_stats(&self) -> Result<SyncStats> {
                self.as_ref().sync_stats().await
            }
            async fn expected_graph(
                &self,
                kind: EntityKind,
                after: Option<&str>,
                limit: usize,
            ) -> Result<Vec<GraphRecord>> {
                self.as_ref().expected_graph(kind, after, limit).await
            }
            async fn ping(&self) -> Result<()> {
                self.as_ref().ping().await
            }
        }
    };
}

use std::sync::Arc;
forward_primary_store!(Arc);
forward_primary_store!(Box);
