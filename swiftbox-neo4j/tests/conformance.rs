//! The shared `GraphStore` conformance suite against a real Neo4j, one namespace per check.
//!
//! The checks come from `swiftbox_core::graph_conformance_tests!`, so new checks run here
//! without edits. That macro cannot skip: without a server (and outside CI, where
//! `swiftbox_testsupport` would fail anyway) these tests fail, naming what to start.

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use swiftbox_core::{
    ApplyReport, EntityKind, EntityRef, GraphChange, GraphCounts, GraphRecord, GraphStore,
    PopularQuery, ProductId, PurchaseRecord, Recommendation, Result, ScoredProduct, SimilarUser,
    TrendingQuery, UserId,
};
use swiftbox_neo4j::Neo4jGraph;

/// A test graph that wipes its namespace (data and schema) when the check is done.
#[derive(Debug)]
struct Wiped(Neo4jGraph);

impl Drop for Wiped {
    fn drop(&mut self) {
        let g = self.0.clone();
        // The suite's tests run on a multi-thread runtime, where blocking here is allowed.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                let _ = tokio::task::block_in_place(|| handle.block_on(g.wipe()));
            }
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl GraphStore for Wiped {
    async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.0.apply_bulk(changes).await
    }

    async fn rebuild_projections(&self) -> Result<()> {
        self.0.rebuild_projections().await
    }

    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.0.apply(changes).await
    }
    async fn record_view(&self, u: &UserId, p: &ProductId, at: DateTime<Utc>) -> Result<()> {
        self.0.record_view(u, p, at).await
    }
    async fn recommendations_for(&self, u: &UserId, limit: usize) -> Result<Vec<Recommendation>> {
        self.0.recommendations_for(u, limit).await
    }
    async fn also_bought(&self, p: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>> {
        self.0.also_bought(p, limit).await
    }
    async fn popular(&self, q: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.0.popular(q).await
    }
    async fn trending(&self, q: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.0.trending(q).await
    }
    async fn purchase_history(&self, u: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.0.purchase_history(u, limit).await
    }
    async fn similar_users(&self, u: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        self.0.similar_users(u, limit).await
    }
    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        self.0.records(kind, after, limit).await
    }
    async fn counts(&self) -> Result<GraphCounts> {
        self.0.counts().await
    }
    async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }
    async fn refresh_neighbours(&self, limit: usize) -> Result<swiftbox_core::NeighbourRefresh> {
        self.0.refresh_neighbours(limit).await
    }
    async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
        self.0.forget_tombstones(entities).await
    }
}

swiftbox_core::graph_conformance_tests!(|| async {
    match common::graph("conformance").await {
        Some(g) => Wiped(g),
        None => panic!(
            "no Neo4j server: set SWIFTBOX_NEO4J_URI/USER/PASSWORD \
             (eval \"$(scripts/servers.sh start)\"); the conformance suite cannot skip"
        ),
    }
});
