//! [`Observed`]: a [`GraphStore`] wrapper that notes when each order's purchases became
//! visible (the moment the graph's `apply` returned with it applied), for the sync-lag figure.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use swiftbox_core::{
    ApplyReport, EntityKind, EntityRef, GraphChange, GraphCounts, GraphRecord, GraphStore, OrderId,
    PopularQuery, ProductId, PurchaseRecord, Recommendation, Result, ScoredProduct, SimilarUser,
    TrendingQuery, UserId,
};

/// Wraps a graph store; every `apply` that returns notes, for each order upsert it applied (not
/// deferred), the [`Instant`] it returned. Everything else is forwarded untouched.
#[derive(Debug)]
pub struct Observed<G> {
    inner: G,
    seen: Arc<Mutex<HashMap<OrderId, Instant>>>,
    calls: Arc<Mutex<Vec<ApplyCall>>>,
}

/// One `apply` call that returned successfully: when it started, how long it took, how many
/// changes it carried.
#[derive(Debug, Clone, Copy)]
pub struct ApplyCall {
    /// When the call started, by the wall clock: to line a slow call up with a server's logs
    /// (a collector's pause in Neo4j's GC log, say).
    pub started: DateTime<Utc>,
    /// How long it took.
    pub took: std::time::Duration,
    /// Changes in the batch.
    pub changes: usize,
}

impl<G: GraphStore> Observed<G> {
    /// Wraps `inner`.
    pub fn new(inner: G) -> Self {
        Self {
            inner,
            seen: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// When `order` first became visible, if it has.
    pub fn visible_at(&self, order: &OrderId) -> Option<Instant> {
        self.seen.lock().get(order).copied()
    }

    /// Every successful `apply` call so far, in the order they returned.
    pub fn apply_calls(&self) -> Vec<ApplyCall> {
        self.calls.lock().clone()
    }

    /// How many orders became visible.
    pub fn visible_count(&self) -> usize {
        self.seen.lock().len()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<G: GraphStore> GraphStore for Observed<G> {
    async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.inner.apply_bulk(changes).await
    }

    async fn rebuild_projections(&self) -> Result<()> {
        self.inner.rebuild_projections().await
    }

    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        let started = Utc::now();
        let timer = Instant::now();
        let report = self.inner.apply(changes).await?;
        let now = Instant::now();
        self.calls.lock().push(ApplyCall {
            started,
            took: now - timer,
            changes: changes.len(),
        });
        let mut seen = self.seen.lock();
        for change in changes {
            if let GraphChange::Upsert(GraphRecord::Order(o)) = change {
                let entity = EntityRef::new(EntityKind::Order, o.order_id);
                if !report.deferred.contains(&entity) {
                    seen.entry(o.order_id).or_insert(now);
                }
            }
        }
        Ok(report)
    }

    async fn record_view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner.record_view(user, product, at).await
    }

    async fn recommendations_for(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        self.inner.recommendations_for(user, limit).await
    }

    async fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>> {
        self.inner.also_bought(product, limit).await
    }

    async fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.inner.popular(query).await
    }

    async fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.inner.trending(query).await
    }

    async fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.inner.purchase_history(user, limit).await
    }

    async fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        self.inner.similar_users(user, limit).await
    }

    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        self.inner.records(kind, after, limit).await
    }

    async fn counts(&self) -> Result<GraphCounts> {
        self.inner.counts().await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn refresh_neighbours(&self, limit: usize) -> Result<swiftbox_core::NeighbourRefresh> {
        self.inner.refresh_neighbours(limit).await
    }

    async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
        self.inner.forget_tombstones(entities).await
    }
}
