//! Scenarios where the graph fails: down for a stretch of writes, hanging or down during
//! inline applies, or refusing one change every time.

use std::collections::HashSet;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, EntityRef, GraphStore, OwedQuery};

use super::{
    assert_in_sync, must, owed, owed_zero, setup, test_worker_config, wait_until, Scenario,
    Workload,
};
use crate::{SetAsideRetry, SyncConfig, WorkerConfig};

/// Graph outage: `outage_writes` mixed writes, the middle 60% while the graph fails every call,
/// all succeed on the primary; a worker running throughout catches up once the graph is back;
/// then no drift and no purchase counted twice.
pub async fn graph_outage<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::default());
    let worker = must(store.worker(test_worker_config()), "worker").spawn();
    let mut load = Workload::new(s.seed);
    let stretch = s.outage_writes / 5;
    load.run(&store, stretch).await;
    graph.faults().set_down(true);
    load.run(&store, s.outage_writes - 2 * stretch).await;
    let during = must(primary.sync_stats().await, "stats");
    assert!(during.owed > 0, "writes during the outage must stay owed");
    graph.faults().set_down(false);
    load.run(&store, stretch).await;
    wait_until(s.patience, "worker to drain after the outage", || {
        owed_zero(&*primary)
    })
    .await;
    must(worker.shutdown().await, "worker shutdown");
    let m = store.metrics().snapshot();
    assert!(
        m.inline_failed > 0,
        "the outage must have failed inline applies: {m:?}"
    );
    assert!(graph.faults().injected() > 0);
    assert_in_sync(&primary, &graph).await;
}

/// Poison: one change the graph refuses every time is set aside after `set_aside_after`
/// attempts, while `poison_others` other changes apply; status and the operators' list report
/// it; once the graph takes it, a worker applies it on a retry after its cool-down, with no
/// release by hand.
pub async fn poison<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::deferred());
    let mut load = Workload::new(s.seed ^ 0xbad);
    // The poison is owed first, so it heads every batch until it is set aside.
    let bad = load.user(&store).await;
    let bad_ref = EntityRef::new(EntityKind::User, bad);
    graph.faults().poison(bad_ref.clone());
    // Count the entities created here (a product may bring its category along) instead of
    // asking the store after each one: on a real server that count is a dozen queries.
    let mut others = 0;
    while others < s.poison_others {
        let categories = load.categories.len();
        if others % 2 == 0 {
            load.user(&store).await;
        } else {
            load.product(&store).await;
        }
        others += 1 + (load.categories.len() - categories);
    }
    assert_eq!(
        owed(&*primary).await as usize,
        others + 1,
        "every write is owed, the poison included"
    );
    let config = WorkerConfig {
        set_aside_after: 3,
        batch_size: 100,
        // A constant short cool-down: a retry while still poisoned (a slow drain) fails and is
        // counted; once cured, the next retry comes within one cool-down.
        set_aside_retry: SetAsideRetry {
            cooldown: Duration::from_millis(200),
            factor: 1,
            max_retries: 1_000_000,
        },
        ..test_worker_config()
    };
    let worker = must(store.worker(config), "worker");
    let total = must(worker.drain().await, "drain");
    assert_eq!(total.set_aside, 1, "{total:?}");
    assert_eq!(total.failed, 3 + total.retried, "{total:?}");
    assert_eq!(total.acked as usize, others, "{total:?}");

    let status = must(store.reconciler().status().await, "status");
    assert_eq!(
        (status.primary.owed, status.primary.set_aside),
        (1, 1),
        "{status}"
    );
    let last = status.last_error().unwrap_or_default();
    assert!(
        last.contains("poison"),
        "status names the failure: {status}"
    );
    assert!(status.oldest_set_aside_age.is_some(), "{status}");
    let owed_bad =
        must(primary.owed_change(&bad_ref).await, "owed").map(|o| (o.set_aside, o.attempts));
    assert_eq!(owed_bad, Some((true, 3)));
    let listed = must(store.reconciler().set_aside(10).await, "set-aside list");
    assert_eq!(
        listed.iter().map(|o| &o.entity).collect::<Vec<_>>(),
        vec![&bad_ref]
    );
    assert!(listed[0].retry_at.is_some(), "a retry is scheduled");
    let drift = must(store.reconciler().check().await, "check");
    assert_eq!(drift.entities(), vec![bad_ref.clone()], "{drift}");

    graph.faults().cure(&bad_ref);
    wait_until(
        s.patience,
        "the set-aside change to apply on a retry",
        || async {
            must(worker.run_once().await, "round");
            owed_zero(&*primary).await
        },
    )
    .await;
    assert_in_sync(&primary, &graph).await;
}

/// Inline behaviour: writes apply inline and leave nothing owed; a graph that hangs past
/// [`SyncConfig::inline_timeout`] or fails leaves the write successful and the change owed;
/// views go to the graph and report its outage as retryable.
pub async fn inline_apply<P: PrimaryBackend, G: GraphStore>(primary: P, graph: G) {
    let config = SyncConfig {
        inline: true,
        inline_timeout: Duration::from_millis(200),
    };
    let (primary, graph, store) = setup(primary, graph, config);
    let mut load = Workload::new(0x11);
    let user = load.user(&store).await;
    let product = load.product(&store).await;
    assert_eq!(
        owed(&*primary).await,
        0,
        "inline apply acknowledged everything"
    );
    must(store.record_view(&user, &product).await, "record view");
    assert_eq!(must(graph.counts().await, "counts").views, 1);

    graph.faults().set_hang(true);
    let slow = load.user(&store).await; // returns after the timeout, write committed
    graph.faults().set_hang(false);
    graph.faults().set_down(true);
    let down = load.product(&store).await;
    let err = store.record_view(&user, &product).await.err();
    assert!(
        matches!(&err, Some(e) if e.is_retryable()),
        "a view while the graph is down is refused as retryable: {err:?}"
    );
    must(store.delete_user(&user).await, "delete while down");
    graph.faults().set_down(false);
    let owed_now: HashSet<EntityRef> =
        must(primary.owed_changes(&OwedQuery::oldest(100)).await, "owed")
            .into_iter()
            .map(|o| o.entity)
            .collect();
    let expected: HashSet<EntityRef> = [
        EntityRef::new(EntityKind::User, slow),
        EntityRef::new(EntityKind::Product, down),
        EntityRef::new(EntityKind::User, user),
    ]
    .into_iter()
    .collect();
    assert!(expected.is_subset(&owed_now), "{owed_now:?}");
    let m = store.metrics().snapshot();
    assert!(m.inline_failed >= 3 && m.inline_applied >= 2, "{m:?}");
    let worker = must(store.worker(test_worker_config()), "worker");
    must(worker.drain().await, "drain");
    assert_in_sync(&primary, &graph).await;
}
