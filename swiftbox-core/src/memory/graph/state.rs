//! The graph's state and its indexes, and how a batch of changes is applied to them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use chrono::{DateTime, Utc};

use super::fast::{HashMap, HashSet};
use super::rank::{Metrics, Rankings};
use super::trend::{self, Timeline};
use crate::error::{EntityKind, Error, Result};
use crate::graph::{
    ApplyReport, CategoryNode, GraphChange, GraphCounts, GraphRecord, OrderPurchases, ProductNode,
    ReviewEdge, UserNode,
};
use crate::id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};

pub(super) type Ts = DateTime<Utc>;

/// Keys ordered by their latest timestamp, newest first, then by key ascending: the "recent
/// products of a user" and "recent buyers of a product" of the graph module docs.
#[derive(Debug)]
pub(super) struct Recency<K> {
    order: BTreeSet<(Reverse<Ts>, K)>,
    latest: HashMap<K, Ts>,
}

impl<K> Default for Recency<K> {
    fn default() -> Self {
        Self {
            order: BTreeSet::new(),
            latest: HashMap::default(),
        }
    }
}

impl<K: Copy + Ord + Hash> Recency<K> {
    /// Sets (or, with `None`, removes) the latest timestamp of `key`.
    fn set(&mut self, key: K, ts: Option<Ts>) {
        if let Some(old) = self.latest.remove(&key) {
            self.order.remove(&(Reverse(old), key));
        }
        if let Some(ts) = ts {
            self.latest.insert(key, ts);
            self.order.insert((Reverse(ts), key));
        }
    }

    /// Keys, newest first, then key ascending.
    pub(super) fn recent(&self) -> impl Iterator<Item = K> + '_ {
        self.order.iter().map(|(_, k)| *k)
    }

    /// Whether `key` is present.
    pub(super) fn contains(&self, key: &K) -> bool {
        self.latest.contains_key(key)
    }

    /// Number of keys.
    pub(super) fn len(&self) -> usize {
        self.latest.len()
    }

    /// All keys, in no particular order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.latest.keys()
    }

    fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

/// Order lines and units of one product.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SalesStats {
    /// `PURCHASED` relationships.
    pub(super) lines: u64,
    /// Sum of their quantities.
    pub(super) units: i64,
}

/// A `VIEWED` relationship.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    count: u64,
    last_viewed: Ts,
}

/// Everything the graph holds, with the indexes the queries need.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) users: BTreeMap<UserId, UserNode>,
    pub(super) categories: BTreeMap<CategoryId, CategoryNode>,
    category_names: HashMap<String, CategoryId>,
    pub(super) products: BTreeMap<ProductId, ProductNode>,
    pub(super) orders: BTreeMap<OrderId, OrderPurchases>,
    pub(super) reviews: BTreeMap<ReviewId, ReviewEdge>,
    /// Versions of deletions, so an older upsert arriving later stays ignored.
    tombstones: HashMap<EntityRef, u64>,

    /// A user's orders, newest first, then order id.
    pub(super) user_orders: HashMap<UserId, BTreeSet<(Reverse<Ts>, OrderId)>>,
    /// Orders with a line of the product.
    product_orders: HashMap<ProductId, HashSet<OrderId>>,
    /// Purchase lines of one (user, product) pair: (timestamp, order).
    pairs: HashMap<(UserId, ProductId), BTreeSet<(Ts, OrderId)>>,
    /// A user's distinct products by latest purchase.
    pub(super) user_products: HashMap<UserId, Recency<ProductId>>,
    /// A product's distinct buyers by latest purchase.
    pub(super) product_buyers: HashMap<ProductId, Recency<UserId>>,
    pub(super) sales: HashMap<ProductId, SalesStats>,
    /// Products by each popularity metric, overall and per category.
    pub(super) rankings: Rankings,
    /// A product's purchase lines by time, for trending.
    pub(super) timelines: HashMap<ProductId, Timeline>,
    /// The timelines' bucket summaries by hour, for trending over the whole shop.
    pub(super) hours: trend::Hours,
    /// Products by their `category` property.
    pub(super) products_by_category: HashMap<String, BTreeSet<ProductId>>,
    purchase_lines: u64,
    /// A user's `PURCHASED` relationships (order lines), for the weight of a peer.
    pub(super) user_lines: HashMap<UserId, u64>,

    pub(super) views: HashMap<UserId, HashMap<ProductId, View>>,
    viewers: HashMap<ProductId, HashSet<UserId>>,
    view_count: u64,

    user_reviews: HashMap<UserId, HashSet<ReviewId>>,
    product_reviews: HashMap<ProductId, HashSet<ReviewId>>,

    /// Each product's neighbour list, most similar first (`GraphStore::refresh_neighbours`),
    /// and the value of its line-change counter the list was computed at.
    pub(super) neighbours: HashMap<ProductId, (u64, Vec<(ProductId, f64)>)>,
    /// Per product, how many times its lines changed (only ever grows while it exists).
    line_changes: HashMap<ProductId, u64>,
    /// Products whose lines changed after their list was computed.
    pub(super) marked: BTreeSet<ProductId>,
}

