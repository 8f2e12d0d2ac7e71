//! The Bolt driver under cancellation: a call whose future is dropped half-way (a timeout)
//! must not leave its connection in the pool out of step with its responses, or the next
//! caller on that connection reads the abandoned request's answers (see vendor/README.md).

use std::time::Duration;

use neo4rs::{query, ConfigBuilder, Graph};

/// One connection in the pool, so the call after the abandoned one gets the same connection
/// back unless the pool discards it.
async fn one_connection_graph() -> Option<(Graph, swiftbox_testsupport::Neo4jServer)> {
    let server = swiftbox_testsupport::neo4j().await?;
    let config = ConfigBuilder::default()
        .uri(&server.uri)
        .user(&server.user)
        .password(&server.password)
        .max_connections(1)
        .build()
        .expect("config");
    let graph = Graph::connect(config).await.expect("connect");
    Some((graph, server))
}

async fn single_value(graph: &Graph, q: &str, column: &str) -> i64 {
    let mut txn = graph.start_txn().await.expect("begin");
    let mut rows = txn.execute(query(q)).await.expect("run");
    let row = rows
        .next(txn.handle())
        .await
        .expect("pull")
        .expect("one row");
    let value = row.get::<i64>(column).expect("column");
    txn.commit().await.expect("commit");
    value
}

/// The left-over that fooled the pool: a write cut off while it waits for a lock, whose
/// answer (a plain SUCCESS) arrives once the lock is released, after the caller gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_discards_a_connection_abandoned_mid_request() {
    let Some((graph, server)) = one_connection_graph().await else {
        return;
    };
    let holder = neo4rs::Graph::new(&server.uri, &server.user, &server.password)
        .await
        .expect("connect the lock holder");
    let key = swiftbox_testsupport::unique_name("driver_lock");
    let node = || query("MERGE (n:DriverTestLock {key: $key})").param("key", key.clone());
    holder.run(node()).await.expect("create the node");
    assert_eq!(single_value(&graph, "RETURN 1 AS x", "x").await, 1);

    // Another transaction holds the node's write lock.
    let mut held = holder.start_txn().await.expect("begin");
    held.run(query("MATCH (n:DriverTestLock {key: $key}) SET n.v = 1").param("key", key.clone()))
        .await
        .expect("take the lock");
    // A write on the one pooled connection waits for that lock, and its caller gives up.
    let cut = tokio::time::timeout(Duration::from_millis(300), async {
        let mut txn = graph.start_txn().await?;
        txn.run(
            query("MATCH (n:DriverTestLock {key: $key}) SET n.v = 2").param("key", key.clone()),
        )
        .await?;
        txn.commit().await
    })
    .await;
    assert!(cut.is_err(), "the blocked write was not cut off: {cut:?}");
    // The lock goes; the abandoned write completes on the server and its answer arrives on a
    // connection nobody reads. (Waiting for it is what makes the bug show: with a shorter
    // wait the test passes with or without the fix; it never fails for being slow.)
    held.commit().await.expect("release the lock");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The next calls run on a connection in step with them, and each reads its own answer.
    for n in 2..6_i64 {
        let q = format!("RETURN {n} AS x");
        assert_eq!(single_value(&graph, &q, "x").await, n, "answer to {q}");
    }
    holder
        .run(query("MATCH (n:DriverTestLock {key: $key}) DELETE n").param("key", key))
        .await
        .expect("clean up");
}
