//! Workers that share the owed changes by lease ([`crate::lease`]), one of them killed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::prelude::*;
use swiftbox_core::GraphStore;

use super::{assert_in_sync, must, owed_zero, test_worker_config, wait_until, Scenario, Workload};
use crate::lease::{LeaseConfig, PartitionLeases};
use crate::{SyncConfig, SyncWorker, Synced, WorkerConfig};

/// What [`leased_workers`] measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedWorkersReport {
    /// From the kill until no partition was the killed worker's any more.
    pub takeover: Duration,
    /// Changes each worker applied (the killed one's until it was killed).
    pub applied: Vec<u64>,
    /// Partitions each surviving worker held at the end.
    pub held: Vec<usize>,
}

/// Three workers, each on its own connection to the primary store (`primaries`, three handles
/// on one store), share the owed changes by lease while a writer keeps writing; halfway, one
/// worker is killed (its task aborted: no goodbye, its leases just stop moving). Checks that
/// every change is applied, that the killed worker's partitions are taken over (the time it
/// took is measured, not asserted), that afterwards every partition is held by exactly one
/// survivor, the records agreeing, and that a clean shutdown gives the leases back.
/// `lease_ttl` is the leases' ttl (short, so the test is short; nothing asserts on it).
pub async fn leased_workers<P: PrimaryBackend, G: GraphStore>(
    primaries: [P; 3],
    graph: G,
    lease_ttl: Duration,
    s: &Scenario,
) -> LeasedWorkersReport {
    let primaries: Vec<Arc<P>> = primaries.into_iter().map(Arc::new).collect();
    let graph = Arc::new(graph);
    let store = Synced::from_arcs(
        Arc::clone(&primaries[0]),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    let leases: Vec<Arc<PartitionLeases<P>>> = primaries
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let config = LeaseConfig {
                ttl: lease_ttl,
                worker_id: Some(format!("w{i}")),
                ..LeaseConfig::default()
            };
            Arc::new(must(PartitionLeases::new(Arc::clone(p), config), "leases"))
        })
        .collect();
    // An order whose product sits in the killed worker's partitions is deferred until that
    // partition is taken over. With this test's 5-100 ms backoff, 20 deferrals (the default
    // threshold) pass in about a second and would set it aside for a minute's cool-down; the
    // default backoff (100 ms doubling to 30 s) takes minutes to count 20.
    let config = WorkerConfig {
        deferred_set_aside_after: 1_000,
        ..test_worker_config()
    };
    let mut handles: Vec<_> = primaries
        .iter()
        .zip(&leases)
        .map(|(p, l)| {
            must(
                SyncWorker::with_config(Arc::clone(p), Arc::clone(&graph), config.clone()),
                "worker",
            )
            .with_leases(Arc::clone(l))
            .spawn()
        })
        .collect();

    let mut load = Workload::new(s.seed ^ 0x1ea5e);
    load.run(&store, s.writes / 2).await;
    // All three share the work before the kill.
    wait_until(
        s.patience,
        "the three workers to split the partitions",
        || async { leases.iter().all(|l| !l.held().is_empty()) },
    )
    .await;
    let killed = handles.pop().expect("three workers");
    let applied_by_killed = killed.metrics().applied;
    killed.abort();
    let killed_at = Instant::now();
    // The writer goes on while the survivors notice; the takeover is timed beside it, in a
    // task of its own (a memory store's writes never yield to a future joined with them).
    let watcher = {
        let p = Arc::clone(&primaries[0]);
        let patience = s.patience;
        tokio::spawn(async move {
            wait_until(
                patience,
                "the killed worker's partitions to be taken over",
                || {
                    let p = Arc::clone(&p);
                    async move {
                        must(p.lease_records("sync/part/").await, "lease records")
                            .iter()
                            .all(|r| r.owner.as_deref() != Some("w2"))
                    }
                },
            )
            .await;
            killed_at.elapsed()
        })
    };
    load.run(&store, s.writes - s.writes / 2).await;
    let takeover = must(watcher.await, "takeover watcher");
    let records =
        |p: Arc<P>| async move { must(p.lease_records("sync/part/").await, "lease records") };
    wait_until(s.patience, "the survivors to drain everything", || {
        owed_zero(&*primaries[0])
    })
    .await;
    // Converged: each partition held by exactly one survivor, as the records say.
    wait_until(
        s.patience,
        "the survivors to hold every partition",
        || async {
            leases[..2]
                .iter()
                .map(|l| l.held().indexes().len())
                .sum::<usize>()
                == 64
        },
    )
    .await;
    let mut seen = BTreeSet::new();
    for (i, l) in leases[..2].iter().enumerate() {
        for index in l.held().indexes() {
            assert!(seen.insert(*index), "partition {index} held twice");
            let key = format!("sync/part/{index:04}");
            let owner = records(Arc::clone(&primaries[0]))
                .await
                .into_iter()
                .find(|r| r.key == key)
                .and_then(|r| r.owner);
            assert_eq!(owner.as_deref(), Some(format!("w{i}").as_str()), "{key}");
        }
    }
    let held = leases[..2]
        .iter()
        .map(|l| l.held().indexes().len())
        .collect();
    let mut applied: Vec<u64> = handles.iter().map(|h| h.metrics().applied).collect();
    applied.push(applied_by_killed);
    assert!(
        applied[..2].iter().all(|a| *a > 0),
        "both survivors applied changes: {applied:?}"
    );
    // The killed worker's membership is tidied away by the survivors once it holds nothing.
    wait_until(
        s.patience,
        "the killed worker's membership to be removed",
        || {
            let p = Arc::clone(&primaries[0]);
            async move {
                must(p.lease_records("sync/member/").await, "members")
                    .iter()
                    .all(|r| r.owner.as_deref() != Some("w2"))
            }
        },
    )
    .await;
    for h in handles {
        must(h.shutdown().await, "shutdown");
    }
    let left = records(Arc::clone(&primaries[0])).await;
    assert!(
        left.iter().all(|r| r.owner.is_none()),
        "a clean shutdown gives the leases back: {left:?}"
    );
    assert!(
        must(primaries[0].lease_records("sync/member/").await, "members").is_empty(),
        "members removed"
    );
    assert_in_sync(&primaries[0], &graph).await;
    LeasedWorkersReport {
        takeover,
        applied,
        held,
    }
}