/// Order in which a winning change is applied: upserts of referenced kinds first, then deletes
/// of referencing kinds first.
fn apply_rank(change: &GraphChange) -> (u8, u8) {
    let kind = change.entity().kind;
    match change {
        GraphChange::Upsert(_) => (
            0,
            match kind {
                EntityKind::Category => 0,
                EntityKind::User => 1,
                EntityKind::Product => 2,
                EntityKind::Order => 3,
                EntityKind::Review => 4,
            },
        ),
        GraphChange::Delete { .. } => (
            1,
            match kind {
                EntityKind::Order => 0,
                EntityKind::Review => 1,
                EntityKind::Product => 2,
                EntityKind::User => 3,
                EntityKind::Category => 4,
            },
        ),
    }
}

/// Outcome of one winning change.
enum Outcome {
    Applied,
    Stale,
    Deferred,
}

impl State {
    /// Applies a batch as the graph module docs describe. Checks every id first, so an invalid
    /// batch changes nothing.
    pub(super) fn apply(&mut self, changes: &[GraphChange]) -> Result<ApplyReport> {
        // One winner per entity; the others are stale unless they equal the winner.
        let (entities, winners): (Vec<EntityRef>, HashMap<EntityRef, usize>) =
            crate::graph::collapse(changes)?;
        let mut order: Vec<(&EntityRef, usize)> = winners.iter().map(|(e, i)| (e, *i)).collect();
        order.sort_by(|a, b| {
            apply_rank(&changes[a.1])
                .cmp(&apply_rank(&changes[b.1]))
                .then_with(|| a.0.cmp(b.0))
        });
        let mut outcomes: HashMap<&EntityRef, Outcome> = HashMap::default();
        for (entity, i) in order {
            let outcome = self.apply_one(entity, &changes[i]);
            outcomes.insert(entity, outcome);
        }

        let mut report = ApplyReport::default();
        for (i, change) in changes.iter().enumerate() {
            let entity = &entities[i];
            let winner = &changes[winners[entity]];
            let same_as_winner = !winner.beats(change);
            match outcomes.get(entity) {
                Some(Outcome::Applied) if same_as_winner => report.applied += 1,
                Some(Outcome::Deferred) if same_as_winner => {
                    if winners[entity] == i {
                        report.deferred.push(entity.clone());
                    }
                }
                _ => report.stale += 1,
            }
        }
        report.deferred.sort();
        Ok(report)
    }

    /// Removes the tombstones of `entities`; returns how many there were.
    /// Ids that are not ids of their kind name no tombstone.
    pub(super) fn forget_tombstones(&mut self, entities: &[EntityRef]) -> u64 {
        entities
            .iter()
            .filter_map(|e| e.canonical().ok())
            .filter(|e| self.tombstones.remove(e).is_some())
            .count() as u64
    }

