//! `MemoryStore`: the in-memory [`crate::PrimaryStore`].

mod state;

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use crate::domain::*;
use crate::error::{EntityKind, Error, Result};
use crate::graph::GraphRecord;
use crate::id::{CategoryId, EntityRef, OrderId, ProductId, ReviewId, UserId};
use crate::primary::{
    CatalogStore, ChangeAck, FailureRecord, LeaseLedger, LeaseRecord, OrderStore, OwedChange,
    OwedQuery, PrimaryStore, ReviewStore, SetAsideQuery, SyncLedger, SyncStats, UserStore,
};

use state::{cursor, State, UserRow};

const STORE: &str = "memory";

/// The complete in-memory [`PrimaryStore`] and [`SyncLedger`]: every documented semantic, including the sync
/// bookkeeping, in process memory. Clones share the same data, so hand clones to tasks freely.
///
/// One lock guards everything, so each call is atomic: a write, its unique-value indexes and
/// the change it owes the graph happen together or not at all, and [`OrderStore::place_order`]
/// checks and reserves stock for all its items in one step (concurrent orders never oversell).
/// Password hashing runs before the lock is taken.
///
/// Decisions where the trait is silent (every backend's conformance suite checks them):
/// - reserving stock in `place_order` is not a product write: the product's version stays and
///   no product change is owed (its graph record has no stock);
/// - `list_products` filtered by a category that does not exist gives an empty page;
/// - `credentials` tries the username first, then the e-mail;
/// - `record_sync_failure` with `set_aside_after == 0` never sets a change aside;
/// - a new write to an owed entity resets its attempts and takes it back from set-aside, but
///   keeps `last_error` until the graph acknowledges the entity;
/// - a failure that finds the change already set aside counts an attempt but keeps its retry
///   time and retries (only [`SyncLedger::record_retry_failure`] moves them);
/// - `expected_graph` takes `limit` in 1..=10000 and fills a page past orders and reviews that
///   have no graph record (their user, or all their products, are gone).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.state
            .read()
            .map_err(|_| Error::backend(STORE, "state lock poisoned by a panic"))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>> {
        self.state
            .write()
            .map_err(|_| Error::backend(STORE, "state lock poisoned by a panic"))
    }
}

fn uid(id: Option<uuid::Uuid>) -> Option<u128> {
    id.map(|u| u.as_u128())
}

/// One page of a map ordered by id.
fn page_of<K: Ord + Copy + ToString, V, T>(
    map: &BTreeMap<K, V>,
    page: &PageRequest,
    key: impl Fn(u128) -> K,
    item: impl Fn(&V) -> T,
) -> Result<Page<T>> {
    let after = uid(cursor(page.after.as_deref())?).map(key);
    let range = match after {
        Some(a) => map.range((Excluded(a), Unbounded)),
        None => map.range(..),
    };
    let items: Vec<(K, T)> = range
        .take(page.limit as usize + 1)
        .map(|(k, v)| (*k, item(v)))
        .collect();
    let page = Page::from_overfetch(items, page.limit, |(k, _)| k.to_string());
    Ok(Page {
        items: page.items.into_iter().map(|(_, t)| t).collect(),
        next: page.next,
    })
}

/// One page of the ids paired with `owner` in an index ordered by (owner, id).
fn index_page<O: Ord + Copy, K: Ord + Copy + ToString>(
    index: &std::collections::BTreeSet<(O, K)>,
    owner: O,
    page: &PageRequest,
    key: impl Fn(u128) -> K,
) -> Result<Page<K>> {
    let after = uid(cursor(page.after.as_deref())?).map(&key);
    let lower = match after {
        Some(a) => Excluded((owner, a)),
        None => Included((owner, key(0))),
    };
    let ids: Vec<K> = index
        .range((lower, Included((owner, key(u128::MAX)))))
        .take(page.limit as usize + 1)
        .map(|(_, k)| *k)
        .collect();
    Ok(Page::from_overfetch(ids, page.limit, |k| k.to_string()))
}

