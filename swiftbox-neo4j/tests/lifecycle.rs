//! `Neo4jGraph::connect` leaves a store ready to use: on a fresh namespace (the path of the
//! `resync` and `sync-status` examples, which never call `migrate`) and on one whose schema lost
//! an index.

mod common;

use common::*;
use swiftbox_core::{EntityKind, GraphStore};
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

async fn connect(namespace: &str) -> Option<Neo4jGraph> {
    let server = swiftbox_testsupport::neo4j().await?;
    let config = Neo4jConfig::builder(&server.uri, &server.user, &server.password)
        .namespace(namespace)
        .build()
        .expect("valid test config");
    Some(Neo4jGraph::connect(&config).await.expect("connect"))
}

/// Products, an order, a review and deletes of each: every statement that names an index in
/// a hint or relies on a constraint.
async fn exercise(g: &Neo4jGraph) {
    let batch = vec![
        up(category(0, 1)),
        up(user(1, 1)),
        up(product(1, 0, 1)),
        up(product(2, 0, 1)),
        up(order(1, 1, &[(1, 2), (2, 1)], now(), 1)),
        up(review(1, 1, 2, 5, 1)),
    ];
    let report = g.apply(&batch).await.expect("apply on a fresh namespace");
    assert_eq!(report.applied, 6, "{report:?}");
    let deletes = vec![
        del(EntityKind::Review, review_id(1), 2),
        del(EntityKind::Order, order_id(1), 2),
        del(EntityKind::Product, product_id(2), 2),
    ];
    let report = g.apply(&deletes).await.expect("deletes");
    assert_eq!(report.applied, 3, "{report:?}");
    let counts = g.counts().await.expect("counts");
    assert_eq!(counts.entities[&EntityKind::Product], 1, "{counts:?}");
    assert_eq!(counts.purchases, 0, "{counts:?}");
}

#[tokio::test]
async fn connect_alone_makes_a_fresh_namespace_usable() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    let ns = server.unique_namespace("fresh_connect");
    let Some(g) = connect(&ns).await else { return };
    exercise(&g).await;
    // A second connect finds the schema current and changes nothing.
    let again = connect(&ns).await.expect("server");
    assert_eq!(
        again.counts().await.expect("counts"),
        g.counts().await.expect("counts")
    );
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn connect_restores_a_dropped_constraint() {
    let Some(g) = graph("restores_constraint").await else {
        return;
    };
    let (raw, ns) = buckets::raw(&g).await;
    raw.run(neo4rs::query(&format!(
        "DROP CONSTRAINT swiftbox_{ns}_trend_bucket_key"
    )))
    .await
    .expect("drop by hand");
    let g = connect(&ns).await.expect("server");
    exercise(&g).await;
    let mut rows = raw
        .execute(
            neo4rs::query("SHOW CONSTRAINTS YIELD name WHERE name = $name RETURN count(*) AS n")
                .param("name", format!("swiftbox_{ns}_trend_bucket_key")),
        )
        .await
        .expect("show");
    let row = rows.next().await.expect("row").expect("a row");
    assert_eq!(row.get::<i64>("n").expect("n"), 1);
    g.wipe().await.expect("wipe");
}
