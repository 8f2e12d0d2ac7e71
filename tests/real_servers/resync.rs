//! A resync into a fresh Neo4j namespace under an apply timeout far too short for its batches:
//! the run splits its calls until they fit, completes, and leaves no drift.

use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::generator::{DemoShop, ShopSpec};
use swiftbox_core::memory::MemoryStore;
use swiftbox_core::prelude::*;
use swiftbox_neo4j::Neo4jGraph;
use swiftbox_sync::{Reconciler, ReconcilerConfig};

use crate::common::{self, must, Cleanup};

/// 1,000 orders (about 2,000 purchases) in batches of 1,000 with a 2 s apply timeout, on a
/// namespace whose statements Neo4j has never planned: calls that time out are split (and the
/// size grows back after successes) and the run completes with every entity and purchase in
/// the graph and nothing owed. The assertion is completion and zero drift; how often a call
/// timed out depends on the machine's load and is only printed. (Before the split, this run
/// failed with "apply of 5 changes timed out after 50ms" at a 50 ms timeout; on a machine at
/// load 16-20, calls of one change missed 500 ms for a minute, so the timeout here is short for
/// the batch, not for one change.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_under_a_tiny_apply_timeout_completes_without_drift() {
    let Some((mongo_server, neo4j_server)) = common::servers().await else {
        return;
    };
    let namespace = neo4j_server.unique_namespace("resync_tiny_timeout");
    let _cleanup = Cleanup::new(&mongo_server, Some(&neo4j_server), "unused", &namespace);
    let graph = must(
        Neo4jGraph::connect(&common::neo4j_config(&neo4j_server, &namespace)).await,
        "connect to neo4j",
    );
    must(graph.migrate().await, "migrate the graph");
    // The primary store is in memory: this is about the graph's side.
    let store = Arc::new(MemoryStore::new());
    let spec = ShopSpec {
        users: 400,
        products: 150,
        orders: 1_000,
        views: 0,
        ..ShopSpec::tiny()
    };
    let shop = DemoShop::generate(&spec);
    let loaded = must(shop.load_into(&*store).await, "load the shop");
    let graph = Arc::new(graph);
    let reconciler = must(
        Reconciler::new(Arc::clone(&store), Arc::clone(&graph)).with_config(ReconcilerConfig {
            batch_size: 1_000,
            min_batch_size: 1,
            // Generous: on a loaded machine a call of one change may miss the timeout now and
            // then.
            retries_at_min: 10,
            apply_timeout: Duration::from_secs(2),
            ..ReconcilerConfig::default()
        }),
        "reconciler",
    );
    let report = must(reconciler.resync(None, |_| {}).await, "resync");
    eprintln!(
        "resync: {} graph calls, {} retried after a failure",
        report.batches, report.retried
    );
    assert!(report.deferred.is_empty(), "{report:?}");
    assert_eq!(must(store.sync_stats().await, "stats").owed, 0);
    let drift = must(reconciler.check().await, "check");
    assert!(drift.is_clean(), "{drift}");
    let counts = must(graph.counts().await, "counts");
    assert_eq!(counts.purchases, loaded.purchases, "{counts:?}");
}
