//! `MemoryGraph`: the in-memory [`GraphStore`].
//!
//! The state lives behind one [`RwLock`]: a batch is applied atomically under the write lock,
//! queries run concurrently under read locks. Beside the nodes and relationships it keeps the
//! indexes the queries need, so each query touches only what its [`GraphLimits`] caps allow:
//! per product its buyers ordered by latest purchase (newest first, then user id), per user
//! their products the same way, per product its order lines and units, per user their orders by
//! time, per product its purchases by time in hourly buckets with precomputed decay sums
//! (for trending, see `trend`), and per product its neighbour list with the line-change count
//! it was computed at (products whose lines changed since are marked).

mod fast;
mod query;
mod rank;
mod state;
mod trend;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{EntityKind, Error, Result};
use crate::graph::{
    ApplyReport, GraphChange, GraphCounts, GraphLimits, GraphRecord, GraphStore, NeighbourRefresh,
    PopularQuery, PurchaseRecord, Recommendation, ScoredProduct, SimilarUser, TrendingQuery,
};
use crate::id::{ProductId, UserId};

use state::State;

/// In-memory graph store with exactly the semantics of [`GraphStore`] (the conformance suite
/// proves it). Clones share the same graph.
///
/// Decisions where the trait docs leave room, shared with every backend through the
/// conformance suite:
/// - a product's category, for the per-category queries and the cold-start fallback, is its
///   `category` property (the `BELONGS_TO` target's name); deleting a category node does not
///   change the products that still name it;
/// - a deletion is remembered with its version (a tombstone), so an older upsert of the same
///   entity arriving later is stale; a newer one brings the entity back;
/// - within one call, of several changes to one entity the highest version wins, a delete
///   beating an upsert of the same version; changes equal to the winner share its outcome
///   (applied, or the entity listed once in [`ApplyReport::deferred`]), the others are stale;
///   `deferred` is sorted;
/// - a [`GraphChange::Delete`] whose id is not a valid id of its kind makes the whole call
///   [`Error::Invalid`], changing nothing;
/// - "recent buyers of a product (cap n) other than the user" takes the first `n` recent
///   buyers, then drops the user (likewise for products other than the queried one);
/// - [`GraphStore::records`] accepts any `limit` of at least 1 (0 is [`Error::Invalid`]);
/// - [`GraphStore::counts`] lists every entity kind, zeros included.
#[derive(Debug, Clone, Default)]
pub struct MemoryGraph {
    state: Arc<RwLock<State>>,
    limits: GraphLimits,
}

impl MemoryGraph {
    /// An empty graph with the default [`GraphLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with other fan-out caps (the conformance suite assumes the defaults).
    pub fn with_limits(limits: GraphLimits) -> Self {
        Self {
            state: Arc::default(),
            limits,
        }
    }

    /// The caps this graph's queries use.
    pub fn limits(&self) -> GraphLimits {
        self.limits
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>> {
        self.state.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> Error {
    Error::backend("memory", "graph state lock poisoned by a panicking writer")
}

#[async_trait]
impl GraphStore for MemoryGraph {
    #[tracing::instrument(skip_all, fields(changes = changes.len()))]
    async fn apply(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.write()?.apply(changes)
    }

    #[tracing::instrument(skip(self), fields(user = %user, product = %product))]
    async fn record_view(
        &self,
        user: &UserId,
        product: &ProductId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.write()?.record_view(user, product, at)
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn recommendations_for(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        self.limits.check_limit(limit)?;
        Ok(self.read()?.recommendations_for(user, limit, &self.limits))
    }

    #[tracing::instrument(skip(self), fields(product = %product))]
    async fn also_bought(&self, product: &ProductId, limit: usize) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(limit)?;
        Ok(self.read()?.also_bought(product, limit, &self.limits))
    }

    #[tracing::instrument(skip(self))]
    async fn popular(&self, query: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(query.limit)?;
        Ok(self.read()?.popular(query))
    }

    #[tracing::instrument(skip(self))]
    async fn trending(&self, query: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.limits.check_limit(query.limit)?;
        query.validate()?;
        Ok(self.read()?.trending(query))
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn purchase_history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.limits.check_limit(limit)?;
        Ok(self.read()?.purchase_history(user, limit))
    }

    #[tracing::instrument(skip(self), fields(user = %user))]
    async fn similar_users(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        self.limits.check_limit(limit)?;
        Ok(self.read()?.similar_users(user, limit, &self.limits))
    }

    #[tracing::instrument(skip(self))]
    async fn records(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GraphRecord>> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        Ok(self.read()?.records(kind, after, limit))
    }

    #[tracing::instrument(skip(self))]
    async fn counts(&self) -> Result<GraphCounts> {
        Ok(self.read()?.counts())
    }

    async fn ping(&self) -> Result<()> {
        self.read().map(drop)
    }

    #[tracing::instrument(skip(self))]
    async fn refresh_neighbours(&self, limit: usize) -> Result<NeighbourRefresh> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        // Computed under the read lock, stored under the write lock: a product whose lines
        // changed in between stays marked, and a list computed earlier (by a concurrent
        // refresh) never replaces one computed later.
        let lists: Vec<_> = {
            let state = self.read()?;
            state
                .marked_products(limit)
                .into_iter()
                .map(|(p, seen)| (p, seen, state.neighbour_list(&p, &self.limits)))
                .collect()
        };
        let mut state = self.write()?;
        let refreshed = lists.len() as u64;
        for (product, seen, list) in lists {
            state.store_neighbours(product, seen, list);
        }
        Ok(NeighbourRefresh {
            refreshed,
            marked: state.marked.len() as u64,
        })
    }

    #[tracing::instrument(skip_all, fields(entities = entities.len()))]
    async fn forget_tombstones(&self, entities: &[crate::id::EntityRef]) -> Result<u64> {
        Ok(self.write()?.forget_tombstones(entities))
    }
}
