//! [`Reconciler`]: sync status, drift check, repair and full resync.
//!
//! - [`Reconciler::status`]: counts per kind on both sides, owed and set-aside changes, the
//!   oldest owed and oldest set-aside change's age, the last error, and worker counters when
//!   attached. Costs two count queries; fine for a health endpoint. When the graph does not
//!   answer, the status still comes back, with the graph's error in place of its counts.
//! - [`Reconciler::set_aside`] and [`Reconciler::release_set_aside`]: for operators, the
//!   changes set aside as poison (with their last error, attempts, retries and next retry
//!   time), and putting one or all of them back in line.
//! - [`Reconciler::check`]: compares, entity by entity, what the primary store says the graph
//!   should hold ([`SyncLedger::expected_graph`]) with what it holds
//!   ([`GraphStore::records`]), streaming both sides of each kind in id order,
//!   [`ReconcilerConfig::batch_size`] records at a time.
//! - [`Reconciler::repair`]: fixes exactly the drift a [`DriftReport`] lists.
//! - [`Reconciler::resync`]: rebuilds the whole graph from the primary store in batches,
//!   resumable from a [`ResyncCheckpoint`].
//!
//! Changes owed but not yet applied show up as drift too (the graph lags the primary store by
//! design); check a quiet store, or after the worker has caught up, for a report of real drift.

mod adaptive;
mod drift;
mod merge;
mod resync;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    EntityKind, EntityRef, GraphCounts, GraphStore, OwedChange, Result, SetAsideQuery, SyncStats,
};

use crate::metrics::{SyncMetrics, SyncMetricsSnapshot};

pub use drift::{DriftReport, KindCounts, RepairReport, StaleReason, StaleRecord};
pub use resync::{ResyncCheckpoint, ResyncProgress, ResyncReport};

/// How the [`Reconciler`] pages and applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerConfig {
    /// Records read from each side per call, and the most changes applied per graph call
    /// (default 5,000).
    pub batch_size: usize,
    /// The fewest changes a resync splits a graph call down to (default 1). A resync call
    /// that fails with a retryable error ([`swiftbox_core::Error::Unavailable`]: the apply
    /// timed out, Neo4j aborted it as a deadlock) while the graph still answers a ping is
    /// written again in calls of half its size, down to this floor; calls written whole grow
    /// the size back by an eighth of `batch_size` each (additive increase, multiplicative
    /// decrease). So a resync on a cold or busy server completes in smaller calls instead of
    /// failing for its batch size. A graph that does not answer the ping ends the run at once
    /// (resume it from the last checkpoint), and any other error is returned as it is.
    pub min_batch_size: usize,
    /// How many times a resync call at the floor (`min_batch_size` changes or fewer) that
    /// failed with a retryable error while the graph answers is made again, after a growing
    /// pause, before the resync returns the error (default 3).
    pub retries_at_min: u32,
    /// Resync batches of one kind applied concurrently (default 2, at most 8). While they are
    /// written, the next batch is read from both sides, so the graph is never left idle
    /// waiting for a read (even with 1). Batches of different kinds never overlap, so a kind's
    /// references are written before it; within a kind they touch disjoint entities, but
    /// orders of two batches share product nodes, so the graph may abort one as a deadlock
    /// ([`swiftbox_core::Error::Unavailable`]): its changes are written again in smaller calls
    /// (see `min_batch_size`; writes are idempotent and version-guarded). Progress and
    /// checkpoints are reported in id order, each once its batch and every batch before it
    /// are written.
    pub batches_in_flight: usize,
    /// Most drift entries one [`DriftReport`] keeps; past it the report is marked
    /// [`DriftReport::truncated`] (default 10,000), so a check of a badly broken graph stays in
    /// bounded memory. Repair, then check again.
    pub max_report: usize,
    /// How long one graph apply may take (default 30 s).
    pub apply_timeout: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self {
            batch_size: 5_000,
            min_batch_size: 1,
            retries_at_min: 3,
            batches_in_flight: 2,
            max_report: 10_000,
            apply_timeout: Duration::from_secs(30),
        }
    }
}

