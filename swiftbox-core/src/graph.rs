//! The graph side: what the graph holds ([`GraphRecord`]), how it changes ([`GraphChange`]),
//! the [`GraphStore`] trait and the exact semantics of its queries.
//!
//! # Schema
//!
//! `(:User {id, username, email, version})`, `(:Product {id, name, category, price, currency,
//! version})`, `(:Category {id, name, version})`, `(:Product)-[:BELONGS_TO]->(:Category)`,
//! `(:User)-[:PURCHASED {order_id, quantity, price, currency, timestamp, version}]->(:Product)`
//! one per order item, `(:User)-[:VIEWED {count, last_viewed}]->(:Product)` and
//! `(:User)-[:REVIEWED {id, rating, version}]->(:Product)`.
//!
//! # Applying changes
//!
//! [`GraphStore::apply`] takes state, not events: each [`GraphChange`] says what one entity
//! looks like now (or that it is gone), with the primary store's version. So:
//! - applying a change twice is harmless, and a change whose version is lower than what the
//!   graph holds for that entity is ignored (counted as stale);
//! - within one call, only the highest version per entity counts, whatever the order of the
//!   slice, and referenced kinds are applied first (categories, users, products, then orders and
//!   reviews; deletes of orders and reviews before deletes of products, users, categories);
//! - an order or review whose user or product node is not in the graph, or a product whose
//!   category is not, is *deferred*: nothing of it is written and it is reported in
//!   [`ApplyReport::deferred`], so the caller keeps it owed and tries again later (by then the
//!   referenced entity has arrived, or the primary store has turned the change into a delete);
//! - deleting a user or product removes its node and every relationship; deleting an order
//!   removes its `PURCHASED` relationships; deleting a category removes its node (products
//!   keep naming it in their `category` property, which is what per-category queries use);
//! - every delete leaves a *tombstone* (entity and version, outside the schema's labels), so an
//!   older upsert that arrives after the delete is stale instead of resurrecting the entity;
//!   [`GraphStore::forget_tombstones`] exists only for repair;
//! - within one call a delete beats an upsert of the same version; exact duplicates of the
//!   winning change share its outcome, and [`ApplyReport::deferred`] is sorted and lists each
//!   entity once; a delete naming an id that is not a valid id of its kind makes the whole call
//!   [`Error::Invalid`] and changes nothing; an order upsert with no items holds no purchases.
//!
//! # Queries
//!
//! Every query takes a `limit` of 1..=[`GraphLimits::max_limit`] (anything else is
//! [`Error::Invalid`]) and fans out at most as far as [`GraphLimits`] allows, so a product bought
//! by everyone costs no more than one bought by [`GraphLimits::buyers_per_product`] users.
//! Rankings are total orders with documented tie-breaks, so every backend returns the same list
//! on the same data. Unknown users or products are not errors: the graph may lag the primary
//! store, so they simply have no history (and get the cold-start fallback).
//!
//! Shared definitions:
//! - *the user's products*: the distinct products the user purchased;
//! - *recent products of a user* (cap `n`): the user's products ordered by the latest purchase
//!   timestamp of each, newest first, then product id ascending; the first `n`;
//! - *recent buyers of a product* (cap `n`): the distinct users who purchased it, ordered by their
//!   latest purchase timestamp of it, newest first, then user id ascending; the first `n`;
//! - *purchase count* of a product: its number of `PURCHASED` relationships (order lines);
//! - "recent buyers (cap `n`) other than the user": the cap is applied first and the user
//!   dropped afterwards (likewise "recent products other than this one"), so a query may follow
//!   `n - 1` peers.

// Trending's hourly-bucket arithmetic, shared by the in-memory graph and `swiftbox-neo4j` so
// both compute bit-equal scores. A backend internal, not part of the public API: it may change
// in any release.
#[doc(hidden)]
pub mod trend;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::{EntityKind, Error, Result};
use crate::forward::forward_through_pointers;
use crate::id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};
use crate::money::Money;

/// A `(:User)` node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserNode {
    /// Id.
    pub id: UserId,
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Primary-store version this state is from.
    pub version: u64,
}

/// A `(:Category)` node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CategoryNode {
    /// Id.
    pub id: CategoryId,
    /// Name (unique, never changes).
    pub name: String,
    /// Primary-store version this state is from.
    pub version: u64,
}

