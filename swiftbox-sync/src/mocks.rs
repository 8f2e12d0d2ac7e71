//! A `mockall`-scripted graph for unit tests that need an exact sequence of failures.
//!
//! `mockall` cannot mock `GraphStore::records` directly (its `Option<&str>` argument under
//! `async_trait` trips the macro's lifetime handling), so the mock covers the two calls the
//! worker makes, `apply` and `ping`, and [`Scripted`] adapts it to a [`GraphStore`] whose
//! other methods refuse (a worker never calls them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use swiftbox_core::{
    ApplyReport, EntityKind, Error, GraphChange, GraphCounts, GraphRecord, GraphStore,
    PopularQuery, ProductId, PurchaseRecord, Recommendation, Result, ScoredProduct, SimilarUser,
    TrendingQuery, UserId,
};

/// The graph calls a worker makes.
#[mockall::automock]
#[async_trait]
pub(crate) trait WorkerCalls: Send + Sync + 'static {
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport>;
    async fn ping(&self) -> Result<()>;
}

/// A [`GraphStore`] whose `apply` and `ping` follow a [`MockWorkerCalls`] script.
pub(crate) struct Scripted(pub(crate) MockWorkerCalls);

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

fn not_scripted() -> Error {
    Error::backend("scripted", "not part of the script")
}

#[async_trait]
impl GraphStore for Scripted {
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.0.apply(changes).await
    }
    async fn record_view(&self, _: &UserId, _: &ProductId, _: DateTime<Utc>) -> Result<()> {
        Err(not_scripted())
    }
    async fn recommendations_for(&self, _: &UserId, _: usize) -> Result<Vec<Recommendation>> {
        Err(not_scripted())
    }
    async fn also_bought(&self, _: &ProductId, _: usize) -> Result<Vec<ScoredProduct>> {
        Err(not_scripted())
    }
    async fn popular(&self, _: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        Err(not_scripted())
    }
    async fn trending(&self, _: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        Err(not_scripted())
    }
    async fn purchase_history(&self, _: &UserId, _: usize) -> Result<Vec<PurchaseRecord>> {
        Err(not_scripted())
    }
    async fn similar_users(&self, _: &UserId, _: usize) -> Result<Vec<SimilarUser>> {
        Err(not_scripted())
    }
    async fn records(&self, _: EntityKind, _: Option<&str>, _: usize) -> Result<Vec<GraphRecord>> {
        Err(not_scripted())
    }
    async fn counts(&self) -> Result<GraphCounts> {
        Err(not_scripted())
    }
    async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }
}
