//! The tables of a [`super::MemoryStore`] and its sync bookkeeping, all behind one lock so every
//! write, its unique-value indexes and the change it owes move together.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::changes;
use crate::domain::{Category, NewOrder, Order, Product, Review, User};
use crate::error::{EntityKind, Error, Result};
use crate::graph::{GraphChange, GraphRecord};
use crate::id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};
use crate::password::PasswordHash;
use crate::primary::{ChangeAck, FailureRecord, OwedChange, OwedQuery, SetAsideQuery, SyncStats};

/// Longest failure message kept per owed change (longer ones are cut at a character boundary),
/// so a runaway error cannot grow the bookkeeping without bound.
pub(super) const MAX_ERROR_CHARS: usize = 2000;

/// A stored user with the hash that never leaves the store except through `credentials`.
#[derive(Debug, Clone)]
pub(super) struct UserRow {
    pub(super) user: User,
    pub(super) hash: Option<PasswordHash>,
}

/// The sync state of one entity that owes the graph a change. Settled entities have none.
#[derive(Debug, Clone)]
struct Owed {
    version: u64,
    since: DateTime<Utc>,
    attempts: u32,
    last_error: Option<String>,
    failed_at: Option<DateTime<Utc>>,
    set_aside: bool,
    /// Failed retries since it was set aside.
    retries: u32,
    /// The next retry of a set-aside change (`None`: in line, or retries used up).
    retry_at: Option<DateTime<Utc>>,
}

impl Owed {
    /// Back in line: attempts, retries and the retry time reset.
    fn back_in_line(&mut self) {
        self.attempts = 0;
        self.set_aside = false;
        self.retries = 0;
        self.retry_at = None;
    }
}

/// Everything a memory store holds.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) users: BTreeMap<UserId, UserRow>,
    pub(super) usernames: HashMap<String, UserId>,
    /// Lower-case e-mail to user.
    pub(super) emails: HashMap<String, UserId>,
    pub(super) categories: BTreeMap<CategoryId, Category>,
    pub(super) category_names: HashMap<String, CategoryId>,
    pub(super) products: BTreeMap<ProductId, Product>,
    pub(super) products_by_category: BTreeSet<(CategoryId, ProductId)>,
    pub(super) orders: BTreeMap<OrderId, Order>,
    pub(super) orders_by_user: BTreeSet<(UserId, OrderId)>,
    /// Idempotency keys per user: the order each placed and the request's fingerprint.
    pub(super) order_keys: HashMap<(UserId, String), (OrderId, String)>,
    pub(super) reviews: BTreeMap<ReviewId, Review>,
    /// One review per user and product.
    pub(super) review_keys: HashMap<(UserId, ProductId), ReviewId>,
    pub(super) reviews_by_product: BTreeSet<(ProductId, ReviewId)>,
    /// Deleted entities the graph has not acknowledged yet, with the version of the deletion.
    tombstones: HashMap<EntityRef, u64>,
    owed: HashMap<EntityRef, Owed>,
    /// The owed entities in `owed_changes` order: owed since, kind rank, id.
    owed_order: BTreeSet<(DateTime<Utc>, usize, String)>,
    /// Lease records by key.
    pub(super) leases: BTreeMap<String, crate::primary::LeaseRecord>,
}

impl State {
    /// Places a validated order: checks user, products and stock for every line, and only
    /// then takes the stock (one step under the store's lock, so nothing is half-reserved).
    pub(super) fn place_order(&mut self, new: NewOrder) -> Result<Order> {
        if !self.user_live(&new.user) {
            return Err(Error::not_found(EntityKind::User, new.user));
        }
        let products = new
            .items
            .iter()
            .map(|i| {
                self.products
                    .get(&i.product)
                    .cloned()
                    .ok_or_else(|| Error::not_found(EntityKind::Product, i.product))
            })
            .collect::<Result<Vec<_>>>()?;
        let order = new.prepare(&products)?;
        for item in &order.items {
            if let Some(p) = self.products.get_mut(&item.product) {
                p.stock -= item.quantity;
            }
        }
        self.orders_by_user.insert((order.user, order.id));
        self.orders.insert(order.id, order.clone());
        self.owe(EntityRef::new(EntityKind::Order, order.id), order.version);
        Ok(order)
    }

    /// Records that the graph owes `entity` its state at `version`. The first unacknowledged
    /// write starts the clock; every write resets attempts and takes a set-aside change back in
    /// line (the new state may well apply), keeping the last error for status reports.
    pub(super) fn owe(&mut self, entity: EntityRef, version: u64) {
        if let Some(o) = self.owed.get_mut(&entity) {
            o.version = version;
            o.back_in_line();
            return;
        }
        let since = crate::time::now();
        self.owed_order
            .insert((since, entity.kind.rank(), entity.id.clone()));
        self.owed.insert(
            entity,
            Owed {
                version,
                since,
                attempts: 0,
                last_error: None,
                failed_at: None,
                set_aside: false,
                retries: 0,
                retry_at: None,
            },
        );
    }