/// A `(:Product)` node and its `BELONGS_TO` relationship.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProductNode {
    /// Id.
    pub id: ProductId,
    /// Name.
    pub name: String,
    /// Name of its category (the `BELONGS_TO` target).
    pub category: String,
    /// Unit price.
    pub price: Money,
    /// Primary-store version this state is from.
    pub version: u64,
}

/// One `PURCHASED` relationship: one order item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchasedItem {
    /// The product bought.
    pub product: ProductId,
    /// Units bought.
    pub quantity: i64,
    /// Unit price at purchase.
    pub unit_price: Money,
}

/// All `PURCHASED` relationships of one order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderPurchases {
    /// The order.
    pub order_id: OrderId,
    /// The buyer.
    pub user: UserId,
    /// When it was placed (the relationships' `timestamp`).
    pub placed_at: DateTime<Utc>,
    /// One per item, sorted by product id.
    pub items: Vec<PurchasedItem>,
    /// Primary-store version of the order this state is from.
    pub version: u64,
}

/// A `REVIEWED` relationship.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReviewEdge {
    /// Review id.
    pub id: ReviewId,
    /// Author.
    pub user: UserId,
    /// Product.
    pub product: ProductId,
    /// 1..=5.
    pub rating: u8,
    /// Primary-store version this state is from.
    pub version: u64,
}

/// The graph state of one entity of the primary store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphRecord {
    /// A user node.
    User(UserNode),
    /// A category node.
    Category(CategoryNode),
    /// A product node.
    Product(ProductNode),
    /// An order's purchases.
    Order(OrderPurchases),
    /// A review relationship.
    Review(ReviewEdge),
}

impl GraphRecord {
    /// Which entity this is the state of.
    pub fn entity(&self) -> EntityRef {
        match self {
            GraphRecord::User(n) => EntityRef::new(EntityKind::User, n.id),
            GraphRecord::Category(n) => EntityRef::new(EntityKind::Category, n.id),
            GraphRecord::Product(n) => EntityRef::new(EntityKind::Product, n.id),
            GraphRecord::Order(o) => EntityRef::new(EntityKind::Order, o.order_id),
            GraphRecord::Review(r) => EntityRef::new(EntityKind::Review, r.id),
        }
    }

    /// The primary-store version this state is from.
    pub fn version(&self) -> u64 {
        match self {
            GraphRecord::User(n) => n.version,
            GraphRecord::Category(n) => n.version,
            GraphRecord::Product(n) => n.version,
            GraphRecord::Order(o) => o.version,
            GraphRecord::Review(r) => r.version,
        }
    }
}

/// One change the graph owes: an entity's new state, or its removal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GraphChange {
    /// Create or replace the entity's graph state.
    Upsert(GraphRecord),
    /// Remove the entity from the graph (node and relationships; for an order, its purchases).
    Delete {
        /// Which entity.
        entity: EntityRef,
        /// Primary-store version of the deletion.
        version: u64,
    },
}

impl GraphChange {
    /// Which entity the change is about.
    pub fn entity(&self) -> EntityRef {
        match self {
            GraphChange::Upsert(r) => r.entity(),
            GraphChange::Delete { entity, .. } => entity.clone(),
        }
    }

    /// The primary-store version of the change.
    pub fn version(&self) -> u64 {
        match self {
            GraphChange::Upsert(r) => r.version(),
            GraphChange::Delete { version, .. } => *version,
        }
    }
}

impl GraphChange {
    /// The entity the change is about, with its id in canonical form; [`Error::Invalid`] for a
    /// delete naming an id that is not a valid id of its kind (upserts carry typed ids).
    pub fn canonical_entity(&self) -> Result<EntityRef> {
        match self {
            GraphChange::Upsert(record) => Ok(record.entity()),
            GraphChange::Delete { entity, .. } => entity.canonical(),
        }
    }

    /// Whether `self` wins over `other` for the same entity within one apply call: a higher
    /// version, and a delete over an upsert of the same version.
    pub fn beats(&self, other: &GraphChange) -> bool {
        let is_delete = |c: &GraphChange| matches!(c, GraphChange::Delete { .. });
        (self.version(), is_delete(self)) > (other.version(), is_delete(other))
    }
}

