//! The sync fault scenarios (`swiftbox_sync::scenarios`) on the in-memory backends.

use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_sync::scenarios::{self, Scenario};

fn fresh() -> (MemoryStore, MemoryGraph) {
    (MemoryStore::new(), MemoryGraph::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_outage_of_10000_mixed_writes_loses_nothing() {
    let (p, g) = fresh();
    scenarios::graph_outage(p, g, &Scenario::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_the_two_writes_is_applied_by_a_new_worker() {
    let (p, g) = fresh();
    scenarios::crash_between_writes(p, g).await;
}

#[tokio::test]
async fn replayed_and_reordered_changes_end_in_the_same_graph() {
    let (p, g) = fresh();
    scenarios::replay_and_reorder(p, g, &Scenario::default()).await;
}

#[tokio::test]
async fn tampering_is_found_and_repaired_exactly() {
    let (p, g) = fresh();
    scenarios::tampering(p, g, &Scenario::default()).await;
}

#[tokio::test]
async fn a_poison_change_is_set_aside_while_1000_others_apply() {
    let (p, g) = fresh();
    scenarios::poison(p, g, &Scenario::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partitioned_workers_drain_everything() {
    let (p, g) = fresh();
    scenarios::two_partitions(p, g, &Scenario::default()).await;
}

#[tokio::test]
async fn an_interrupted_resync_resumes_from_its_checkpoint() {
    let (p, g) = fresh();
    scenarios::resync_resumes(p, g, &Scenario::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_apply_failures_and_timeouts_keep_the_write() {
    let (p, g) = fresh();
    scenarios::inline_apply(p, g).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_leased_workers_one_killed_drain_everything() {
    let p = MemoryStore::new();
    let report = scenarios::leased_workers(
        [p.clone(), p.clone(), p],
        MemoryGraph::new(),
        // Not shorter: a stall of the shared test machine longer than half the ttl only
        // moves partitions around, but costs the test time.
        std::time::Duration::from_secs(3),
        &Scenario::default(),
    )
    .await;
    println!("{report:?}");
}
