//! Issue 19: three sync workers share the owed changes by lease, each on its own connection
//! to FerretDB, one killed mid-run (`swiftbox_sync::scenarios::leased_workers`).

use std::time::Duration;

use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::Neo4jGraph;
use swiftbox_sync::scenarios::{self, Scenario};

use crate::common::{self, must};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_leased_workers_one_killed_drain_everything() {
    let Some((mongo_server, neo4j_server)) = common::servers().await else {
        return;
    };
    let database = mongo_server.unique_database("leased_workers");
    let namespace = neo4j_server.unique_namespace("leased_workers");
    let _cleanup = common::Cleanup::new(&mongo_server, Some(&neo4j_server), &database, &namespace);
    let mut primaries = Vec::new();
    for _ in 0..3 {
        primaries.push(must(
            MongoStore::connect(&mongo_server.uri, &database).await,
            "connect to mongo",
        ));
    }
    let graph = must(
        Neo4jGraph::connect(&common::neo4j_config(&neo4j_server, &namespace)).await,
        "connect to neo4j",
    );
    must(graph.migrate().await, "migrate");
    let primaries: [MongoStore; 3] = match primaries.try_into() {
        Ok(p) => p,
        Err(_) => unreachable!("three connections"),
    };
    let s = Scenario {
        writes: 600,
        ..Scenario::default()
    };
    // A 3 s ttl: long enough that a loaded machine's slow renewal does not lose a lease
    // (a lost one is only taken over, never wrong), short enough for a quick test.
    let report = scenarios::leased_workers(primaries, graph, Duration::from_secs(3), &s).await;
    eprintln!("leased workers on FerretDB + Neo4j: {report:?}");
}