fn resolve<K: Ord, V: Clone>(map: &BTreeMap<K, V>, ids: Page<K>) -> Page<V> {
    Page {
        items: ids
            .items
            .iter()
            .filter_map(|k| map.get(k).cloned())
            .collect(),
        next: ids.next,
    }
}

/// A user to validate patches against before any lookup.
fn placeholder_user() -> User {
    User {
        id: UserId::from_u128(0),
        username: String::new(),
        email: String::new(),
        profile: Profile::default(),
        is_admin: false,
        has_password: false,
        version: 0,
        created_at: crate::time::now(),
    }
}

fn placeholder_review() -> Review {
    Review {
        id: ReviewId::from_u128(0),
        user: UserId::from_u128(0),
        product: ProductId::from_u128(0),
        rating: 1,
        comment: String::new(),
        version: 0,
        created_at: crate::time::now(),
    }
}

fn check_limit(limit: usize) -> Result<()> {
    if limit == 0 || limit > 10_000 {
        return Err(Error::invalid("limit", "must be between 1 and 10000"));
    }
    Ok(())
}

#[async_trait]
impl UserStore for MemoryStore {
    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn create_user(&self, new: NewUser) -> Result<User> {
        let (user, hash) = new.prepare()?;
        let mut s = self.write()?;
        if s.usernames.contains_key(&user.username) {
            return Err(Error::conflict(
                EntityKind::User,
                "username",
                "username is taken",
            ));
        }
        if s.emails.contains_key(&user.email) {
            return Err(Error::conflict(
                EntityKind::User,
                "email",
                "e-mail is taken",
            ));
        }
        s.usernames.insert(user.username.clone(), user.id);
        s.emails.insert(user.email.clone(), user.id);
        s.users.insert(
            user.id,
            UserRow {
                user: user.clone(),
                hash,
            },
        );
        s.owe(EntityRef::new(EntityKind::User, user.id), user.version);
        Ok(user)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn get_user(&self, id: &UserId) -> Result<User> {
        self.read()?
            .users
            .get(id)
            .map(|r| r.user.clone())
            .ok_or_else(|| Error::not_found(EntityKind::User, id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User> {
        // Validate (and hash, which is slow) before the lock and before any lookup.
        let (_, hash) = patch.apply_to(&placeholder_user())?;
        let patch = UserPatch {
            password: None,
            ..patch
        };
        let mut s = self.write()?;
        let current = s
            .users
            .get(id)
            .ok_or_else(|| Error::not_found(EntityKind::User, id))?;
        let (mut next, _) = patch.apply_to(&current.user)?;
        let new_hash = match hash {
            Some(h) => {
                next.has_password = true;
                Some(h)
            }
            None => current.hash.clone(),
        };
        let old_email = current.user.email.clone();
        if next.email != old_email {
            if s.emails.get(&next.email).is_some_and(|other| other != id) {
                return Err(Error::conflict(
                    EntityKind::User,
                    "email",
                    "e-mail is taken",
                ));
            }
            s.emails.remove(&old_email);
            s.emails.insert(next.email.clone(), *id);
        }
        s.users.insert(
            *id,
            UserRow {
                user: next.clone(),
                hash: new_hash,
            },
        );
        s.owe(EntityRef::new(EntityKind::User, id), next.version);
        Ok(next)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn delete_user(&self, id: &UserId) -> Result<()> {
        let mut s = self.write()?;
        let row = s
            .users
            .remove(id)
            .ok_or_else(|| Error::not_found(EntityKind::User, id))?;
        s.usernames.remove(&row.user.username);
        s.emails.remove(&row.user.email);
        s.tombstone(EntityRef::new(EntityKind::User, id), row.user.version);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn list_users(&self, page: PageRequest) -> Result<Page<User>> {
        page.validate()?;
        page_of(&self.read()?.users, &page, UserId::from_u128, |r| {
            r.user.clone()
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
        let s = self.read()?;
        let id = s
            .usernames
            .get(login)
            .or_else(|| s.emails.get(&login.to_lowercase()));
        Ok(id.and_then(|id| s.users.get(id)).map(|r| Credentials {
            user: r.user.clone(),
            hash: r.hash.clone(),
        }))
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn create_category(&self, new: NewCategory) -> Result<Category> {
        let category = new.prepare()?;
        let mut s = self.write()?;
        if let Some(parent) = &category.parent {
            if !s.categories.contains_key(parent) {
                return Err(Error::not_found(EntityKind::Category, parent));
            }
        }
        if s.category_names.contains_key(&category.name) {
            return Err(Error::conflict(
                EntityKind::Category,
                "name",
                "category name is taken",
            ));
        }
        s.category_names.insert(category.name.clone(), category.id);
        s.categories.insert(category.id, category.clone());
        s.owe(
            EntityRef::new(EntityKind::Category, category.id),
            category.version,
        );
        Ok(category)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn get_category(&self, id: &CategoryId) -> Result<Category> {
        self.read()?
            .categories
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(EntityKind::Category, id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn category_by_name(&self, name: &str) -> Result<Option<Category>> {
        let s = self.read()?;
        Ok(s.category_names
            .get(name)
            .and_then(|id| s.categories.get(id))
            .cloned())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>> {
        page.validate()?;
        page_of(
            &self.read()?.categories,
            &page,
            CategoryId::from_u128,
            Clone::clone,
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn delete_category(&self, id: &CategoryId) -> Result<()> {
        let mut s = self.write()?;
        if !s.categories.contains_key(id) {
            return Err(Error::not_found(EntityKind::Category, id));
        }
        let in_use = s
            .products_by_category
            .range((*id, ProductId::from_u128(0))..=(*id, ProductId::from_u128(u128::MAX)))
            .next()
            .is_some();
        if in_use {
            return Err(Error::conflict(
                EntityKind::Category,
                "products",
                "the category still has products",
            ));
        }
        if let Some(c) = s.categories.remove(id) {
            s.category_names.remove(&c.name);
            s.tombstone(EntityRef::new(EntityKind::Category, id), c.version);
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn create_product(&self, new: NewProduct) -> Result<Product> {
        new.validate()?;
        let mut s = self.write()?;
        let category = s
            .categories
            .get(&new.category)
            .ok_or_else(|| Error::not_found(EntityKind::Category, new.category))?;
        let product = new.prepare(category.name.clone())?;
        s.products_by_category
            .insert((product.category, product.id));
        s.products.insert(product.id, product.clone());
        s.owe(
            EntityRef::new(EntityKind::Product, product.id),
            product.version,
        );
        Ok(product)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn get_product(&self, id: &ProductId) -> Result<Product> {
        self.read()?
            .products
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(EntityKind::Product, id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product> {
        patch.validate()?;
        let mut s = self.write()?;
        let current = s
            .products
            .get(id)
            .ok_or_else(|| Error::not_found(EntityKind::Product, id))?;
        let category_name = match &patch.category {
            Some(c) => Some(
                s.categories
                    .get(c)
                    .map(|c| c.name.clone())
                    .ok_or_else(|| Error::not_found(EntityKind::Category, c))?,
            ),
            None => None,
        };
        let next = patch.apply_to(current, category_name)?;
        let old_category = current.category;
        if next.category != old_category {
            s.products_by_category.remove(&(old_category, *id));
            s.products_by_category.insert((next.category, *id));
        }
        s.products.insert(*id, next.clone());
        s.owe(EntityRef::new(EntityKind::Product, id), next.version);
        Ok(next)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn delete_product(&self, id: &ProductId) -> Result<()> {
        let mut s = self.write()?;
        let p = s
            .products
            .remove(id)
            .ok_or_else(|| Error::not_found(EntityKind::Product, id))?;
        s.products_by_category.remove(&(p.category, *id));
        s.tombstone(EntityRef::new(EntityKind::Product, id), p.version);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn list_products(&self, query: ProductQuery) -> Result<Page<Product>> {
        query.page.validate()?;
        let s = self.read()?;
        match query.category {
            None => page_of(&s.products, &query.page, ProductId::from_u128, Clone::clone),
            Some(c) => {
                let ids = index_page(
                    &s.products_by_category,
                    c,
                    &query.page,
                    ProductId::from_u128,
                )?;
                Ok(resolve(&s.products, ids))
            }
        }
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn place_order(&self, new: NewOrder) -> Result<Order> {
        new.validate()?;
        self.write()?.place_order(new)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn place_order_once(&self, new: NewOrder, key: &IdempotencyKey) -> Result<Placement> {
        new.validate()?;
        let fingerprint = new.fingerprint();
        let scoped = (new.user, key.as_str().to_owned());
        let mut s = self.write()?;
        if let Some((id, seen)) = s.order_keys.get(&scoped) {
            if *seen != fingerprint {
                return Err(IdempotencyKey::reused());
            }
            let order = s
                .orders
                .get(id)
                .cloned()
                .ok_or_else(|| Error::not_found(EntityKind::Order, id))?;
            return Ok(Placement {
                order,
                replayed: true,
            });
        }
        let order = s.place_order(new)?;
        s.order_keys.insert(scoped, (order.id, fingerprint));
        Ok(Placement {
            order,
            replayed: false,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn purge_idempotency_keys(&self, older_than: std::time::Duration) -> Result<u64> {
        let cutoff = crate::time::cutoff(older_than);
        let mut s = self.write()?;
        let State {
            order_keys, orders, ..
        } = &mut *s;
        let before = order_keys.len();
        order_keys.retain(|_, (id, _)| orders.get(id).is_some_and(|o| o.placed_at > cutoff));
        Ok((before - order_keys.len()) as u64)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn get_order(&self, id: &OrderId) -> Result<Order> {
        self.read()?
            .orders
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(EntityKind::Order, id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order> {
        let mut s = self.write()?;
        let next = s
            .orders
            .get(id)
            .map(|o| patch.apply_to(o))
            .ok_or_else(|| Error::not_found(EntityKind::Order, id))?;
        s.orders.insert(*id, next.clone());
        s.owe(EntityRef::new(EntityKind::Order, id), next.version);
        Ok(next)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, user = %user))]
    async fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>> {
        page.validate()?;
        let s = self.read()?;
        if !s.user_live(user) {
            return Err(Error::not_found(EntityKind::User, user));
        }
        let ids = index_page(&s.orders_by_user, *user, &page, OrderId::from_u128)?;
        Ok(resolve(&s.orders, ids))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>> {
        page.validate()?;
        page_of(
            &self.read()?.orders,
            &page,
            OrderId::from_u128,
            Clone::clone,
        )
    }

    /// Nothing to recover: a placement checks and takes the stock and inserts the order under
    /// one lock, with no await in between, so a dropped future leaves nothing reserved.
    async fn recover_reservations(&self, _stale_after: std::time::Duration) -> Result<u64> {
        Ok(0)
    }
}

#[async_trait]
impl ReviewStore for MemoryStore {
    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn create_review(&self, new: NewReview) -> Result<Review> {
        let review = new.prepare()?;
        let mut s = self.write()?;
        if !s.user_live(&review.user) {
            return Err(Error::not_found(EntityKind::User, review.user));
        }
        if !s.product_live(&review.product) {
            return Err(Error::not_found(EntityKind::Product, review.product));
        }
        let key = (review.user, review.product);
        if s.review_keys.contains_key(&key) {
            return Err(Error::conflict(
                EntityKind::Review,
                "product",
                "the user already reviewed this product",
            ));
        }
        s.review_keys.insert(key, review.id);
        s.reviews_by_product.insert((review.product, review.id));
        s.reviews.insert(review.id, review.clone());
        s.owe(
            EntityRef::new(EntityKind::Review, review.id),
            review.version,
        );
        Ok(review)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn get_review(&self, id: &ReviewId) -> Result<Review> {
        self.read()?
            .reviews
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(EntityKind::Review, id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review> {
        patch.apply_to(&placeholder_review())?;
        let mut s = self.write()?;
        let next = s
            .reviews
            .get(id)
            .map(|r| patch.apply_to(r))
            .ok_or_else(|| Error::not_found(EntityKind::Review, id))??;
        s.reviews.insert(*id, next.clone());
        s.owe(EntityRef::new(EntityKind::Review, id), next.version);
        Ok(next)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, id = %id))]
    async fn delete_review(&self, id: &ReviewId) -> Result<()> {
        let mut s = self.write()?;
        let r = s
            .reviews
            .remove(id)
            .ok_or_else(|| Error::not_found(EntityKind::Review, id))?;
        s.review_keys.remove(&(r.user, r.product));
        s.reviews_by_product.remove(&(r.product, r.id));
        s.tombstone(EntityRef::new(EntityKind::Review, id), r.version);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, product = %product))]
    async fn list_product_reviews(
        &self,
        product: &ProductId,
        page: PageRequest,
    ) -> Result<Page<Review>> {
        page.validate()?;
        let s = self.read()?;
        if !s.product_live(product) {
            return Err(Error::not_found(EntityKind::Product, product));
        }
        let ids = index_page(&s.reviews_by_product, *product, &page, ReviewId::from_u128)?;
        Ok(resolve(&s.reviews, ids))
    }
}

#[async_trait]
impl LeaseLedger for MemoryStore {
    async fn lease_records(&self, prefix: &str) -> Result<Vec<LeaseRecord>> {
        crate::primary::validate_prefix(prefix)?;
        let s = self.read()?;
        Ok(s.leases
            .range::<str, _>((Included(prefix), Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn swap_lease(&self, current: Option<&LeaseRecord>, next: &LeaseRecord) -> Result<bool> {
        crate::primary::validate_swap(current, next)?;
        let mut s = self.write()?;
        if s.leases.get(&next.key) != current {
            return Ok(false);
        }
        s.leases.insert(next.key.clone(), next.clone());
        Ok(true)
    }

    async fn remove_lease(&self, current: &LeaseRecord) -> Result<bool> {
        current.validate()?;
        let mut s = self.write()?;
        if s.leases.get(&current.key) != Some(current) {
            return Ok(false);
        }
        s.leases.remove(&current.key);
        Ok(true)
    }
}

#[async_trait]
impl SyncLedger for MemoryStore {
    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, limit = query.limit))]
    async fn owed_changes(&self, query: &OwedQuery) -> Result<Vec<OwedChange>> {
        query.validate()?;
        Ok(self.read()?.owed_changes(query))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, entity = %entity))]
    async fn owed_change(&self, entity: &EntityRef) -> Result<Option<OwedChange>> {
        Ok(self.read()?.owed_change(entity))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, acks = acks.len()))]
    async fn ack_changes(&self, acks: &[ChangeAck]) -> Result<()> {
        self.write()?.ack(acks);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, entity = %entity, version))]
    async fn record_sync_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        set_aside_after: u32,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<FailureRecord> {
        Ok(self
            .write()?
            .record_failure(entity, version, error, set_aside_after, retry_at))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, entity = %entity, version))]
    async fn record_retry_failure(
        &self,
        entity: &EntityRef,
        version: u64,
        error: &str,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<u32> {
        Ok(self
            .write()?
            .record_retry_failure(entity, version, error, retry_at))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, limit = query.limit))]
    async fn set_aside_changes(&self, query: &SetAsideQuery) -> Result<Vec<OwedChange>> {
        query.validate()?;
        Ok(self.read()?.set_aside_changes(query))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64> {
        Ok(self.write()?.release(entity))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE))]
    async fn sync_stats(&self) -> Result<SyncStats> {
        Ok(self.read()?.stats())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(store = STORE, kind = %kind, limit))]
    async fn expected_graph(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        check_limit(limit)?;
        let after = cursor(after)?;
        Ok(self.read()?.expected_graph(kind, after, limit))
    }
}

#[async_trait]
impl PrimaryStore for MemoryStore {
    async fn ping(&self) -> Result<()> {
        self.read().map(drop)
    }
}

#[cfg(test)]
mod tests;
