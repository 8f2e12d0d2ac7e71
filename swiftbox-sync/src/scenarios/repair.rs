//! Scenarios where the graph no longer matches the primary store: tampered with by hand and
//! repaired, or left empty and rebuilt by a resync that is interrupted and resumed.

use std::collections::HashMap;
use std::sync::Arc;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, EntityRef, GraphChange, GraphRecord, GraphStore, UserId};

use super::{
    assert_in_sync, assert_repairs_exactly, assert_tamper_drift, must, owed, setup,
    test_worker_config, Scenario, Workload,
};
use crate::{Reconciler, SyncConfig};

/// Tampering: a node deleted, a stale property written and a foreign node added directly in
/// the graph; `check()` names exactly those three, `repair()` writes exactly those three, and
/// the graph is in sync again.
pub async fn tampering<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::default());
    let mut load = Workload::new(s.seed ^ 0x7a3);
    load.run(&store, 300).await;
    let lonely = load.product(&store).await; // no orders, no reviews: deleting it cascades nothing
    let victim = load.users()[0];
    // Some changes are held back inline by design (an order whose product was deleted is
    // deferred until the primary recomputes it), so let a worker settle them first.
    must(
        must(store.worker(test_worker_config()), "worker")
            .drain()
            .await,
        "drain",
    );
    let reconciler = store.reconciler();
    let before = must(reconciler.check().await, "check");
    assert!(before.is_clean(), "in sync before tampering:\n{before}");

    let product = must(primary.get_product(&lonely).await, "product");
    let user = must(primary.get_user(&victim).await, "user");
    let foreign = UserId::generate();
    let tampered_user = match swiftbox_core::changes::user_record(&user) {
        GraphRecord::User(mut n) => {
            n.email = "tampered@example.com".into();
            GraphRecord::User(n)
        }
        other => other,
    };
    let foreign_user = GraphRecord::User(swiftbox_core::graph::UserNode {
        id: foreign,
        username: "nobody".into(),
        email: "nobody@example.com".into(),
        version: 1,
    });
    let tamper = [
        GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Product, lonely),
            version: product.version,
        },
        GraphChange::Upsert(tampered_user),
        GraphChange::Upsert(foreign_user),
    ];
    let report = must(graph.apply(&tamper).await, "tamper");
    assert_eq!(report.applied, 3, "{report:?}");

    let drift = must(reconciler.check().await, "check");
    assert_tamper_drift(&drift, lonely, foreign, victim);

    assert_repairs_exactly(&reconciler, &graph, &drift).await;
    assert_in_sync(&primary, &graph).await;
}

/// Resync: a graph left empty (deferred mode, no worker) is rebuilt in batches; the run is
/// interrupted by a graph outage, resumed from the last checkpoint, and ends in sync, with
/// progress reported for every kind; an extra node is removed on the way.
pub async fn resync_resumes<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::deferred());
    let mut load = Workload::new(s.seed ^ 0x4e5);
    load.run(&store, s.writes).await;
    let extra = UserId::generate();
    must(
        graph
            .apply(&[GraphChange::Upsert(GraphRecord::User(
                swiftbox_core::graph::UserNode {
                    id: extra,
                    username: "extra".into(),
                    email: "extra@example.com".into(),
                    version: 1,
                },
            ))])
            .await,
        "extra node",
    );
    let reconciler = must(
        Reconciler::new(Arc::clone(&primary), Arc::clone(&graph)).with_config(
            crate::ReconcilerConfig {
                batch_size: 50,
                // One batch at a time, so the outage starts between two batches.
                batches_in_flight: 1,
                ..crate::ReconcilerConfig::default()
            },
        ),
        "reconciler",
    );
    // The graph goes down after the third batch: an outage ends the run (a failure while the
    // graph answers would be retried in smaller calls instead).
    let faults = Arc::clone(graph.faults());
    let mut last = None;
    let mut reported = 0;
    let first = reconciler
        .resync(None, |p| {
            last = Some(p.checkpoint.clone());
            reported += 1;
            if reported == 3 {
                faults.set_down(true);
            }
        })
        .await;
    faults.set_down(false);
    let err = match first {
        Ok(r) => panic!("the injected failure must interrupt the resync: {r:?}"),
        Err(e) => e,
    };
    assert!(err.is_retryable(), "{err}");
    let checkpoint = last.unwrap_or_else(|| panic!("progress reported before the failure"));
    let resumed_from = checkpoint.kind.rank();
    let mut kinds = HashMap::new();
    let report = must(
        reconciler
            .resync(Some(checkpoint), |p| {
                kinds.insert(p.kind, (p.done_in_kind, p.total_in_kind));
            })
            .await,
        "resumed resync",
    );
    assert!(report.upserted > 0, "{report:?}");
    assert_eq!(
        kinds.len(),
        EntityKind::ALL.len() - resumed_from,
        "progress for every kind from the checkpoint on: {kinds:?}"
    );
    for (kind, (done, total)) in &kinds {
        assert!(
            done <= &(total + 1),
            "{kind}: {done} of {total} (one extra user)"
        );
    }
    // Tombstones of entities deleted before the graph ever saw them stay owed; a worker
    // settles them (deleting what the graph never had is harmless).
    let worker = must(store.worker(test_worker_config()), "worker");
    must(worker.drain().await, "drain");
    assert_eq!(owed(&*primary).await, 0);
    assert_in_sync(&primary, &graph).await;
}
