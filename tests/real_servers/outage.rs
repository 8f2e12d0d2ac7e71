//! A graph outage on the real servers, injected by `FaultyGraph` around the real Neo4jGraph.

use swiftbox_sync::scenarios::{self, Scenario};

use crate::common;

/// Issue 6, "graph outage": mixed writes through `Synced<MongoStore, FaultyGraph<Neo4jGraph>>`,
/// the middle 60% while every graph call fails; all succeed on MongoDB, a worker running
/// throughout catches up, `check()` finds zero drift and every purchase is counted once.
///
/// 500 writes rather than the default 10,000 (which the in-memory run does): the scenario
/// polls `sync_stats()` every 10 ms, on MongoStore 25 collection counts and finds per poll,
/// which on FerretDB starve the worker, so thousands of writes do not drain within the
/// scenario's patience (docs/performance-notes.md, "FerretDB").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_outage_of_500_mixed_writes_loses_nothing_on_mongo_and_neo4j() {
    let Some(env) = common::env("graph_outage").await else {
        return;
    };
    let s = Scenario {
        outage_writes: 500,
        ..Scenario::default()
    };
    scenarios::graph_outage(env.mongo, env.graph, &s).await;
}
