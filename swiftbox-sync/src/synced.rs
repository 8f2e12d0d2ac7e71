//! [`Synced`]: a [`PrimaryStore`] that keeps a [`GraphStore`] in step.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};
use swiftbox_core::prelude::*;

use swiftbox_core::{changes, ChangeAck, EntityKind, EntityRef, Error, GraphChange, Result};
use swiftbox_core::{
    Category, CategoryId, Credentials, IdempotencyKey, NewCategory, NewOrder, NewProduct,
    NewReview, NewUser, Order, OrderId, OrderStatusPatch, Page, PageRequest, Placement, Product,
    ProductId, ProductPatch, ProductQuery, Review, ReviewId, ReviewPatch, User, UserId, UserPatch,
};
use tracing::Instrument;

use crate::apply::apply_within;
use crate::config::{SyncConfig, WorkerConfig};
use crate::metrics::{Counter, SyncMetrics};
use crate::reconcile::Reconciler;
use crate::worker::SyncWorker;

/// A [`PrimaryStore`] that keeps a [`GraphStore`] in step with it (ARCHITECTURE.md,
/// "The sync contract").
///
/// Every write goes to the primary store first, which records the owed graph change atomically
/// with the write: that is the commit point. Then, unless [`SyncConfig::inline`] is off, the
/// change is applied to the graph within [`SyncConfig::inline_timeout`] and acknowledged. If
/// the graph fails, times out, or defers the change, **the write still succeeds** and the change
/// stays owed until a [`SyncWorker`] applies it (a `tracing` warning and
/// [`crate::SyncMetricsSnapshot::inline_failed`] record it). If the caller drops the write's
/// future after the primary write, the change also stays owed.
///
/// Upserts are built from the entity the primary store returned (orders and reviews as if their
/// user and products were live: if one was deleted meanwhile the graph defers the change and the
/// worker applies the primary store's own version of it); deletes use
/// [`SyncLedger::owed_change`], which carries the tombstone's version.
///
/// Reads go straight to the primary store. The decorator is a [`PrimaryStore`] but not a
/// [`SyncLedger`]: the application writes through it and cannot acknowledge a change by hand;
/// the ledger is driven by the decorator itself, its [`SyncWorker`]s and its [`Reconciler`]
/// ([`Synced::worker`], [`Synced::reconciler`]). The primary and the graph are held in [`Arc`]s
/// so workers and reconcilers created from the decorator share them.
#[derive(Debug)]
pub struct Synced<P, G> {
    primary: Arc<P>,
    graph: Arc<G>,
    config: SyncConfig,
    metrics: Arc<SyncMetrics>,
}

