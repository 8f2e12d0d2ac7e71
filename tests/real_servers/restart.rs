//! A real Neo4j process stopped and started again while `Synced<MongoStore, Neo4jGraph>` keeps
//! writing, on a Neo4j of this test's own (`private_neo4j`) with a persistent store.
//!
//! A clean stop and start keeps the graph's data: the restarted Neo4j holds exactly what it
//! held, the writes made during the outage all succeeded on MongoDB and stayed owed, the worker
//! applies them once Neo4j is back, and `check()` finds zero drift with no resync. Then the
//! store is wiped (a graph server that lost its disk): the restarted database is empty and a
//! `Reconciler::resync()` (what an operator runs then) rebuilds it, zero drift again. The
//! crash (SIGKILL during a stream of applies) is `crash.rs`.

use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, EntityRef, Error, GraphChange, GraphStore, NewUser, UserId};
use swiftbox_sync::scenarios::{self, Workload};

use crate::common::must;
use crate::private_neo4j::{eventually, graph_users, owed, PrivateEnv};

const PATIENCE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4j_stopped_and_started_again_keeps_its_data_and_loses_no_write() {
    let Some(env) = PrivateEnv::start("neo4j_restart").await else {
        return;
    };
    let PrivateEnv {
        neo4j,
        server,
        primary,
        graph,
        store,
        ..
    } = &env;
    let worker = must(store.worker(scenarios::test_worker_config()), "worker").spawn();

    // Before the outage: everything applied.
    let mut load = Workload::new(0x5709);
    load.run(store, 200).await;
    eventually(
        "the worker to settle the first writes",
        PATIENCE,
        POLL,
        || async { owed(primary).await == 0 },
    )
    .await;
    // No worker while Neo4j is down, so what the restarted Neo4j holds is what it held.
    must(worker.shutdown().await, "worker shutdown");
    let before = must(graph.counts().await, "counts before the stop");
    let users =
        |c: &swiftbox_core::GraphCounts| c.entities.get(&EntityKind::User).copied().unwrap_or(0);
    assert!(users(&before) > 0 && before.purchases > 0, "{before:?}");

    // Neo4j really goes down (SIGTERM, a clean shutdown).
    neo4j.stop().await;
    let err = graph.ping().await.err();
    assert!(
        matches!(err, Some(Error::Unavailable { .. })),
        "a stopped Neo4j is unavailable: {err:?}"
    );
    let probe = GraphChange::Delete {
        entity: EntityRef::new(EntityKind::User, UserId::generate()),
        version: 1,
    };
    let err = graph.apply(&[probe]).await.err();
    assert!(
        matches!(err, Some(Error::Unavailable { .. })),
        "apply on a stopped Neo4j is Unavailable: {err:?}"
    );

    // Writes during the outage: every one succeeds on MongoDB (Workload panics otherwise),
    // the inline applies fail, the changes stay owed.
    let failed_before = store.metrics().snapshot().inline_failed;
    load.run(store, 300).await;
    let mut during = Vec::new();
    for i in 0..5 {
        let name = format!("outage{i}");
        let u = must(
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await,
            "create during the outage",
        );
        during.push(u.id);
    }
    let m = store.metrics().snapshot();
    assert!(
        m.inline_failed - failed_before >= 305,
        "every inline apply during the outage failed: {m:?}"
    );
    assert!(
        owed(primary).await >= 5,
        "writes during the outage stay owed"
    );
    for id in &during {
        let entity = EntityRef::new(EntityKind::User, *id);
        assert!(
            must(primary.owed_change(&entity).await, "owed change").is_some(),
            "{entity} is owed"
        );
    }
    let err = store
        .record_view(&during[0], &load.products()[0])
        .await
        .err();
    assert!(
        matches!(&err, Some(e) if e.is_retryable()),
        "a view while Neo4j is down is refused as retryable: {err:?}"
    );

    // Neo4j comes back on its store (same port and password): the same pool reconnects and
    // finds everything the graph held before the stop.
    let again = neo4j.restart().await;
    assert_eq!(again.uri, server.uri, "restarted on the same port");
    let after = must(graph.counts().await, "counts after the restart");
    assert_eq!(after, before, "the restarted Neo4j holds what it held");

    // A worker applies what was owed during the outage; nothing else is needed: no resync.
    // (Nothing reads the graph while the worker applies: a read racing a delete of the node it
    // matched can see the node without its properties, see `graph_users`.)
    let worker = must(store.worker(scenarios::test_worker_config()), "worker").spawn();
    eventually(
        "the worker to settle everything",
        PATIENCE,
        POLL,
        || async { owed(primary).await == 0 },
    )
    .await;
    let users = graph_users(graph).await;
    let missing: Vec<_> = during.iter().filter(|u| !users.contains(u)).collect();
    assert!(missing.is_empty(), "outage users not applied: {missing:?}");
    must(worker.shutdown().await, "worker shutdown");
    let status = must(store.reconciler().status().await, "status");
    assert_eq!(status.primary.set_aside, 0, "{status}");
    scenarios::assert_in_sync(primary, graph).await;

    // The store is lost (wiped, as with a graph server's disk): the restarted database is
    // empty, and a resync rebuilds it.
    neo4j.wipe().await;
    let again = neo4j.restart().await;
    assert_eq!(again.uri, server.uri, "restarted on the same port");
    must(graph.migrate().await, "migrate the new database");
    let empty = must(graph.counts().await, "counts after the wipe");
    assert!(
        empty.entities.values().all(|n| *n == 0) && empty.purchases == 0 && empty.views == 0,
        "a wiped store is empty: {empty:?}"
    );
    let report = must(
        store.reconciler().resync(None, |_| {}).await,
        "resync after the wipe",
    );
    assert!(report.upserted > 0, "{report:?}");
    scenarios::assert_in_sync(primary, graph).await;
}