    /// Records the deletion of `entity`, whose last live version was `last_version`.
    pub(super) fn tombstone(&mut self, entity: EntityRef, last_version: u64) {
        let version = last_version + 1;
        self.tombstones.insert(entity.clone(), version);
        self.owe(entity, version);
    }

    fn settle(&mut self, entity: &EntityRef) {
        if let Some(o) = self.owed.remove(entity) {
            self.owed_order
                .remove(&(o.since, entity.kind.rank(), entity.id.clone()));
        }
        self.tombstones.remove(entity);
    }

    pub(super) fn user_live(&self, id: &UserId) -> bool {
        self.users.contains_key(id)
    }

    pub(super) fn product_live(&self, id: &ProductId) -> bool {
        self.products.contains_key(id)
    }

    pub(super) fn order_change(&self, o: &Order) -> GraphChange {
        changes::order_change(o, self.user_live(&o.user), |p| self.product_live(p))
    }

    pub(super) fn review_change(&self, r: &Review) -> GraphChange {
        changes::review_change(r, self.user_live(&r.user), self.product_live(&r.product))
    }

    /// The change the graph needs for `entity` as it is now, with its current version; `None`
    /// when the store knows nothing of it.
    fn current_change(&self, entity: &EntityRef) -> Option<GraphChange> {
        if let Some(v) = self.tombstones.get(entity) {
            return Some(changes::delete_change(entity.clone(), *v));
        }
        let id = uuid::Uuid::try_parse(&entity.id).ok()?.as_u128();
        match entity.kind {
            EntityKind::User => self
                .users
                .get(&UserId::from_u128(id))
                .map(|r| GraphChange::Upsert(changes::user_record(&r.user))),
            EntityKind::Category => self
                .categories
                .get(&CategoryId::from_u128(id))
                .map(|c| GraphChange::Upsert(changes::category_record(c))),
            EntityKind::Product => self
                .products
                .get(&ProductId::from_u128(id))
                .map(|p| GraphChange::Upsert(changes::product_record(p))),
            EntityKind::Order => self
                .orders
                .get(&OrderId::from_u128(id))
                .map(|o| self.order_change(o)),
            EntityKind::Review => self
                .reviews
                .get(&ReviewId::from_u128(id))
                .map(|r| self.review_change(r)),
        }
    }

    fn owed_change_of(&self, entity: &EntityRef, o: &Owed) -> Option<OwedChange> {
        let change = self.current_change(entity)?;
        Some(OwedChange {
            entity: entity.clone(),
            version: o.version,
            change,
            owed_since: o.since,
            attempts: o.attempts,
            last_error: o.last_error.clone(),
            set_aside: o.set_aside,
            retries: o.retries,
            retry_at: o.retry_at,
        })
    }

    pub(super) fn owed_changes(&self, q: &OwedQuery) -> Vec<OwedChange> {
        let mut out = Vec::new();
        for (since, rank, id) in &self.owed_order {
            if out.len() >= q.limit {
                break;
            }
            if q.owed_before.is_some_and(|before| *since >= before) {
                break;
            }
            if !q.partitions.contains(id) {
                continue;
            }
            let Some(kind) = EntityKind::ALL.get(*rank) else {
                continue;
            };
            let entity = EntityRef::new(*kind, id);
            let Some(o) = self.owed.get(&entity) else {
                continue;
            };
            if o.set_aside && !q.include_set_aside {
                continue;
            }
            if let Some(c) = self.owed_change_of(&entity, o) {
                out.push(c);
            }
        }
        out
    }

    pub(super) fn set_aside_changes(&self, q: &SetAsideQuery) -> Vec<OwedChange> {
        let entity_of = |rank: &usize, id: &String| {
            let kind = EntityKind::ALL.get(*rank)?;
            Some(EntityRef::new(*kind, id))
        };
        // In `owed_changes` order, then (when due) by retry time: stable, so ties keep it.
        let mut found: Vec<(Option<DateTime<Utc>>, EntityRef)> = self
            .owed_order
            .iter()
            .filter(|(_, _, id)| q.partitions.contains(id))
            .filter_map(|(_, rank, id)| entity_of(rank, id))
            .filter_map(|e| {
                let o = self.owed.get(&e)?;
                let due = match q.due_at {
                    None => true,
                    Some(at) => o.retry_at.is_some_and(|r| r <= at),
                };
                (o.set_aside && due).then_some((o.retry_at, e))
            })
            .collect();
        if q.due_at.is_some() {
            found.sort_by(|(a, ea), (b, eb)| {
                (a, ea.kind.rank(), &ea.id).cmp(&(b, eb.kind.rank(), &eb.id))
            });
        }
        found
            .into_iter()
            .filter_map(|(_, e)| self.owed_change(&e))
            .take(q.limit)
            .collect()
    }