/// One batch of changes reduced to what counts, as every backend's [`GraphStore::apply`] must:
/// each change's canonical entity (same order as the slice) and, per entity, the index of its
/// winning change ([`GraphChange::beats`]; the first of equal changes). [`Error::Invalid`] when
/// a delete names an invalid id, before anything is applied.
pub fn collapse<S>(
    changes: &[GraphChange],
) -> Result<(Vec<EntityRef>, HashMap<EntityRef, usize, S>)>
where
    S: BuildHasher + Default,
{
    let mut winners: HashMap<EntityRef, usize, S> = HashMap::default();
    let mut entities = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let entity = change.canonical_entity()?;
        match winners.get_mut(&entity) {
            Some(w) if change.beats(&changes[*w]) => *w = i,
            Some(_) => {}
            None => {
                winners.insert(entity.clone(), i);
            }
        }
        entities.push(entity);
    }
    Ok((entities, winners))
}

/// What [`GraphStore::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApplyReport {
    /// Changes now reflected in the graph (including ones it already held).
    pub applied: u64,
    /// Changes ignored because the graph holds a newer version (or a newer change for the same
    /// entity was in the same call).
    pub stale: u64,
    /// Changes not applied because a node they reference is missing; keep them owed.
    pub deferred: Vec<EntityRef>,
}

/// How far queries fan out, and how many results they may return. The defaults are part of the
/// contract: backends compared by the conformance suite use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphLimits {
    /// Largest `limit` a query accepts.
    pub max_limit: usize,
    /// Recent products of the user that seed recommendations and similar users.
    pub seed_products: usize,
    /// Recent buyers followed from one product.
    pub buyers_per_product: usize,
    /// Recent products followed from one buyer.
    pub products_per_buyer: usize,
    /// Categories the cold-start fallback draws from.
    pub fallback_categories: usize,
    /// Recent products of the user whose neighbour lists seed recommendations.
    pub recommendation_seeds: usize,
    /// Length of a product's neighbour list ([`GraphStore::refresh_neighbours`]).
    pub neighbours: usize,
    /// Recent buyers of a product followed when its neighbour list is computed.
    pub neighbour_buyers: usize,
    /// Recent products of each of those buyers followed when a neighbour list is computed.
    pub neighbour_products: usize,
}

impl Default for GraphLimits {
    fn default() -> Self {
        Self {
            max_limit: 100,
            seed_products: 50,
            buyers_per_product: 100,
            products_per_buyer: 100,
            fallback_categories: 3,
            recommendation_seeds: 200,
            neighbours: 20,
            neighbour_buyers: 1000,
            neighbour_products: 1000,
        }
    }
}

impl GraphLimits {
    /// Checks a query's `limit`.
    pub fn check_limit(&self, limit: usize) -> Result<()> {
        if limit == 0 || limit > self.max_limit {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {}", self.max_limit),
            ));
        }
        Ok(())
    }
}

/// How much less each older seed of [`GraphStore::recommendations_for`] counts: the seed of
/// recency rank `i` (0 = the user's latest product) weighs `SEED_DECAY^i` ([`seed_weight`]).
pub const SEED_DECAY: f64 = 0.99;

/// The weight of the user's seed of recency rank `rank` (0 = latest): `SEED_DECAY^rank`.
pub fn seed_weight(rank: usize) -> f64 {
    SEED_DECAY.powf(rank as f64)
}

/// What one buyer adds to the co-purchase weight of two of its products in a neighbour list
/// ([`GraphStore::refresh_neighbours`]): `1 / sqrt(lines)`, `lines` its number of `PURCHASED`
/// relationships (0 when it has none), so that a heavy buyer, who links everything to
/// everything, counts less.
pub fn buyer_weight(lines: u64) -> f64 {
    if lines == 0 {
        return 0.0;
    }
    1.0 / (lines as f64).sqrt()
}

/// The similarity of two products in a neighbour list: their co-purchase weight over the
/// square root of the product of their distinct buyer counts (cosine), rounded by
/// [`round_score`]; 0 when either count is 0.
pub fn neighbour_similarity(co: f64, buyers: u64, other_buyers: u64) -> f64 {
    if buyers == 0 || other_buyers == 0 {
        return 0.0;
    }
    round_score(co / (buyers as f64 * other_buyers as f64).sqrt())
}

