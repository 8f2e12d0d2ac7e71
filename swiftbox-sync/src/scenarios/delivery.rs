//! Scenarios where changes reach the graph late, twice, out of order or through several
//! workers: a crash between the primary write and the graph apply, replays of shuffled
//! batches, two partitioned workers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    EntityKind, EntityRef, GraphChange, GraphStore, NewCategory, NewUser, OwedQuery, Partition,
};

use super::workload::Rng;
use super::{
    assert_in_sync, must, owed, owed_zero, setup, test_worker_config, wait_until, Scenario,
    Workload,
};
use crate::{SyncConfig, SyncWorker, Synced, WorkerConfig};

/// Crash between the two writes: the primary write commits, then the process "dies" before the
/// graph apply (the write's future is dropped while the graph hangs, and a write goes through
/// the raw primary store, as code without the decorator would); a new worker on the same
/// primary store applies both.
pub async fn crash_between_writes<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G) {
    let config = SyncConfig {
        inline: true,
        inline_timeout: Duration::from_secs(3600),
    };
    let (primary, graph, store) = setup(primary, graph, config);
    graph.faults().set_hang(true);
    let name = format!("crash{:x}", fastrand::u32(..));
    let write = tokio::spawn({
        let store = store.clone();
        let name = name.clone();
        async move {
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await
        }
    });
    wait_until(Duration::from_secs(60), "the inline apply to start", || {
        let hung = graph.faults().hung_calls();
        async move { hung >= 1 }
    })
    .await;
    write.abort();
    assert!(write.await.is_err(), "the write task was cut off mid-apply");
    drop(store);
    graph.faults().set_hang(false);

    let user = must(primary.credentials(&name).await, "credentials")
        .map(|c| c.user)
        .unwrap_or_else(|| panic!("the primary write committed before the crash"));
    let entity = EntityRef::new(EntityKind::User, user.id);
    assert!(
        must(primary.owed_change(&entity).await, "owed change").is_some(),
        "the graph change is still owed after the crash"
    );
    // Code that writes the primary store directly also leaves the change owed.
    let raw = must(
        primary
            .create_category(NewCategory::new(format!("{name}-raw")))
            .await,
        "raw write",
    );
    assert_eq!(owed(&*primary).await, 2);

    let worker = must(
        SyncWorker::with_config(
            Arc::clone(&primary),
            Arc::clone(&graph),
            test_worker_config(),
        ),
        "worker",
    );
    let round = must(worker.drain().await, "drain");
    assert_eq!(round.acked, 2, "{round:?}");
    assert_eq!(owed(&*primary).await, 0);
    let users = must(graph.records(EntityKind::User, None, 10).await, "records");
    assert!(users.iter().any(|r| r.entity() == entity));
    let categories = must(
        graph.records(EntityKind::Category, None, 10).await,
        "records",
    );
    assert!(categories
        .iter()
        .any(|r| r.entity() == EntityRef::new(EntityKind::Category, raw.id)));
    assert_in_sync(&primary, &graph).await;
}

/// Replay and reordering: the owed changes, snapshotted after every step of a workload (so
/// older versions of an entity appear in earlier snapshots), are applied batch by batch with
/// each batch shuffled and doubled, every batch followed by a replay of the one before it; the
/// graph ends exactly as the primary store expects (as applying each change once, in order),
/// with each purchase counted once.
pub async fn replay_and_reorder<P: PrimaryBackend, G: GraphStore>(
    primary: P,
    graph: G,
    s: &Scenario,
) {
    let primary = Arc::new(primary);
    let graph = Arc::new(graph);
    // Deferred mode and no worker: every change stays owed, so each snapshot holds them all.
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    let mut load = Workload::new(s.seed ^ 0x5eed);
    let mut batches: Vec<Vec<GraphChange>> = Vec::new();
    let steps = 10;
    for _ in 0..steps {
        load.run(&store, s.writes / steps).await;
        let owed = must(
            primary.owed_changes(&OwedQuery::oldest(10_000)).await,
            "owed changes",
        );
        batches.push(owed.into_iter().map(|o| o.change).collect());
    }
    let mut rng = Rng(s.seed);
    let mut stale = 0;
    for i in 0..batches.len() {
        let mut order = vec![i];
        if i > 0 {
            order.push(i - 1);
        }
        for b in order {
            let mut twice: Vec<GraphChange> =
                batches[b].iter().chain(&batches[b]).cloned().collect();
            rng.shuffle(&mut twice);
            // Split in two calls too, so replays also arrive in separate calls. A change whose
            // referenced node came in the other half is deferred; like a worker, retry it after.
            // (Replays of the older batch may stay deferred: they reference entities deleted
            // since, which is exactly why the graph refuses them.)
            let mid = twice.len() / 2;
            let mut deferred = HashSet::new();
            for part in [&twice[..mid], &twice[mid..]] {
                let report = must(graph.apply(part).await, "apply");
                stale += report.stale;
                deferred.extend(report.deferred);
            }
            let retry: Vec<GraphChange> = batches[b]
                .iter()
                .filter(|c| deferred.contains(&c.entity()))
                .cloned()
                .collect();
            if !retry.is_empty() {
                let report = must(graph.apply(&retry).await, "retry deferred");
                assert!(b != i || report.deferred.is_empty(), "{report:?}");
            }
        }
    }
    assert!(
        stale > 0,
        "replays of older versions must have been ignored as stale"
    );
    assert_in_sync(&primary, &graph).await;
}

/// Two workers on two partitions, running concurrently, drain a mixed workload with no loss;
/// each does part of the work; both shut down cleanly.
pub async fn two_partitions<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let primary = Arc::new(primary);
    let graph = Arc::new(graph);
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    let mut load = Workload::new(s.seed ^ 0x2);
    load.run(&store, s.writes).await;
    let owed_before = owed(&*primary).await;
    assert!(owed_before > 0);
    let handles: Vec<_> = (0..2)
        .map(|index| {
            let config = WorkerConfig {
                partition: Partition { index, count: 2 },
                ..test_worker_config()
            };
            must(
                SyncWorker::with_config(Arc::clone(&primary), Arc::clone(&graph), config),
                "worker",
            )
            .spawn()
        })
        .collect();
    wait_until(s.patience, "two partitioned workers to drain", || {
        owed_zero(&*primary)
    })
    .await;
    let mut acked = Vec::new();
    for h in handles {
        acked.push(h.metrics().applied);
        must(h.shutdown().await, "shutdown");
    }
    assert!(
        acked.iter().all(|a| *a > 0),
        "both partitions did work: {acked:?}"
    );
    assert_in_sync(&primary, &graph).await;
}
