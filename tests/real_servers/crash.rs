//! Neo4j crashes (SIGKILL) in the middle of a stream of applies and comes back on its store.
//!
//! A writer keeps writing through `Synced<MongoStore, Neo4jGraph>` (each write applied inline)
//! while a `SyncWorker` runs; the private Neo4j is killed while that stream is applying, so
//! some of its transactions are cut, some committed without their caller hearing back. Neo4j
//! is started again on the same folder (it recovers from its transaction logs), the stream goes
//! on, and once the worker has caught up `check()` finds zero drift and every purchase counted
//! once, without any resync: what the graph acknowledged before the crash survived it, and what
//! it did not acknowledge stayed owed and was applied again.
//!
//! Every wait is for a condition, with a generous bound; nothing depends on how fast the
//! machine is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::NewUser;
use swiftbox_sync::scenarios::{self, Workload};

use crate::common::must;
use crate::private_neo4j::{eventually, graph_users, owed, PrivateEnv};

const PATIENCE: Duration = Duration::from_secs(300);
/// The stream's length if the test never stops it (it does, long before): a bound, so a test
/// stuck on a condition cannot write forever.
const MAX_STREAM: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neo4j_killed_during_applies_recovers_its_store_with_zero_drift_and_no_resync() {
    let Some(env) = PrivateEnv::start("neo4j_crash").await else {
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
    let metrics = Arc::clone(store.metrics());

    // Settled before the crash: a workload, and sentinel users that nothing touches again.
    let mut load = Workload::new(0xc4a5);
    load.run(store, 150).await;
    let mut sentinels = Vec::new();
    for i in 0..5 {
        let name = format!("sentinel{i}");
        let u = must(
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await,
            "create a sentinel",
        );
        sentinels.push(u.id);
    }
    eventually(
        "the worker to settle the first writes",
        PATIENCE,
        Duration::from_millis(200),
        || async { owed(primary).await == 0 },
    )
    .await;

    // The stream: writes through Synced, one after another, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut written = 0;
            while !stop.load(Ordering::SeqCst) && written < MAX_STREAM {
                load.run(&store, 1).await;
                written += 1;
            }
            (load, written)
        })
    };

    // Kill Neo4j while the stream is applying: once its inline applies are flowing.
    let started = metrics.snapshot();
    eventually(
        "the stream's inline applies to reach Neo4j",
        PATIENCE,
        Duration::from_millis(20),
        || async { metrics.snapshot().inline_applied >= started.inline_applied + 30 },
    )
    .await;
    assert!(!writer.is_finished(), "the stream is still writing");
    neo4j.kill().await;
    let killed = metrics.snapshot();
    assert!(
        !writer.is_finished(),
        "the stream was writing when Neo4j died"
    );

    // While Neo4j is dead, the stream's writes succeed on MongoDB and their applies fail.
    eventually(
        "writes while Neo4j is dead to fail their inline applies",
        PATIENCE,
        Duration::from_millis(50),
        || async { metrics.snapshot().inline_failed >= killed.inline_failed + 20 },
    )
    .await;

    // Neo4j comes back on its store, after recovery: same port, same password.
    let again = neo4j.restart().await;
    assert_eq!(again.uri, server.uri, "restarted on the same port");

    // The stream applies inline again, then stops.
    let restarted = metrics.snapshot();
    eventually(
        "the stream's inline applies to reach the restarted Neo4j",
        PATIENCE,
        Duration::from_millis(50),
        || async { metrics.snapshot().inline_applied >= restarted.inline_applied + 20 },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    let (_load, written) = must(writer.await, "the writer task");
    let m = metrics.snapshot();
    eprintln!(
        "crash test: {written} writes in the stream; inline applied {} / failed {} (of which \
         {} after the kill); worker applied {}",
        m.inline_applied,
        m.inline_failed,
        m.inline_failed - killed.inline_failed,
        m.applied
    );
    assert!(
        written < MAX_STREAM,
        "the stream was stopped, not exhausted"
    );

    // The worker catches up; no resync.
    eventually(
        "the worker to settle everything",
        PATIENCE,
        Duration::from_millis(200),
        || async { owed(primary).await == 0 },
    )
    .await;
    must(worker.shutdown().await, "worker shutdown");
    // What Neo4j acknowledged before the crash survived it: the sentinels were applied and
    // acknowledged before the stream began, so nothing applied them again since. (Read now,
    // not while the stream runs: a read racing a delete can see a node without its
    // properties, see `graph_users`.)
    let users = graph_users(graph).await;
    let lost: Vec<_> = sentinels.iter().filter(|u| !users.contains(u)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged users lost in the crash: {lost:?}"
    );
    let status = must(store.reconciler().status().await, "status");
    assert_eq!(status.primary.set_aside, 0, "{status}");
    scenarios::assert_in_sync(primary, graph).await;
}
