//! Fault injection for sync tests: [`FaultyGraph`] wraps any [`GraphStore`] and fails calls on
//! demand, so the same fault scenarios run against the memory graph and against Neo4j.
//!
//! ```
//! use swiftbox_core::memory::MemoryGraph;
//! use swiftbox_core::GraphStore;
//! use swiftbox_sync::testing::FaultyGraph;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let graph = FaultyGraph::new(MemoryGraph::new());
//! graph.faults().set_down(true); // every call fails with Error::Unavailable
//! assert!(graph.ping().await.unwrap_err().is_retryable());
//! graph.faults().set_down(false);
//! graph.ping().await.unwrap();
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use swiftbox_core::{
    ApplyReport, EntityKind, EntityRef, Error, GraphChange, GraphCounts, GraphRecord, GraphStore,
    PopularQuery, ProductId, PurchaseRecord, Recommendation, Result, ScoredProduct, SimilarUser,
    TrendingQuery, UserId,
};
use tokio::sync::Notify;

const STORE: &str = "faulty-graph";

/// The faults a [`FaultyGraph`] injects, shared (`Arc`) so a test can change them while a
/// decorator or worker owns the graph. Calls are counted from 1 across all methods.
#[derive(Debug, Default)]
pub struct Faults {
    down: AtomicBool,
    calls: AtomicU64,
    injected: AtomicU64,
    fail_calls: Mutex<BTreeSet<u64>>,
    poisoned: Mutex<HashMap<EntityRef, bool>>,
    hang: AtomicBool,
    freeze: AtomicBool,
    hung: AtomicU64,
    /// One more than the most changes an `apply` may carry without hanging (0: no limit).
    max_apply: AtomicUsize,
    resume: Notify,
    recording: AtomicBool,
    recorded: Mutex<Vec<GraphChange>>,
}

impl Faults {
    /// While `true`, every call fails with [`Error::Unavailable`] (the graph is "switched off").
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Whether the graph is switched off.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// Makes the `n`-th call from now (1 = the next one) fail with [`Error::Unavailable`].
    pub fn fail_nth_call(&self, n: u64) {
        let at = self.calls.load(Ordering::SeqCst) + n.max(1);
        self.fail_calls.lock().insert(at);
    }

    /// Makes every `apply` that contains a change of `entity` fail with a non-retryable
    /// [`Error::Backend`] (a poison change), until [`Faults::cure`].
    pub fn poison(&self, entity: EntityRef) {
        self.poisoned.lock().insert(entity, false);
    }

    /// Like [`Faults::poison`], failing with a retryable [`Error::Unavailable`] instead (a
    /// change that times out every time while the graph otherwise answers).
    pub fn poison_retryable(&self, entity: EntityRef) {
        self.poisoned.lock().insert(entity, true);
    }

    /// Stops poisoning `entity`.
    pub fn cure(&self, entity: &EntityRef) {
        self.poisoned.lock().remove(entity);
    }

    /// While `true`, `apply` waits (after its fault checks, before reaching the inner graph)
    /// until set back to `false`: a graph that hangs, for timeout and crash tests.
    pub fn set_hang(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
        if !hang {
            self.resume.notify_waiters();
        }
    }

    /// While `true`, *every* call waits (before any other fault check) until set back to
    /// `false`: a frozen server (SIGSTOP), which neither answers pings nor queries.
    pub fn set_frozen(&self, frozen: bool) {
        self.freeze.store(frozen, Ordering::SeqCst);
        if !frozen {
            self.resume.notify_waiters();
        }
    }

    /// While `Some(n)`, an `apply` of more than `n` changes hangs (after its other fault
    /// checks) until its caller gives up: a graph too slow for big batches, such as a cold
    /// Neo4j, under a caller's timeout. Counted in [`Faults::hung_calls`].
    pub fn set_max_apply(&self, n: Option<usize>) {
        let stored = n.map_or(0, |n| n.saturating_add(1));
        self.max_apply.store(stored, Ordering::SeqCst);
    }

    /// How many `apply` calls have started hanging so far.
    pub fn hung_calls(&self) -> u64 {
        self.hung.load(Ordering::SeqCst)
    }