impl<P, G> Clone for Synced<P, G> {
    fn clone(&self) -> Self {
        Self {
            primary: Arc::clone(&self.primary),
            graph: Arc::clone(&self.graph),
            config: self.config.clone(),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

impl<P: PrimaryBackend, G: GraphStore> Synced<P, G> {
    /// Wraps `primary`, keeping `graph` in step, with the default [`SyncConfig`] (inline apply,
    /// 2 s timeout).
    pub fn new(primary: P, graph: G) -> Self {
        Self::with_config(primary, graph, SyncConfig::default())
    }

    /// Like [`Synced::new`] with a configuration.
    pub fn with_config(primary: P, graph: G, config: SyncConfig) -> Self {
        Self::from_arcs(Arc::new(primary), Arc::new(graph), config)
    }

    /// From stores already shared, for example with another decorator or a worker.
    pub fn from_arcs(primary: Arc<P>, graph: Arc<G>, config: SyncConfig) -> Self {
        Self {
            primary,
            graph,
            config,
            metrics: Arc::new(SyncMetrics::new()),
        }
    }

    /// The graph store, for queries (`store.graph().recommendations_for(..)`). Write to it only
    /// through the decorator: a hand-written change is drift that the reconciler reports.
    pub fn graph(&self) -> &G {
        &self.graph
    }

    /// The wrapped primary store. Writes made through it directly still record their owed
    /// change (the primary store does that), so a worker applies them later.
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The wrapped primary store (same as [`Synced::primary`], in the naming of other wrappers).
    pub fn get_ref(&self) -> &P {
        &self.primary
    }

    /// The shared primary store.
    pub fn primary_arc(&self) -> &Arc<P> {
        &self.primary
    }

    /// The shared graph store.
    pub fn graph_arc(&self) -> &Arc<G> {
        &self.graph
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The counters shared by this decorator and the workers it created.
    pub fn metrics(&self) -> &Arc<SyncMetrics> {
        &self.metrics
    }

    /// Gives back the two stores (still shared with any worker or reconciler made from this
    /// decorator, hence the [`Arc`]s).
    pub fn into_inner(self) -> (Arc<P>, Arc<G>) {
        (self.primary, self.graph)
    }

    /// A worker on the same stores, counting into the same [`SyncMetrics`]. Start it with
    /// [`SyncWorker::spawn`]. [`swiftbox_core::Error::Invalid`] for a bad configuration.
    pub fn worker(&self, config: WorkerConfig) -> Result<SyncWorker<P, G>> {
        SyncWorker::with_config(Arc::clone(&self.primary), Arc::clone(&self.graph), config)
            .map(|w| w.with_metrics(Arc::clone(&self.metrics)))
    }

    /// A worker like [`Synced::worker`] that shares the owed changes with the other workers of
    /// this primary store by lease ([`crate::lease`]): what an application running several
    /// processes starts in each. [`Error::Invalid`] on `partition` when `config.partition` is
    /// not [`swiftbox_core::Partition::ALL`]: a leased worker's partitions come from its leases.
    pub fn leased_worker(
        &self,
        config: WorkerConfig,
        leases: crate::lease::LeaseConfig,
    ) -> Result<SyncWorker<P, G>> {
        if config.partition != swiftbox_core::Partition::ALL {
            return Err(Error::invalid(
                "partition",
                "a leased worker's partitions come from its leases; leave it at Partition::ALL",
            ));
        }
        let leases = crate::lease::PartitionLeases::new(Arc::clone(&self.primary), leases)?;
        Ok(self.worker(config)?.with_leases(Arc::new(leases)))
    }

    /// A [`NeighbourRefresher`](crate::neighbours::NeighbourRefresher) of this decorator's
    /// graph: run one beside the workers, so recommendations follow new purchases.
    pub fn neighbour_refresher(
        &self,
        config: crate::neighbours::NeighbourConfig,
    ) -> Result<crate::neighbours::NeighbourRefresher<G>>
    where
        G: GraphStore,
    {
        crate::neighbours::NeighbourRefresher::new(Arc::clone(&self.graph), config)
    }

    /// A reconciler on the same stores, whose status includes this decorator's metrics.
    pub fn reconciler(&self) -> Reconciler<P, G> {
        Reconciler::new(Arc::clone(&self.primary), Arc::clone(&self.graph))
            .with_metrics(Arc::clone(&self.metrics))
    }

    /// Read your writes: waits until the graph holds `entity` at `version` or later, applying
    /// the owed change itself (and acknowledging it) when no one else has, so a caller can
    /// promise "your purchase shows on the next page". `version` is the one a write returned
    /// (`order.version`, `product.version`; any version, 0 included, for a delete).
    ///
    /// Ends `Ok(())` as soon as the ledger owes the graph nothing for `entity` (the graph
    /// acknowledged its latest version, which is at least `version`; an entity the store never
    /// had owes nothing either). While a change is owed it is applied with the remaining time as
    /// its bound; when the graph defers it (a node it references is not in the graph yet), one
    /// worker round over the oldest owed changes applies what it waits for, then it tries
    /// again. Fails with [`Error::Unavailable`] (retryable: the write itself is safe and the
    /// worker will still apply it) when `timeout` passes first, and with the graph's error when
    /// the change fails for a reason retrying cannot fix.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    /// # use swiftbox_core::prelude::*;
    /// # use swiftbox_core::{EntityKind, EntityRef, NewUser};
    /// # use swiftbox_sync::{SyncConfig, Synced};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> swiftbox_core::Result<()> {
    /// // Deferred mode: writes return before the graph has them.
    /// let config = SyncConfig { inline: false, ..SyncConfig::default() };
    /// let store = Synced::with_config(MemoryStore::new(), MemoryGraph::new(), config);
    /// let ann = store.create_user(NewUser::new("ann", "ann@example.com")).await?;
    /// let entity = EntityRef::new(EntityKind::User, &ann.id);
    /// store.wait_synced(&entity, ann.version, Duration::from_secs(5)).await?;
    /// assert_eq!(store.graph().counts().await?.entities[&EntityKind::User], 1);
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(name = "synced.wait_synced", skip_all, fields(%entity, version))]
    pub async fn wait_synced(
        &self,
        entity: &EntityRef,
        version: u64,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        let mut last = None;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let owed = match tokio::time::timeout(remaining, self.primary.owed_change(entity)).await
            {
                Ok(owed) => owed?,
                Err(_) => return Err(not_synced(entity, version, timeout, &last)),
            };
            let Some(owed) = owed else {
                return Ok(());
            };
            if remaining.is_zero() {
                return Err(not_synced(entity, version, timeout, &last));
            }
            match self.apply_and_ack(&owed.change, remaining).await {
                Applied::Acked => continue, // settled, unless a newer write came: look again
                Applied::Deferred => {
                    last = Some("deferred: a node it references is not in the graph yet".into());
                    let catch_up = WorkerConfig {
                        grace: Duration::ZERO,
                        apply_timeout: remaining,
                        ..WorkerConfig::default()
                    };
                    if let Err(err) = self.worker(catch_up)?.run_once().await {
                        last = Some(err.to_string());
                    }
                }
                Applied::Failed(err) if !err.is_retryable() => return Err(err),
                Applied::Failed(err) | Applied::AckFailed(err) => last = Some(err.to_string()),
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(pause.min(remaining)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Records that `user` viewed `product` now (see [`Synced::record_view_at`]).
    pub async fn record_view(&self, user: &UserId, product: &ProductId) -> Result<()> {
        self.record_view_at(user, product, swiftbox_core::time::now())
            .await
    }

    /// Records a product view. Views are behavioural events that live only in the graph (the
    /// primary store keeps no trace of them), so this goes straight to
    /// [`GraphStore::record_view`] within [`SyncConfig::inline_timeout`], even in deferred mode.
    ///
    /// Views are **not** durable like writes: when the graph is down or slow this returns the
    /// graph's error ([`swiftbox_core::Error::Unavailable`] for an outage or timeout, which
    /// [`swiftbox_core::Error::is_retryable`] reports) and the view is not recorded; the caller
    /// decides whether to retry or drop it. [`swiftbox_core::Error::NotFound`] when the user or
    /// product node is not in the graph yet (for example while its creation is still owed).
    #[tracing::instrument(name = "synced.record_view", skip_all, fields(user = %user, product = %product))]
    pub async fn record_view_at(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let timeout = self.config.inline_timeout;
        match tokio::time::timeout(timeout, self.graph.record_view(user, product, at)).await {
            Ok(r) => r,
            Err(_) => Err(swiftbox_core::Error::unavailable(
                "graph",
                format!("record_view timed out after {timeout:?}"),
            )),
        }
    }

    /// Applies the owed change of a deleted entity (its tombstone).
    async fn sync_delete(&self, entity: EntityRef) {
        if !self.config.inline {
            return;
        }
        match self.primary.owed_change(&entity).await {
            Ok(Some(owed)) => self.sync_change(owed.change).await,
            Ok(None) => {}
            Err(err) => {
                self.metrics.add(Counter::InlineFailed, 1);
                self.metrics
                    .error(format!("reading owed change of {entity}: {err}"));
                tracing::warn!(%entity, error = %err, "could not read the owed delete; the worker will apply it");
            }
        }
    }

    /// Applies one change inline and acknowledges it; never fails the write.
    async fn sync_change(&self, change: GraphChange) {
        if !self.config.inline {
            return;
        }
        let entity = change.entity();
        let span = tracing::debug_span!("synced.apply", %entity, version = change.version());
        async {
            match self.apply_and_ack(&change, self.config.inline_timeout).await {
                Applied::Acked => {
                    self.metrics.add(Counter::InlineApplied, 1);
                    tracing::debug!("applied inline");
                }
                Applied::AckFailed(err) => {
                    self.metrics.add(Counter::InlineApplied, 1);
                    self.metrics.error(format!("acknowledging {entity}: {err}"));
                    tracing::warn!(error = %err, "applied but not acknowledged; the worker will re-apply it");
                }
                Applied::Deferred => {
                    self.metrics.add(Counter::InlineDeferred, 1);
                    tracing::debug!("graph deferred the change (a referenced node is missing); left owed");
                }
                Applied::Failed(err) => {
                    self.metrics.add(Counter::InlineFailed, 1);
                    self.metrics.error(format!("applying {entity} inline: {err}"));
                    tracing::warn!(error = %err, "graph apply failed; the write succeeded and the change stays owed");
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Applies one change within `timeout` and, unless the graph deferred it, acknowledges it.
    async fn apply_and_ack(&self, change: &GraphChange, timeout: Duration) -> Applied {
        match apply_within(&*self.graph, std::slice::from_ref(change), timeout).await {
            Ok(report) if report.deferred.is_empty() => {
                let ack = ChangeAck {
                    entity: change.entity(),
                    version: change.version(),
                };
                match self.primary.ack_changes(&[ack]).await {
                    Ok(()) => Applied::Acked,
                    Err(err) => Applied::AckFailed(err),
                }
            }
            Ok(_) => Applied::Deferred,
            Err(err) => Applied::Failed(err),
        }
    }
}

/// What one apply-and-acknowledge did.
enum Applied {
    /// Applied (or already held) and acknowledged.
    Acked,
    /// Applied, but the acknowledgement failed: the change stays owed.
    AckFailed(Error),
    /// The graph deferred it: a node it references is missing.
    Deferred,
    /// The graph failed or timed out.
    Failed(Error),
}

/// The error of a [`Synced::wait_synced`] that ran out of time.
fn not_synced(entity: &EntityRef, version: u64, timeout: Duration, last: &Option<String>) -> Error {
    let why = last
        .as_deref()
        .map(|e| format!(" (last: {e})"))
        .unwrap_or_default();
    Error::unavailable(
        "graph",
        format!("{entity} at version {version} not in the graph after {timeout:?}{why}"),
    )
}

fn order_upsert(o: &Order) -> GraphChange {
    changes::order_change(o, true, |_| true)
}

fn review_upsert(r: &Review) -> GraphChange {
    changes::review_change(r, true, true)
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> UserStore for Synced<P, G> {
    #[tracing::instrument(name = "synced.create_user", skip_all)]
    async fn create_user(&self, new: NewUser) -> Result<User> {
        let user = self.primary.create_user(new).await?;
        self.sync_change(GraphChange::Upsert(changes::user_record(&user)))
            .await;
        Ok(user)
    }

    async fn get_user(&self, id: &UserId) -> Result<User> {
        self.primary.get_user(id).await
    }

    #[tracing::instrument(name = "synced.update_user", skip_all, fields(id = %id))]
    async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User> {
        let user = self.primary.update_user(id, patch).await?;
        self.sync_change(GraphChange::Upsert(changes::user_record(&user)))
            .await;
        Ok(user)
    }

    #[tracing::instrument(name = "synced.delete_user", skip_all, fields(id = %id))]
    async fn delete_user(&self, id: &UserId) -> Result<()> {
        self.primary.delete_user(id).await?;
        self.sync_delete(EntityRef::new(EntityKind::User, id)).await;
        Ok(())
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>> {
        self.primary.list_users(page).await
    }

    async fn credentials(&self, login: &str) -> Result<Option<Credentials>> {
        self.primary.credentials(login).await
    }

    async fn authenticate(&self, login: &str, password: &str) -> Result<Option<User>> {
        self.primary.authenticate(login, password).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> CatalogStore for Synced<P, G> {
    #[tracing::instrument(name = "synced.create_category", skip_all)]
    async fn create_category(&self, new: NewCategory) -> Result<Category> {
        let category = self.primary.create_category(new).await?;
        self.sync_change(GraphChange::Upsert(changes::category_record(&category)))
            .await;
        Ok(category)
    }

    async fn get_category(&self, id: &CategoryId) -> Result<Category> {
        self.primary.get_category(id).await
    }

    async fn category_by_name(&self, name: &str) -> Result<Option<Category>> {
        self.primary.category_by_name(name).await
    }

    async fn list_categories(&self, page: PageRequest) -> Result<Page<Category>> {
        self.primary.list_categories(page).await
    }

    #[tracing::instrument(name = "synced.delete_category", skip_all, fields(id = %id))]
    async fn delete_category(&self, id: &CategoryId) -> Result<()> {
        self.primary.delete_category(id).await?;
        self.sync_delete(EntityRef::new(EntityKind::Category, id))
            .await;
        Ok(())
    }

    #[tracing::instrument(name = "synced.create_product", skip_all)]
    async fn create_product(&self, new: NewProduct) -> Result<Product> {
        let product = self.primary.create_product(new).await?;
        self.sync_change(GraphChange::Upsert(changes::product_record(&product)))
            .await;
        Ok(product)
    }

    async fn get_product(&self, id: &ProductId) -> Result<Product> {
        self.primary.get_product(id).await
    }

    #[tracing::instrument(name = "synced.update_product", skip_all, fields(id = %id))]
    async fn update_product(&self, id: &ProductId, patch: ProductPatch) -> Result<Product> {
        let product = self.primary.update_product(id, patch).await?;
        self.sync_change(GraphChange::Upsert(changes::product_record(&product)))
            .await;
        Ok(product)
    }

    #[tracing::instrument(name = "synced.delete_product", skip_all, fields(id = %id))]
    async fn delete_product(&self, id: &ProductId) -> Result<()> {
        self.primary.delete_product(id).await?;
        self.sync_delete(EntityRef::new(EntityKind::Product, id))
            .await;
        Ok(())
    }

    async fn list_products(&self, query: ProductQuery) -> Result<Page<Product>> {
        self.primary.list_products(query).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> OrderStore for Synced<P, G> {
    #[tracing::instrument(name = "synced.place_order", skip_all, fields(user = %new.user))]
    async fn place_order(&self, new: NewOrder) -> Result<Order> {
        let order = self.primary.place_order(new).await?;
        self.sync_change(order_upsert(&order)).await;
        Ok(order)
    }

    /// A replay places nothing, so it owes the graph nothing new (what the first placement
    /// owed is applied by it or by the worker).
    #[tracing::instrument(name = "synced.place_order_once", skip_all, fields(user = %new.user))]
    async fn place_order_once(&self, new: NewOrder, key: &IdempotencyKey) -> Result<Placement> {
        let placed = self.primary.place_order_once(new, key).await?;
        if !placed.replayed {
            self.sync_change(order_upsert(&placed.order)).await;
        }
        Ok(placed)
    }

    async fn purge_idempotency_keys(&self, older_than: Duration) -> Result<u64> {
        self.primary.purge_idempotency_keys(older_than).await
    }

    async fn get_order(&self, id: &OrderId) -> Result<Order> {
        self.primary.get_order(id).await
    }

    #[tracing::instrument(name = "synced.update_order_status", skip_all, fields(id = %id))]
    async fn update_order_status(&self, id: &OrderId, patch: OrderStatusPatch) -> Result<Order> {
        let order = self.primary.update_order_status(id, patch).await?;
        self.sync_change(order_upsert(&order)).await;
        Ok(order)
    }

    async fn list_user_orders(&self, user: &UserId, page: PageRequest) -> Result<Page<Order>> {
        self.primary.list_user_orders(user, page).await
    }

    async fn list_orders(&self, page: PageRequest) -> Result<Page<Order>> {
        self.primary.list_orders(page).await
    }

    /// Stock is not graph state: recovering it owes the graph nothing.
    async fn recover_reservations(&self, stale_after: std::time::Duration) -> Result<u64> {
        self.primary.recover_reservations(stale_after).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> ReviewStore for Synced<P, G> {
    #[tracing::instrument(name = "synced.create_review", skip_all)]
    async fn create_review(&self, new: NewReview) -> Result<Review> {
        let review = self.primary.create_review(new).await?;
        self.sync_change(review_upsert(&review)).await;
        Ok(review)
    }

    async fn get_review(&self, id: &ReviewId) -> Result<Review> {
        self.primary.get_review(id).await
    }

    #[tracing::instrument(name = "synced.update_review", skip_all, fields(id = %id))]
    async fn update_review(&self, id: &ReviewId, patch: ReviewPatch) -> Result<Review> {
        let review = self.primary.update_review(id, patch).await?;
        self.sync_change(review_upsert(&review)).await;
        Ok(review)
    }

    #[tracing::instrument(name = "synced.delete_review", skip_all, fields(id = %id))]
    async fn delete_review(&self, id: &ReviewId) -> Result<()> {
        self.primary.delete_review(id).await?;
        self.sync_delete(EntityRef::new(EntityKind::Review, id))
            .await;
        Ok(())
    }

    async fn list_product_reviews(
        &self,
        product: &ProductId,
        page: PageRequest,
    ) -> Result<Page<Review>> {
        self.primary.list_product_reviews(product, page).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> PrimaryStore for Synced<P, G> {
    async fn ping(&self) -> Result<()> {
        self.primary.ping().await
    }
}
