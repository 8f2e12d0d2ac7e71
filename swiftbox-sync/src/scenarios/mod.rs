//! The sync fault scenarios, as public async functions any pair of backends can run (feature
//! `scenarios`): this crate's tests run them on the memory stores, the workspace's server tests
//! on MongoDB and Neo4j. In the manner of `object_store::integration`.
//!
//! Each scenario takes a **fresh, empty** primary store and graph of its own (it compares the
//! whole graph with the whole primary store), drives them through [`Synced`],
//! [`SyncWorker`](crate::SyncWorker) and [`Reconciler`](crate::Reconciler), injects faults with
//! [`FaultyGraph`], and panics with a message when a guarantee does not hold. Waiting (for a
//! worker to catch up) is bounded by [`Scenario::patience`] so a broken sync fails instead of
//! hanging; nothing asserts on time.
//!
//! - [`Workload`] (module `workload`): deterministic mixed writes through any primary store.
//! - The checks every scenario ends with, public for server tests that run their own
//!   (module `checks`): [`assert_in_sync`], [`expected_purchases`], [`assert_tamper_drift`],
//!   [`assert_repairs_exactly`].
//! - The scenarios, by the kind of fault they inject:
//!   - the graph fails, hangs or refuses one change (module `graph_faults`): [`graph_outage`],
//!     [`inline_apply`], [`poison`];
//!   - changes reach the graph after a crash, twice, out of order or through several workers
//!     (module `delivery`): [`crash_between_writes`], [`replay_and_reorder`],
//!     [`two_partitions`];
//!   - workers that share the owed changes by lease, one of them killed (module `leases`):
//!     [`leased_workers`];
//!   - the graph drifted from the primary store or lost everything (module `repair`):
//!     [`tampering`], [`resync_resumes`];
//!   - everything at once: concurrent writers in two application instances, two workers,
//!     faults of the target's own (servers frozen, killed, restarted), instances dropped
//!     mid-write, repair and resync under load, then the history checker (modules `soak` and
//!     `history`): [`soak`], [`check_history`].

mod checks;
mod delivery;
mod graph_faults;
mod history;
mod leases;
mod repair;
mod soak;
mod workload;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{GraphStore, OwedQuery};

use crate::testing::FaultyGraph;
use crate::{Backoff, SyncConfig, Synced, WorkerConfig};

pub use checks::{assert_in_sync, assert_repairs_exactly, assert_tamper_drift, expected_purchases};
pub use delivery::{crash_between_writes, replay_and_reorder, two_partitions};
pub use graph_faults::{graph_outage, inline_apply, poison};
pub use history::{check_history, History, HistoryCounts, HistoryVerdict, Outcome};
pub use leases::{leased_workers, LeasedWorkersReport};
pub use repair::{resync_resumes, tampering};
pub use soak::{soak, Soak, SoakReport, SoakTarget};
pub use workload::{Workload, WorkloadCounts};

/// Knobs shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Writes in the outage scenario ([`Scenario::default`]: 10,000).
    pub outage_writes: usize,
    /// Other changes applied around the poison change ([`Scenario::default`]: 1,000).
    pub poison_others: usize,
    /// Writes in the partition, replay and resync scenarios.
    pub writes: usize,
    /// Longest wait for a worker to catch up before the scenario fails.
    pub patience: Duration,
    /// Seed of the workload.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            outage_writes: 10_000,
            poison_others: 1_000,
            writes: 1_500,
            patience: Duration::from_secs(300),
            seed: 7,
        }
    }
}

/// A worker configuration for tests: no grace, short backoff, small batches.
pub fn test_worker_config() -> WorkerConfig {
    WorkerConfig {
        batch_size: 200,
        grace: Duration::ZERO,
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(100),
        },
        idle_poll: Duration::from_millis(10),
        ..WorkerConfig::default()
    }
}

fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Polls `done` every 50 ms until it is true, for at most `patience` (polling faster only
/// steals time from the worker being waited for, on a real server most of all).
async fn wait_until<F, Fut>(patience: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(patience, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting: {what}");
}

async fn owed<P: PrimaryBackend>(p: &P) -> u64 {
    must(p.sync_stats().await, "sync stats").owed
}

/// Whether nothing at all is owed (set-aside changes included), for a wait loop: one owed
/// change fetched, not a full `sync_stats` (which counts every kind).
pub async fn owed_zero<P: PrimaryBackend>(p: &P) -> bool {
    let query = OwedQuery {
        include_set_aside: true,
        ..OwedQuery::oldest(1)
    };
    must(p.owed_changes(&query).await, "owed changes").is_empty()
}

/// The stores of a scenario: the primary, the graph behind a [`FaultyGraph`], and a decorator.
type Setup<P, G> = (Arc<P>, Arc<FaultyGraph<G>>, Synced<P, FaultyGraph<G>>);

fn setup<P: PrimaryBackend, G: GraphStore>(
    primary: P,
    graph: G,
    config: SyncConfig,
) -> Setup<P, G> {
    let primary = Arc::new(primary);
    let graph = Arc::new(FaultyGraph::new(graph));
    let store = Synced::from_arcs(Arc::clone(&primary), Arc::clone(&graph), config);
    (primary, graph, store)
}