    /// Calls made so far (all methods).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// While `true`, the changes of every `apply` that reaches the inner graph are recorded.
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::SeqCst);
    }

    /// Takes the recorded changes.
    pub fn take_recorded(&self) -> Vec<GraphChange> {
        std::mem::take(&mut *self.recorded.lock())
    }

    fn fail(&self, retryable: bool, message: String) -> Error {
        self.injected.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(%message, "injected fault");
        if retryable {
            Error::unavailable(STORE, message)
        } else {
            Error::backend(STORE, message)
        }
    }

    /// Waits while `flag` is set (until a `set_*(false)` notifies).
    async fn wait_while(&self, flag: &AtomicBool) {
        loop {
            let resumed = self.resume.notified();
            if !flag.load(Ordering::SeqCst) {
                break;
            }
            resumed.await;
        }
    }

    async fn check_call(&self, op: &str) -> Result<()> {
        self.wait_while(&self.freeze).await;
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.is_down() {
            return Err(self.fail(true, format!("{op}: graph switched off")));
        }
        if self.fail_calls.lock().remove(&n) {
            return Err(self.fail(true, format!("{op}: injected failure of call {n}")));
        }
        Ok(())
    }

    async fn check_apply(&self, changes: &[GraphChange]) -> Result<()> {
        self.check_call("apply").await?;
        let poison = {
            let poisoned = self.poisoned.lock();
            changes
                .iter()
                .find_map(|c| poisoned.get(&c.entity()).map(|r| (c.entity(), *r)))
        };
        if let Some((entity, retryable)) = poison {
            return Err(self.fail(retryable, format!("apply: poisoned change of {entity}")));
        }
        let max_apply = self.max_apply.load(Ordering::SeqCst);
        if max_apply > 0 && changes.len() >= max_apply {
            self.hung.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        if self.hang.load(Ordering::SeqCst) {
            self.hung.fetch_add(1, Ordering::SeqCst);
            self.wait_while(&self.hang).await;
        }
        if self.recording.load(Ordering::SeqCst) {
            self.recorded.lock().extend_from_slice(changes);
        }
        Ok(())
    }
}

/// A [`GraphStore`] that delegates every call to `inner` unless a fault in its [`Faults`] says
/// to fail it: switched off, the n-th call, calls touching a poisoned entity, or hanging.
#[derive(Debug, Clone)]
pub struct FaultyGraph<G> {
    inner: G,
    faults: Arc<Faults>,
}

impl<G: GraphStore> FaultyGraph<G> {
    /// Wraps `inner` with no fault active.
    pub fn new(inner: G) -> Self {
        Self {
            inner,
            faults: Arc::new(Faults::default()),
        }
    }

    /// The fault switches (shared by clones).
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The wrapped graph, for checks that must not be disturbed by faults.
    pub fn inner(&self) -> &G {
        &self.inner
    }

    /// Unwraps.
    pub fn into_inner(self) -> G {
        self.inner
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<G: GraphStore> GraphStore for FaultyGraph<G> {
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.faults.check_apply(changes).await?;
        self.inner.apply(changes).await
    }

    /// Fails as [`FaultyGraph::apply`] would (a bulk load is an apply to the faults).
    async fn apply_bulk(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.faults.check_apply(changes).await?;
        self.inner.apply_bulk(changes).await
    }

    async fn rebuild_projections(&self) -> Result<()> {
        self.faults.check_call("rebuild_projections").await?;
        self.inner.rebuild_projections().await
    }

    async fn record_view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.faults.check_call("record_view").await?;
        self.inner.record_view(user, product, at).await
    }

    async fn recommendations_for(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        self.faults.check_call("recommendations_for").await?;
        self.inner.recommendations_for(user, limit).await
    }

    async fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>> {
        self.faults.check_call("also_bought").await?;
        self.inner.also_bought(product, limit).await
    }

    async fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.faults.check_call("popular").await?;
        self.inner.popular(query).await
    }

    async fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.faults.check_call("trending").await?;
        self.inner.trending(query).await
    }

    async fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.faults.check_call("purchase_history").await?;
        self.inner.purchase_history(user, limit).await
    }

    async fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        self.faults.check_call("similar_users").await?;
        self.inner.similar_users(user, limit).await
    }

    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        self.faults.check_call("records").await?;
        self.inner.records(kind, after, limit).await
    }

    async fn counts(&self) -> Result<GraphCounts> {
        self.faults.check_call("counts").await?;
        self.inner.counts().await
    }

    async fn ping(&self) -> Result<()> {
        self.faults.check_call("ping").await?;
        self.inner.ping().await
    }

    async fn refresh_neighbours(&self, limit: usize) -> Result<swiftbox_core::NeighbourRefresh> {
        self.faults.check_call("refresh_neighbours").await?;
        self.inner.refresh_neighbours(limit).await
    }

    async fn forget_tombstones(&self, entities: &[EntityRef]) -> Result<u64> {
        self.faults.check_call("forget_tombstones").await?;
        self.inner.forget_tombstones(entities).await
    }
}