/// What one call of [`GraphStore::refresh_neighbours`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NeighbourRefresh {
    /// Products whose neighbour list was recomputed.
    pub refreshed: u64,
    /// Products still marked after the call (marked again meanwhile included).
    pub marked: u64,
}

/// A summed score rounded to 9 decimal places (half away from zero), so that backends which
/// add the same terms in different orders rank alike: Cypher's `round(x, 9)` gives the same
/// number.
pub fn round_score(score: f64) -> f64 {
    (score * 1e9).round() / 1e9
}

/// Why a product is recommended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Bought by users who bought these products of yours (at most 3, by id ascending).
    CoPurchased {
        /// Your products that led here.
        because: Vec<ProductId>,
    },
    /// Popular in a category you looked at or bought from.
    PopularInCategory {
        /// The category's name.
        category: String,
    },
    /// Popular overall.
    Popular,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recommendation {
    /// The product.
    pub product: ProductId,
    /// Its name.
    pub name: String,
    /// Its score (see [`GraphStore::recommendations_for`]).
    pub score: f64,
    /// Why.
    pub reason: Reason,
}

/// A product with a score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredProduct {
    /// The product.
    pub product: ProductId,
    /// Its name.
    pub name: String,
    /// Its score, as the query defines it.
    pub score: f64,
}

/// What popularity counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopularityMetric {
    /// Number of order lines (`PURCHASED` relationships).
    #[default]
    Purchases,
    /// Units sold (sum of `quantity`).
    Units,
    /// Distinct buyers.
    Buyers,
}

/// Input of [`GraphStore::popular`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PopularQuery {
    /// Only products of this category (by name).
    pub category: Option<String>,
    /// What to count.
    pub metric: PopularityMetric,
    /// How many.
    pub limit: usize,
}

/// Input of [`GraphStore::trending`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrendingQuery {
    /// Only products of this category (by name).
    pub category: Option<String>,
    /// The time to measure age from (pass [`crate::time::now`]; fixed in tests).
    pub now: DateTime<Utc>,
    /// Age at which a purchase counts half: default 24 hours; at least one minute.
    pub half_life: Duration,
    /// Purchases older than this are ignored: default 7 days; at most 90 days.
    pub window: Duration,
    /// How many.
    pub limit: usize,
}

impl TrendingQuery {
    /// Trending now, with the default half-life and window.
    pub fn new(limit: usize) -> Self {
        Self {
            category: None,
            now: crate::time::now(),
            half_life: Duration::hours(24),
            window: Duration::days(7),
            limit,
        }
    }

    /// Checks half-life and window.
    pub fn validate(&self) -> Result<()> {
        if self.half_life < Duration::minutes(1) {
            return Err(Error::invalid("half_life", "must be at least one minute"));
        }
        if self.window <= Duration::zero() || self.window > Duration::days(90) {
            return Err(Error::invalid("window", "must be between 0 and 90 days"));
        }
        Ok(())
    }
}

/// One line of a user's purchase history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchaseRecord {
    /// The order.
    pub order_id: OrderId,
    /// The product.
    pub product: ProductId,
    /// The product's current name.
    pub product_name: String,
    /// Units bought.
    pub quantity: i64,
    /// Unit price at purchase.
    pub unit_price: Money,
    /// When.
    pub purchased_at: DateTime<Utc>,
}

/// A user similar to another.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimilarUser {
    /// The similar user.
    pub user: UserId,
    /// Their username.
    pub username: String,
    /// Jaccard similarity of the two users' products, in (0, 1].
    pub similarity: f64,
    /// Number of products both bought.
    pub shared: u64,
}

/// Sizes of the graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphCounts {
    /// Nodes by kind (user, category, product) and relationship groups by entity (order: orders
    /// with at least one `PURCHASED`; review: `REVIEWED` relationships).
    pub entities: BTreeMap<EntityKind, u64>,
    /// `PURCHASED` relationships.
    pub purchases: u64,
    /// `VIEWED` relationships.
    pub views: u64,
}