    /// The version the graph holds for an entity (live or deleted), and whether it is deleted.
    fn held(&self, entity: &EntityRef, change: &GraphChange) -> Option<(u64, bool)> {
        let live = match change {
            GraphChange::Upsert(GraphRecord::User(n)) => self.users.get(&n.id).map(|n| n.version),
            GraphChange::Upsert(GraphRecord::Category(n)) => {
                self.categories.get(&n.id).map(|n| n.version)
            }
            GraphChange::Upsert(GraphRecord::Product(n)) => {
                self.products.get(&n.id).map(|n| n.version)
            }
            GraphChange::Upsert(GraphRecord::Order(o)) => {
                self.orders.get(&o.order_id).map(|o| o.version)
            }
            GraphChange::Upsert(GraphRecord::Review(r)) => {
                self.reviews.get(&r.id).map(|r| r.version)
            }
            GraphChange::Delete { .. } => self.live_version(entity),
        };
        live.map(|v| (v, false))
            .or_else(|| self.tombstones.get(entity).map(|v| (*v, true)))
    }

    fn live_version(&self, entity: &EntityRef) -> Option<u64> {
        let id = &entity.id;
        match entity.kind {
            EntityKind::User => UserId::parse(id)
                .ok()
                .and_then(|id| self.users.get(&id).map(|n| n.version)),
            EntityKind::Category => CategoryId::parse(id)
                .ok()
                .and_then(|id| self.categories.get(&id).map(|n| n.version)),
            EntityKind::Product => ProductId::parse(id)
                .ok()
                .and_then(|id| self.products.get(&id).map(|n| n.version)),
            EntityKind::Order => OrderId::parse(id)
                .ok()
                .and_then(|id| self.orders.get(&id).map(|n| n.version)),
            EntityKind::Review => ReviewId::parse(id)
                .ok()
                .and_then(|id| self.reviews.get(&id).map(|n| n.version)),
        }
    }

    fn apply_one(&mut self, entity: &EntityRef, change: &GraphChange) -> Outcome {
        let is_delete = matches!(change, GraphChange::Delete { .. });
        if let Some((version, deleted)) = self.held(entity, change) {
            if change.version() < version || (change.version() == version && deleted && !is_delete)
            {
                return Outcome::Stale;
            }
        }
        match change {
            GraphChange::Upsert(record) => {
                if !self.references_present(record) {
                    return Outcome::Deferred;
                }
                self.tombstones.remove(entity);
                self.upsert(record);
            }
            GraphChange::Delete { version, .. } => {
                self.delete(entity);
                self.tombstones.insert(entity.clone(), *version);
            }
        }
        Outcome::Applied
    }

    fn references_present(&self, record: &GraphRecord) -> bool {
        match record {
            GraphRecord::User(_) | GraphRecord::Category(_) => true,
            GraphRecord::Product(p) => self.category_names.contains_key(&p.category),
            GraphRecord::Order(o) => {
                self.users.contains_key(&o.user)
                    && o.items
                        .iter()
                        .all(|i| self.products.contains_key(&i.product))
            }
            GraphRecord::Review(r) => {
                self.users.contains_key(&r.user) && self.products.contains_key(&r.product)
            }
        }
    }

    fn upsert(&mut self, record: &GraphRecord) {
        match record {
            GraphRecord::User(n) => {
                self.users.insert(n.id, n.clone());
            }
            GraphRecord::Category(n) => {
                if let Some(old) = self.categories.insert(n.id, n.clone()) {
                    if self.category_names.get(&old.name) == Some(&old.id) {
                        self.category_names.remove(&old.name);
                    }
                }
                self.category_names.insert(n.name.clone(), n.id);
            }
            GraphRecord::Product(n) => {
                if let Some(old) = self.products.insert(n.id, n.clone()) {
                    remove_from(&mut self.products_by_category, &old.category, &n.id);
                    let m = self.metrics(&n.id);
                    self.rankings
                        .recategorise(n.id, &old.category, &n.category, m);
                }
                self.products_by_category
                    .entry(n.category.clone())
                    .or_default()
                    .insert(n.id);
            }
            GraphRecord::Order(o) => {
                self.remove_order(&o.order_id);
                self.add_order(o);
            }
            GraphRecord::Review(r) => {
                self.remove_review(&r.id);
                self.user_reviews.entry(r.user).or_default().insert(r.id);
                self.product_reviews
                    .entry(r.product)
                    .or_default()
                    .insert(r.id);
                self.reviews.insert(r.id, r.clone());
            }
        }
    }

