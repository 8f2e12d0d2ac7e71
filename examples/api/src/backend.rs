//! What the API needs from SwiftBox, as one object-safe trait, so the handlers are not generic
//! over the store types and any `Synced<P, G>` (memory, MongoDB + Neo4j, a mix) plugs in.

use async_trait::async_trait;
use std::time::Duration;
use swiftbox_core::prelude::*;

use swiftbox_core::{
    EntityRef, GraphStore, OwedChange, PrimaryStore, ProductId, Result, SyncStats, UserId,
};
use swiftbox_sync::{
    DriftReport, RepairReport, ResyncProgress, ResyncReport, SyncMetricsSnapshot, SyncStatus,
    Synced,
};

/// What [`ShopBackend::resync`] tells after every batch.
pub type ResyncProgressFn = Box<dyn FnMut(&ResyncProgress) + Send>;

/// A synced pair of stores as the API uses it.
#[async_trait]
pub trait ShopBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The primary store every write goes through (the `Synced` decorator itself, so the graph
    /// follows each write at once).
    fn store(&self) -> &dyn PrimaryStore;
    /// The graph the decorator keeps in step (recommendations, purchases, popularity).
    fn graph(&self) -> &dyn GraphStore;
    /// Records that `user` viewed `product` now (a graph-only behavioural event).
    async fn record_view(&self, user: &UserId, product: &ProductId) -> Result<()>;
    /// Sync status: owed changes, both sides' counts, the last error.
    async fn sync_status(&self) -> Result<SyncStatus>;
    /// The primary store's owed changes and entity counts, without the graph's (cheap: see
    /// `SyncLedger::sync_stats`).
    async fn sync_stats(&self) -> Result<SyncStats>;
    /// The sync counters of the decorator and the workers made from it.
    fn sync_metrics(&self) -> SyncMetricsSnapshot;
    /// Waits until the graph holds `entity` at `version` (see `Synced::wait_synced`).
    async fn wait_synced(&self, entity: &EntityRef, version: u64, timeout: Duration) -> Result<()>;
    /// Up to `limit` changes set aside as poison (see `Reconciler::set_aside`).
    async fn set_aside(&self, limit: usize) -> Result<Vec<OwedChange>>;
    /// Puts one entity's set-aside change, or all, back in line; how many (see
    /// `Reconciler::release_set_aside`).
    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64>;
    /// Drift between the graph and the primary store, entity by entity (see
    /// `Reconciler::check`).
    async fn check_drift(&self) -> Result<DriftReport>;
    /// Fixes the drift `report` lists, and only that (see `Reconciler::repair`).
    async fn repair_drift(&self, report: &DriftReport) -> Result<RepairReport>;
    /// Rebuilds the graph from the primary store from the start, telling `progress` after
    /// every batch (see `Reconciler::resync`).
    async fn resync(&self, progress: ResyncProgressFn) -> Result<ResyncReport>;
}

#[async_trait]
impl<P: PrimaryBackend, G: GraphStore> ShopBackend for Synced<P, G> {
    fn store(&self) -> &dyn PrimaryStore {
        self
    }

    fn graph(&self) -> &dyn GraphStore {
        let graph: &G = Synced::graph(self);
        graph
    }

    async fn record_view(&self, user: &UserId, product: &ProductId) -> Result<()> {
        Synced::record_view(self, user, product).await
    }

    async fn sync_status(&self) -> Result<SyncStatus> {
        self.reconciler().status().await
    }

    async fn sync_stats(&self) -> Result<SyncStats> {
        self.primary().sync_stats().await
    }

    fn sync_metrics(&self) -> SyncMetricsSnapshot {
        self.metrics().snapshot()
    }

    async fn wait_synced(&self, entity: &EntityRef, version: u64, timeout: Duration) -> Result<()> {
        Synced::wait_synced(self, entity, version, timeout).await
    }

    async fn set_aside(&self, limit: usize) -> Result<Vec<OwedChange>> {
        self.reconciler().set_aside(limit).await
    }

    async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64> {
        self.reconciler().release_set_aside(entity).await
    }

    async fn check_drift(&self) -> Result<DriftReport> {
        self.reconciler().check().await
    }

    async fn repair_drift(&self, report: &DriftReport) -> Result<RepairReport> {
        self.reconciler().repair(report).await
    }

    async fn resync(&self, mut progress: ResyncProgressFn) -> Result<ResyncReport> {
        self.reconciler()
            .resync(None, move |p: &ResyncProgress| progress(p))
            .await
    }
}