/// A graph store: applies changes derived from the primary store, records views, and answers
/// the recommendation queries. See the [module docs](self) for the exact semantics every
/// backend shares, and `swiftbox_core::conformance` (feature `conformance`) for the suite that checks them.
#[async_trait]
pub trait GraphStore: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a batch of changes idempotently, as the module docs describe.
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport>;

    /// Records that `user` viewed `product` at `at`: `VIEWED.count` goes up by one and
    /// `last_viewed` becomes the later of the two times. [`Error::NotFound`] when either node is
    /// not in the graph.
    async fn record_view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Personalised recommendations, best first.
    ///
    /// Item-based collaborative filtering over the products' neighbour lists (see
    /// [`GraphStore::refresh_neighbours`]). The *seeds* are the user's recent products (cap
    /// [`GraphLimits::recommendation_seeds`]); the seed of recency rank `i` (0 = latest)
    /// weighs [`seed_weight`]`(i)`. A candidate is a product in the neighbour list of a seed
    /// that the user never bought and that is in the graph; its score is the sum, over the
    /// seeds whose list holds it, of the seed's weight times the listed similarity, rounded by
    /// [`round_score`], and `because` lists (by id, at most 3) those seeds. Ranked by score
    /// descending, then product id ascending. A seed whose list was never computed adds
    /// nothing.
    ///
    /// Chosen by measurement on MovieLens-100k (figure 6 of `swiftbox-bench`,
    /// `BENCHMARKS.md`), over user-based filtering with cosine-weighted peers (the previous
    /// semantics), counting peers, and plain item-kNN: neighbour lists of 20 with heavy
    /// buyers damped by `1 / sqrt(lines)` rank best on random held-out purchases, and the decay
    /// of older seeds is what puts them ahead of item-kNN on the temporal protocol (held-out
    /// *future* purchases). A query reads at most `recommendation_seeds * neighbours`
    /// list entries, whatever the shop's size.
    ///
    /// When that gives fewer than `limit`, the rest is filled, skipping products already listed or
    /// bought by the user, first from the user's categories (categories of products the user
    /// viewed or bought, ranked by how many distinct such products are in each, descending, then
    /// name ascending; the first [`GraphLimits::fallback_categories`]), each category's products
    /// by purchase count descending then id ascending ([`Reason::PopularInCategory`], score =
    /// purchase count); then from all products the same way ([`Reason::Popular`]). Products with
    /// no purchases are never filled in.
    async fn recommendations_for(&self, user: &UserId, limit: usize)
        -> Result<Vec<Recommendation>>;

    /// Customers who bought `product` also bought: the product's recent buyers (cap
    /// [`GraphLimits::buyers_per_product`]), each one's recent products (cap
    /// [`GraphLimits::products_per_buyer`]) other than `product`; score = number of those buyers
    /// that reached the product. Ranked by score descending, then product id ascending.
    async fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>>;

    /// Most popular products (overall or in one category) by the chosen metric; products with a
    /// score of zero are left out. Ranked by score descending, then product id ascending.
    async fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>>;

    /// Trending products: score = sum over the product's purchases with `now - window <=
    /// timestamp <= now` of `quantity * 0.5^(age / half_life)`. Ranked by score descending, then
    /// product id ascending.
    async fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>>;

    /// The user's purchases, newest first, then by order id and product id ascending.
    async fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>>;

    /// Users who bought like `user`: candidates are the recent buyers (cap
    /// [`GraphLimits::buyers_per_product`]) of the user's recent products (cap
    /// [`GraphLimits::seed_products`]), other than the user; each one's similarity is the exact
    /// Jaccard index of the two users' products. Ranked by similarity descending, then shared
    /// products descending, then user id ascending.
    async fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>>;

    /// Up to `limit` records of one kind whose id sorts after `after`, ordered by id: what the
    /// reconciler compares with [`crate::SyncLedger::expected_graph`].
    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>>;

    /// Node and relationship counts.
    async fn counts(&self) -> Result<GraphCounts>;

    /// Checks the store answers.
    async fn ping(&self) -> Result<()>;

    /// Recomputes the neighbour lists of up to `limit` (at least 1) *marked* products, by
    /// product id ascending, and unmarks them; returns how many it recomputed and how many stay
    /// marked. [`GraphStore::apply`] marks a product whenever one of its `PURCHASED`
    /// relationships is created or removed; a product marked again while its list is being
    /// recomputed stays marked.
    ///
    /// A product `p`'s neighbour list: from `p`'s recent buyers (cap
    /// [`GraphLimits::neighbour_buyers`]), each buyer's recent products (cap
    /// [`GraphLimits::neighbour_products`]) other than `p`; the co-purchase weight of such a
    /// product `q` is the sum of [`buyer_weight`]`(lines)` over the buyers that reached it, and
    /// its similarity [`neighbour_similarity`]`(weight, buyers(p), buyers(q))` (distinct buyer
    /// counts, as [`PopularityMetric::Buyers`]); the first [`GraphLimits::neighbours`] by
    /// similarity descending, then id ascending.
    ///
    /// Lists are snapshots: a list changes only when its own product is marked and refreshed,
    /// so a purchase of `p` reaches `p`'s list at the next refresh, and the lists of the
    /// buyer's other products when they are next marked. Sync runs this in the background
    /// (`SyncWorker`), and a fresh graph filled by a resync has every purchased product
    /// marked. A deleted product's list goes with it; lists naming it skip it at query time.
    ///
    /// The default refuses with [`Error::Backend`]; every backend of this workspace overrides
    /// it.
    async fn refresh_neighbours(&self, limit: usize) -> Result<NeighbourRefresh> {
        let _ = limit;
        Err(Error::backend(
            "graph",
            "this graph store keeps no neighbour lists",
        ))
    }

    /// Applies `changes` as [`GraphStore::apply`] does (same outcomes, same report), but may
    /// leave what the graph derives from purchases (popularity counters, recent buyers, trend
    /// buckets, the marks of neighbour lists, each user's set of products) behind until [`GraphStore::rebuild_projections`]:
    /// queries read them stale meanwhile. For a bulk load (a resync into an empty graph), where
    /// keeping them row by row costs more than one rebuild at the end. Concurrent [`apply`]
    /// calls stay correct: the rebuild counts what is committed, under each product's lock.
    ///
    /// The default is [`GraphStore::apply`].
    ///
    /// [`apply`]: GraphStore::apply
    async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.apply(changes).await
    }

    /// Rebuilds every projection from the graph's purchases, exactly (each product under its
    /// own lock, so concurrent applies neither lose nor double a count), and marks every
    /// purchased product's neighbour list for [`GraphStore::refresh_neighbours`]. Call it once
    /// after [`GraphStore::apply_bulk`] calls.
    ///
    /// The default does nothing (for stores whose `apply_bulk` is `apply`).
    async fn rebuild_projections(&self) -> Result<()> {
        Ok(())
    }

    /// Forgets the tombstones of `entities` (the versions of their deletions), so that the next
    /// upsert of each applies whatever its version; entities in the graph are not touched.
    /// Returns how many tombstones were removed.
    ///
    /// For the reconciler's repair only: when the primary store says an entity is live at
    /// version `v` but the graph remembers deleting it at `v` or later (a deletion written into
    /// the graph by hand, or a bug), no upsert could bring it back without this. Sync never
    /// calls it otherwise, since tombstones are what keep replayed changes from resurrecting
    /// deleted entities.
    ///
    /// The default refuses with [`Error::Backend`]; backends that keep tombstones override it.
    async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
        let _ = entities;
        Err(Error::backend(
            "graph",
            "this graph store cannot forget tombstones",
        ))
    }
}

forward_through_pointers!(GraphStore {
    fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport>;
    fn record_view(&self, user: &UserId, product: &ProductId, at: DateTime<Utc>) -> Result<()>;
    fn recommendations_for(&self, user: &UserId, limit: usize) -> Result<Vec<Recommendation>>;
    fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>>;
    fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>>;
    fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>>;
    fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>>;
    fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>>;
    fn records(&self, kind: EntityKind, after: Option<&str>, limit: usize) -> Result<Vec<GraphRecord>>;
    fn counts(&self) -> Result<GraphCounts>;
    fn ping(&self) -> Result<()>;
    fn refresh_neighbours(&self, limit: usize) -> Result<NeighbourRefresh>;
    fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64>;
    fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport>;
    fn rebuild_projections(&self) -> Result<()>;
});