    /// Removes an entity and its relationships (ids were checked by [`GraphChange::canonical_entity`]).
    fn delete(&mut self, entity: &EntityRef) {
        let id = &entity.id;
        match entity.kind {
            EntityKind::User => {
                if let Ok(id) = UserId::parse(id) {
                    self.delete_user(&id);
                }
            }
            EntityKind::Category => {
                if let Ok(id) = CategoryId::parse(id) {
                    if let Some(old) = self.categories.remove(&id) {
                        if self.category_names.get(&old.name) == Some(&id) {
                            self.category_names.remove(&old.name);
                        }
                    }
                }
            }
            EntityKind::Product => {
                if let Ok(id) = ProductId::parse(id) {
                    self.delete_product(&id);
                }
            }
            EntityKind::Order => {
                if let Ok(id) = OrderId::parse(id) {
                    self.remove_order(&id);
                }
            }
            EntityKind::Review => {
                if let Ok(id) = ReviewId::parse(id) {
                    self.remove_review(&id);
                }
            }
        }
    }

    fn delete_user(&mut self, user: &UserId) {
        let orders: Vec<OrderId> = self
            .user_orders
            .get(user)
            .map(|s| s.iter().map(|(_, o)| *o).collect())
            .unwrap_or_default();
        for o in orders {
            self.remove_order(&o);
        }
        if let Some(viewed) = self.views.remove(user) {
            self.view_count -= viewed.len() as u64;
            for p in viewed.keys() {
                remove_from(&mut self.viewers, p, user);
            }
        }
        let reviews: Vec<ReviewId> = self
            .user_reviews
            .get(user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for r in reviews {
            self.remove_review(&r);
        }
        self.users.remove(user);
    }

    fn delete_product(&mut self, product: &ProductId) {
        let orders: Vec<OrderId> = self
            .product_orders
            .get(product)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for o in orders {
            self.remove_order_line(&o, product);
        }
        if let Some(viewers) = self.viewers.remove(product) {
            for u in viewers {
                if let Some(v) = self.views.get_mut(&u) {
                    if v.remove(product).is_some() {
                        self.view_count -= 1;
                    }
                    if v.is_empty() {
                        self.views.remove(&u);
                    }
                }
            }
        }
        let reviews: Vec<ReviewId> = self
            .product_reviews
            .get(product)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for r in reviews {
            self.remove_review(&r);
        }
        if let Some(old) = self.products.remove(product) {
            remove_from(&mut self.products_by_category, &old.category, product);
        }
        self.neighbours.remove(product);
        self.line_changes.remove(product);
        self.marked.remove(product);
    }

    fn remove_review(&mut self, id: &ReviewId) {
        if let Some(old) = self.reviews.remove(id) {
            remove_from(&mut self.user_reviews, &old.user, id);
            remove_from(&mut self.product_reviews, &old.product, id);
        }
    }

    fn add_order(&mut self, o: &OrderPurchases) {
        if o.items.is_empty() {
            // An order with no purchases is not in the graph (it has no relationship to hold).
            return;
        }
        let mut o = o.clone();
        o.items.sort_by_key(|i| i.product);
        o.items.dedup_by_key(|i| i.product);
        for item in &o.items {
            self.add_line(o.user, item.product, o.placed_at, o.order_id, item.quantity);
        }
        self.user_orders
            .entry(o.user)
            .or_default()
            .insert((Reverse(o.placed_at), o.order_id));
        self.orders.insert(o.order_id, o);
    }

    fn remove_order(&mut self, id: &OrderId) {
        let Some(o) = self.orders.remove(id) else {
            return;
        };
        for item in &o.items {
            self.remove_line(o.user, item.product, o.placed_at, o.order_id, item.quantity);
        }
        remove_from(
            &mut self.user_orders,
            &o.user,
            &(Reverse(o.placed_at), o.order_id),
        );
    }

    /// Removes one product's line from an order (the product was deleted); an order left with
    /// no line leaves the graph.
    fn remove_order_line(&mut self, id: &OrderId, product: &ProductId) {
        let Some(o) = self.orders.get_mut(id) else {
            return;
        };
        let Some(pos) = o.items.iter().position(|i| i.product == *product) else {
            return;
        };
        let item = o.items.remove(pos);
        let (user, at, empty) = (o.user, o.placed_at, o.items.is_empty());
        self.remove_line(user, item.product, at, *id, item.quantity);
        if empty {
            self.orders.remove(id);
            remove_from(&mut self.user_orders, &user, &(Reverse(at), *id));
        }
    }

    /// A product's popularity metrics.
    fn metrics(&self, product: &ProductId) -> Metrics {
        let sales = self.sales.get(product).copied().unwrap_or_default();
        Metrics {
            lines: sales.lines,
            units: sales.units,
            buyers: self
                .product_buyers
                .get(product)
                .map_or(0, |b| b.len() as u64),
        }
    }

    /// Re-ranks a product whose metrics were `old`.
    fn rerank(&mut self, product: ProductId, old: Metrics) {
        let new = self.metrics(&product);
        let category = self.products.get(&product).map(|p| p.category.as_str());
        self.rankings.update(product, category, old, new);
    }

    fn add_line(&mut self, user: UserId, product: ProductId, at: Ts, order: OrderId, qty: i64) {
        let before = self.metrics(&product);
        let lines = self.pairs.entry((user, product)).or_default();
        lines.insert((at, order));
        let latest = lines.last().map(|(t, _)| *t);
        self.user_products
            .entry(user)
            .or_default()
            .set(product, latest);
        self.product_buyers
            .entry(product)
            .or_default()
            .set(user, latest);
        self.product_orders
            .entry(product)
            .or_default()
            .insert(order);
        let stats = self.sales.entry(product).or_default();
        stats.lines += 1;
        stats.units += qty;
        let timeline = self.timelines.entry(product).or_default();
        timeline.insert(at, order, qty);
        let hour = trend::bucket_of(&at);
        self.hours.refresh(product, hour, timeline.summary(hour));
        self.purchase_lines += 1;
        *self.user_lines.entry(user).or_default() += 1;
        self.mark(product);
        self.rerank(product, before);
    }

    fn remove_line(&mut self, user: UserId, product: ProductId, at: Ts, order: OrderId, qty: i64) {
        let before = self.metrics(&product);
        let key = (user, product);
        let latest = match self.pairs.get_mut(&key) {
            Some(lines) => {
                lines.remove(&(at, order));
                let latest = lines.last().map(|(t, _)| *t);
                if lines.is_empty() {
                    self.pairs.remove(&key);
                }
                latest
            }
            None => None,
        };
        if let Some(r) = self.user_products.get_mut(&user) {
            r.set(product, latest);
            if r.is_empty() {
                self.user_products.remove(&user);
            }
        }
        if let Some(r) = self.product_buyers.get_mut(&product) {
            r.set(user, latest);
            if r.is_empty() {
                self.product_buyers.remove(&product);
            }
        }
        remove_from(&mut self.product_orders, &product, &order);
        if let Some(stats) = self.sales.get_mut(&product) {
            stats.lines -= 1;
            stats.units -= qty;
            if stats.lines == 0 {
                self.sales.remove(&product);
            }
        }
        if let Some(t) = self.timelines.get_mut(&product) {
            t.remove(at, order);
            let hour = trend::bucket_of(&at);
            self.hours.refresh(product, hour, t.summary(hour));
            if t.is_empty() {
                self.timelines.remove(&product);
            }
        }
        self.purchase_lines -= 1;
        if let Some(n) = self.user_lines.get_mut(&user) {
            *n -= 1;
            if *n == 0 {
                self.user_lines.remove(&user);
            }
        }
        self.mark(product);
        self.rerank(product, before);
    }

    /// Marks `product`'s neighbour list after a change to its lines.
    fn mark(&mut self, product: ProductId) {
        *self.line_changes.entry(product).or_default() += 1;
        self.marked.insert(product);
    }

    /// Up to `limit` marked products, by id, with their line-change counters.
    pub(super) fn marked_products(&self, limit: usize) -> Vec<(ProductId, u64)> {
        self.marked
            .iter()
            .take(limit)
            .map(|p| (*p, self.line_changes.get(p).copied().unwrap_or(0)))
            .collect()
    }

    /// Stores a list computed when `product`'s line-change counter was `seen`, unless a list
    /// computed later is already there; the product stays marked if its lines changed since.
    /// A product deleted meanwhile keeps no list.
    pub(super) fn store_neighbours(
        &mut self,
        product: ProductId,
        seen: u64,
        list: Vec<(ProductId, f64)>,
    ) {
        if !self.products.contains_key(&product) {
            return;
        }
        let newer = self
            .neighbours
            .get(&product)
            .is_some_and(|(at, _)| *at > seen);
        if !newer {
            self.neighbours.insert(product, (seen, list));
        }
        if self.line_changes.get(&product).copied().unwrap_or(0) <= seen {
            self.marked.remove(&product);
        }
    }

    /// Records a view; [`Error::NotFound`] when either node is missing.
    pub(super) fn record_view(&mut self, user: &UserId, product: &ProductId, at: Ts) -> Result<()> {
        if !self.users.contains_key(user) {
            return Err(Error::not_found(EntityKind::User, user));
        }
        if !self.products.contains_key(product) {
            return Err(Error::not_found(EntityKind::Product, product));
        }
        let views = self.views.entry(*user).or_default();
        match views.get_mut(product) {
            Some(v) => {
                v.count += 1;
                v.last_viewed = v.last_viewed.max(at);
            }
            None => {
                views.insert(
                    *product,
                    View {
                        count: 1,
                        last_viewed: at,
                    },
                );
                self.viewers.entry(*product).or_default().insert(*user);
                self.view_count += 1;
            }
        }
        Ok(())
    }

    /// Node and relationship counts; every kind is present, zeros included.
    pub(super) fn counts(&self) -> GraphCounts {
        let mut counts = GraphCounts {
            purchases: self.purchase_lines,
            views: self.view_count,
            ..GraphCounts::default()
        };
        for kind in EntityKind::ALL {
            let n = match kind {
                EntityKind::User => self.users.len(),
                EntityKind::Category => self.categories.len(),
                EntityKind::Product => self.products.len(),
                EntityKind::Order => self.orders.len(),
                EntityKind::Review => self.reviews.len(),
            };
            counts.entities.insert(kind, n as u64);
        }
        counts
    }
}

/// Removes `value` from the set at `key`, dropping the set when it becomes empty.
fn remove_from<K, V, S>(map: &mut HashMap<K, S>, key: &K, value: &V)
where
    K: Eq + Hash,
    S: SetLike<V>,
{
    if let Some(set) = map.get_mut(key) {
        set.remove_value(value);
        if set.is_empty_set() {
            map.remove(key);
        }
    }
}

/// The sets [`remove_from`] works on.
trait SetLike<V> {
    fn remove_value(&mut self, value: &V);
    fn is_empty_set(&self) -> bool;
}

impl<V: Ord> SetLike<V> for BTreeSet<V> {
    fn remove_value(&mut self, value: &V) {
        self.remove(value);
    }
    fn is_empty_set(&self) -> bool {
        self.is_empty()
    }
}

impl<V: Eq + Hash> SetLike<V> for HashSet<V> {
    fn remove_value(&mut self, value: &V) {
        self.remove(value);
    }
    fn is_empty_set(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
impl State {
    /// The latest view of a pair: (count, last viewed).
    pub(super) fn view(&self, user: &UserId, product: &ProductId) -> Option<(u64, Ts)> {
        self.views
            .get(user)
            .and_then(|v| v.get(product))
            .map(|v| (v.count, v.last_viewed))
    }
}