/// Compares the graph with the primary store and brings it back in line; see the
/// [module docs](self).
#[derive(Debug)]
pub struct Reconciler<P, G> {
    primary: Arc<P>,
    graph: Arc<G>,
    config: ReconcilerConfig,
    metrics: Option<Arc<SyncMetrics>>,
}

/// What [`Reconciler::status`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The primary store's side: live entities per kind, owed and set-aside changes, the
    /// oldest owed time, the last recorded failure.
    pub primary: SyncStats,
    /// The graph's counts, or why they could not be read (the graph is down).
    pub graph: std::result::Result<GraphCounts, String>,
    /// How long the longest-owed change has been owed, at the time of the call.
    pub oldest_owed_age: Option<chrono::Duration>,
    /// How long the longest-owed set-aside change has been owed, at the time of the call.
    pub oldest_set_aside_age: Option<chrono::Duration>,
    /// Decorator and worker counters, when the reconciler has them
    /// ([`Reconciler::with_metrics`]).
    pub metrics: Option<SyncMetricsSnapshot>,
    /// When the status was taken.
    pub at: DateTime<Utc>,
}

impl SyncStatus {
    /// The most recent error known: the graph's current one, else the worker's or decorator's
    /// last, else the last failure recorded in the primary store.
    pub fn last_error(&self) -> Option<&str> {
        if let Err(e) = &self.graph {
            return Some(e);
        }
        if let Some((_, e)) = self.metrics.as_ref().and_then(|m| m.last_error.as_ref()) {
            return Some(e);
        }
        self.primary.last_error.as_deref()
    }

    /// True when nothing is owed and the graph answers.
    pub fn is_in_sync(&self) -> bool {
        self.primary.owed == 0 && self.graph.is_ok()
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<10} {:>10} {:>10}", "kind", "primary", "graph")?;
        for kind in EntityKind::ALL {
            let p = self.primary.entities.get(&kind).copied().unwrap_or(0);
            let g = match &self.graph {
                Ok(c) => c.entities.get(&kind).copied().unwrap_or(0).to_string(),
                Err(_) => "-".into(),
            };
            writeln!(f, "{:<10} {p:>10} {g:>10}", kind.as_str())?;
        }
        if let Ok(c) = &self.graph {
            writeln!(f, "purchases: {}, views: {}", c.purchases, c.views)?;
        }
        write!(
            f,
            "owed: {}, set aside: {}",
            self.primary.owed, self.primary.set_aside
        )?;
        for (what, age) in [
            ("oldest owed", self.oldest_owed_age),
            ("oldest set aside", self.oldest_set_aside_age),
        ] {
            if let Some(age) = age {
                write!(
                    f,
                    ", {what}: {:.1} s ago",
                    age.num_milliseconds() as f64 / 1000.0
                )?;
            }
        }
        writeln!(f)?;
        if let Some(m) = &self.metrics {
            writeln!(
                f,
                "inline: {} applied, {} deferred, {} failed; worker: {} applied, {} stale, {} deferred, {} failed, {} set aside, {} retries, {} batches",
                m.inline_applied, m.inline_deferred, m.inline_failed, m.applied, m.stale, m.deferred, m.failed, m.set_aside, m.retries, m.batches
            )?;
        }
        match self.last_error() {
            Some(e) => write!(f, "last error: {e}"),
            None => write!(f, "last error: none"),
        }
    }
}

impl<P: PrimaryBackend, G: GraphStore> Reconciler<P, G> {
    /// A reconciler with the default [`ReconcilerConfig`].
    pub fn new(primary: Arc<P>, graph: Arc<G>) -> Self {
        Self {
            primary,
            graph,
            config: ReconcilerConfig::default(),
            metrics: None,
        }
    }

