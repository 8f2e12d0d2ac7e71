//! The [`GraphStore`] implementation: spans, then the query modules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use swiftbox_core::{
    ApplyReport, EntityKind, EntityRef, GraphChange, GraphCounts, GraphRecord, GraphStore,
    NeighbourRefresh, PopularQuery, ProductId, PurchaseRecord, Recommendation, Result,
    ScoredProduct, SimilarUser, TrendingQuery, UserId,
};

use crate::graph::Neo4jGraph;

#[async_trait]
impl GraphStore for Neo4jGraph {
    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.apply_changes(changes).await
    }

    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.apply_bulk_changes(changes).await
    }

    #[tracing::instrument(skip(self))]
    async fn rebuild_projections(&self) -> Result<()> {
        self.rebuild_all_projections().await
    }

    #[tracing::instrument(skip(self), fields(user = %user, product = %product))]
    async fn record_view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.view(user, product, at).await
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn recommendations_for(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        self.recommendations(user, limit).await
    }

    #[tracing::instrument(skip(self), fields(product = %product))]
    async fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>> {
        self.also_bought_q(product, limit).await
    }

    #[tracing::instrument(skip(self))]
    async fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.popular_q(query).await
    }

    #[tracing::instrument(skip(self))]
    async fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.trending_q(query).await
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.history(user, limit).await
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        self.similar(user, limit).await
    }

    #[tracing::instrument(skip(self))]
    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        self.records_q(kind, after, limit).await
    }

    #[tracing::instrument(skip(self))]
    async fn counts(&self) -> Result<GraphCounts> {
        self.counts_q().await
    }

    #[tracing::instrument(skip(self))]
    async fn ping(&self) -> Result<()> {
        self.check_alive().await
    }

    #[tracing::instrument(skip(self))]
    async fn refresh_neighbours(&self, limit: usize) -> Result<NeighbourRefresh> {
        self.refresh(limit).await
    }

    #[tracing::instrument(skip_all, fields(entities = entities.len()))]
    async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
        self.forget(entities).await
    }
}