    pub(super) fn owed_change(&self, entity: &EntityRef) -> Option<OwedChange> {
        let o = self.owed.get(entity)?;
        self.owed_change_of(entity, o)
    }

    pub(super) fn ack(&mut self, acks: &[ChangeAck]) {
        for ack in acks {
            if self
                .owed
                .get(&ack.entity)
                .is_some_and(|o| o.version == ack.version)
            {
                self.settle(&ack.entity);
            }
        }
    }

    pub(super) fn record_failure(
        &mut self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
        retry_at: Option<DateTime<Utc>>,
    ) -> FailureRecord {
        let Some(o) = self.owed.get_mut(entity) else {
            return FailureRecord::default();
        };
        if o.version != version {
            return FailureRecord::default();
        }
        o.attempts = o.attempts.saturating_add(1);
        o.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        o.failed_at = Some(crate::time::now());
        if !o.set_aside && set_aside_after > 0 && o.attempts >= set_aside_after {
            o.set_aside = true;
            o.retries = 0;
            o.retry_at = retry_at;
        }
        FailureRecord {
            attempts: o.attempts,
            set_aside: o.set_aside,
        }
    }

    pub(super) fn record_retry_failure(
        &mut self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> u32 {
        let Some(o) = self.owed.get_mut(entity) else {
            return 0;
        };
        if o.version != version || !o.set_aside {
            return 0;
        }
        o.retries = o.retries.saturating_add(1);
        o.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        o.failed_at = Some(crate::time::now());
        o.retry_at = retry_at;
        o.retries
    }

    pub(super) fn release(&mut self, entity: Option<&EntityRef>) -> u64 {
        let mut n = 0;
        let mut release = |o: &mut Owed| {
            if o.set_aside {
                o.back_in_line();
                n += 1;
            }
        };
        match entity {
            Some(e) => {
                if let Some(o) = self.owed.get_mut(e) {
                    release(o);
                }
            }
            None => self.owed.values_mut().for_each(release),
        }
        n
    }

    pub(super) fn stats(&self) -> SyncStats {
        let mut entities = BTreeMap::new();
        entities.insert(EntityKind::User, self.users.len() as u64);
        entities.insert(EntityKind::Category, self.categories.len() as u64);
        entities.insert(EntityKind::Product, self.products.len() as u64);
        entities.insert(EntityKind::Order, self.orders.len() as u64);
        entities.insert(EntityKind::Review, self.reviews.len() as u64);
        let last = self
            .owed
            .values()
            .filter(|o| o.failed_at.is_some())
            .max_by_key(|o| o.failed_at);
        SyncStats {
            entities,
            owed: self.owed.len() as u64,
            set_aside: self.owed.values().filter(|o| o.set_aside).count() as u64,
            oldest_set_aside: self
                .owed
                .values()
                .filter(|o| o.set_aside)
                .map(|o| o.since)
                .min(),
            oldest_owed: self.owed_order.first().map(|(since, _, _)| *since),
            last_error: last.and_then(|o| o.last_error.clone()),
        }
    }

    pub(super) fn expected_graph(
        &self,
        kind: EntityKind,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Vec<GraphRecord> {
        use std::ops::Bound::{Excluded, Unbounded};
        fn range<K: Ord + Copy, V>(
            map: &BTreeMap<K, V>,
            after: Option<K>,
        ) -> std::collections::btree_map::Range<'_, K, V> {
            match after {
                Some(a) => map.range((Excluded(a), Unbounded)),
                None => map.range(..),
            }
        }
        let a = after.map(|u| u.as_u128());
        let upsert = |c: GraphChange| match c {
            GraphChange::Upsert(r) => Some(r),
            GraphChange::Delete { .. } => None,
        };
        match kind {
            EntityKind::User => range(&self.users, a.map(UserId::from_u128))
                .take(limit)
                .map(|(_, r)| changes::user_record(&r.user))
                .collect(),
            EntityKind::Category => range(&self.categories, a.map(CategoryId::from_u128))
                .take(limit)
                .map(|(_, c)| changes::category_record(c))
                .collect(),
            EntityKind::Product => range(&self.products, a.map(ProductId::from_u128))
                .take(limit)
                .map(|(_, p)| changes::product_record(p))
                .collect(),
            EntityKind::Order => range(&self.orders, a.map(OrderId::from_u128))
                .filter_map(|(_, o)| upsert(self.order_change(o)))
                .take(limit)
                .collect(),
            EntityKind::Review => range(&self.reviews, a.map(ReviewId::from_u128))
                .filter_map(|(_, r)| upsert(self.review_change(r)))
                .take(limit)
                .collect(),
        }
    }
}

/// Reads a cursor that [`crate::PageRequest::validate`] (or the caller) has checked.
pub(super) fn cursor(after: Option<&str>) -> Result<Option<uuid::Uuid>> {
    after
        .map(|a| {
            uuid::Uuid::try_parse(a).map_err(|_| Error::invalid("after", "not a valid cursor"))
        })
        .transpose()
}