    /// Uses `config`; [`swiftbox_core::Error::Invalid`] for a batch size outside 1..=10000, a
    /// `min_batch_size` outside 1..=`batch_size`, `batches_in_flight` outside 1..=8 or a zero
    /// `max_report`.
    pub fn with_config(mut self, config: ReconcilerConfig) -> Result<Self> {
        if config.batch_size == 0 || config.batch_size > 10_000 {
            return Err(swiftbox_core::Error::invalid(
                "batch_size",
                "must be between 1 and 10000",
            ));
        }
        if config.min_batch_size == 0 || config.min_batch_size > config.batch_size {
            return Err(swiftbox_core::Error::invalid(
                "min_batch_size",
                "must be between 1 and batch_size",
            ));
        }
        if config.batches_in_flight == 0 || config.batches_in_flight > 8 {
            return Err(swiftbox_core::Error::invalid(
                "batches_in_flight",
                "must be between 1 and 8",
            ));
        }
        if config.max_report == 0 {
            return Err(swiftbox_core::Error::invalid(
                "max_report",
                "must be at least 1",
            ));
        }
        self.config = config;
        Ok(self)
    }

    /// Includes these counters (a decorator's or worker's) in [`Reconciler::status`].
    pub fn with_metrics(mut self, metrics: Arc<SyncMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ReconcilerConfig {
        &self.config
    }

    /// Sync status; fails only when the primary store does.
    #[tracing::instrument(name = "reconciler.status", skip_all)]
    pub async fn status(&self) -> Result<SyncStatus> {
        let primary = self.primary.sync_stats().await?;
        let graph = match tokio::time::timeout(self.config.apply_timeout, self.graph.counts()).await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("graph counts timed out".to_string()),
        };
        let at = swiftbox_core::time::now();
        Ok(SyncStatus {
            oldest_owed_age: primary.oldest_owed.map(|t| at - t),
            oldest_set_aside_age: primary.oldest_set_aside.map(|t| at - t),
            primary,
            graph,
            metrics: self.metrics.as_ref().map(|m| m.snapshot()),
            at,
        })
    }
}

impl<P: PrimaryBackend, G: GraphStore> Reconciler<P, G> {
    /// Up to `limit` (1..=10000) changes set aside as poison, longest owed first, each with its
    /// last error, failed attempts, failed retries and next retry time (`None`: its retries are
    /// used up, it waits for [`Reconciler::release_set_aside`] or a new write of the entity).
    ///
    /// ```
    /// # use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    /// # use swiftbox_sync::Synced;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> swiftbox_core::Result<()> {
    /// let store = Synced::new(MemoryStore::new(), MemoryGraph::new());
    /// let reconciler = store.reconciler();
    /// for change in reconciler.set_aside(100).await? {
    ///     println!("{} since {}: {:?}", change.entity, change.owed_since, change.last_error);
    /// }
    /// // Once the cause is fixed: every set-aside change back in line for the worker.
    /// let released = reconciler.release_set_aside(None).await?;
    /// assert_eq!(released, 0);
    /// # Ok(())
    /// # }
    /// ```
    #[tracing::instrument(name = "reconciler.set_aside", skip(self))]
    pub async fn set_aside(&self, limit: usize) -> Result<Vec<OwedChange>> {
        self.primary
            .set_aside_changes(&SetAsideQuery::all(limit))
            .await
    }

    /// Puts the set-aside change of `entity` (or, with `None`, every one) back in line for
    /// the worker, attempts and retries reset; returns how many were released (0 when
    /// `entity` owes nothing or is not set aside).
    #[tracing::instrument(name = "reconciler.release_set_aside", skip(self))]
    pub async fn release_set_aside(&self, entity: Option<&EntityRef>) -> Result<u64> {
        let released = self.primary.release_set_aside(entity).await?;
        tracing::info!(released, "set-aside changes released");
        Ok(released)
    }
}

/// Counts per kind seen by a check.
pub(crate) type Checked = BTreeMap<EntityKind, KindCounts>;
