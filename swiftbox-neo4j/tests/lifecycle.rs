//! `Neo4jGraph::connect` leaves a store ready to use: on a fresh namespace (the path of the
//! `resync` and `sync-status` examples, which never call `migrate`) and on one whose schema lost
//! an index.

mod common;

use common::*;
use swiftbox_core::{EntityKind, GraphStore, NeighbourRefresh};
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

/// One `PURCHASED` line per (order, product), whoever writes it: a second line created by hand
/// beside the one apply wrote is refused by the `purchased_line` constraint.
#[tokio::test]
async fn a_second_line_of_one_order_and_product_is_refused() {
    let Some(g) = graph("one_line_per_item").await else {
        return;
    };
    let batch = vec![
        up(category(0, 1)),
        up(user(1, 1)),
        up(product(1, 0, 1)),
        up(order(1, 1, &[(1, 2)], now(), 1)),
    ];
    g.apply(&batch).await.expect("apply");
    let (raw, ns) = buckets::raw(&g).await;
    let doubled = raw
        .run(neo4rs::query(&format!(
            "MATCH (u:`{ns}_User`)-[r:`{ns}_PURCHASED`]->(p:`{ns}_Product`) \
                 CREATE (u)-[:`{ns}_PURCHASED` {{order_id: r.order_id, product: r.product, \
                 quantity: 1, version: 1}}]->(p)"
        )))
        .await;
    let err = doubled.expect_err("a doubled line must be refused");
    assert!(
        err.to_string().contains("ConstraintValidationFailed"),
        "refused by the constraint: {err}"
    );
    assert_eq!(g.counts().await.expect("counts").purchases, 1);
    g.wipe().await.expect("wipe");
}

/// A graph whose lines were written before schema version 3 (no `product` on `PURCHASED`):
/// `connect` sees the old recorded version and migrates, which gives every line its product's
/// id, so the constraint covers them too.
#[tokio::test]
async fn connect_gives_older_lines_their_product() {
    let Some(g) = graph("older_lines").await else {
        return;
    };
    let batch = vec![
        up(category(0, 1)),
        up(user(1, 1)),
        up(product(1, 0, 1)),
        up(product(2, 0, 1)),
        up(order(1, 1, &[(1, 2), (2, 1)], now(), 1)),
    ];
    g.apply(&batch).await.expect("apply");
    let (raw, ns) = buckets::raw(&g).await;
    // As a version-2 graph left them.
    raw.run(neo4rs::query(&format!(
        "MATCH ()-[r:`{ns}_PURCHASED`]->() REMOVE r.product"
    )))
    .await
    .expect("remove product by hand");
    raw.run(neo4rs::query(&format!(
        "MATCH (m:`{ns}_SwiftboxSchema`) SET m.version = 2"
    )))
    .await
    .expect("record version 2 by hand");
    let g = connect(&ns).await.expect("server");
    let mut rows = raw
        .execute(neo4rs::query(&format!(
            "MATCH ()-[r:`{ns}_PURCHASED`]->(p:`{ns}_Product`) \
             RETURN count(r) AS lines, sum(CASE WHEN r.product = p.id THEN 1 ELSE 0 END) AS filled"
        )))
        .await
        .expect("read lines");
    let row = rows.next().await.expect("row").expect("a row");
    assert_eq!(row.get::<i64>("lines").expect("lines"), 2);
    assert_eq!(row.get::<i64>("filled").expect("filled"), 2);
    exercise(&g).await;
    g.wipe().await.expect("wipe");
}

/// A graph written before schema version 4 has no neighbour lists and no marks: `connect`
/// migrates, marking every product with buyers, so a refresh computes their lists.
#[tokio::test]
async fn connect_marks_the_products_of_an_older_graph() {
    let Some(g) = graph("older_marks").await else {
        return;
    };
    let batch = vec![
        up(category(0, 1)),
        up(user(1, 1)),
        up(user(2, 1)),
        up(product(1, 0, 1)),
        up(product(2, 0, 1)),
        up(product(3, 0, 1)),
        up(order(1, 1, &[(1, 1), (2, 1)], now(), 1)),
        up(order(2, 2, &[(1, 1)], now(), 1)),
    ];
    g.apply(&batch).await.expect("apply");
    let (raw, ns) = buckets::raw(&g).await;
    // As a version-3 graph left them: no list, no mark.
    raw.run(neo4rs::query(&format!(
        "MATCH (s:`{ns}_SwiftboxProductStats`) REMOVE s.line_changes, s.computed_at, \
         s.neighbours, s.neighbour_scores"
    )))
    .await
    .expect("remove the lists by hand");
    raw.run(neo4rs::query(&format!(
        "MATCH (m:`{ns}_SwiftboxSchema`) SET m.version = 3"
    )))
    .await
    .expect("record version 3 by hand");
    let nothing = g.refresh_neighbours(10).await.expect("refresh before");
    assert_eq!(nothing, NeighbourRefresh::default(), "nothing marked yet");

    let g = connect(&ns).await.expect("server");
    // Products 1 and 2 have a buyer; product 3 has none and needs no list.
    let done = g.refresh_neighbours(10).await.expect("refresh after");
    assert_eq!(
        done,
        NeighbourRefresh {
            refreshed: 2,
            marked: 0
        }
    );
    // Product 1's list now holds product 2 (user 1 bought both), which user 2 gets.
    let recs = g.recommendations_for(&user_id(2), 1).await.expect("recs");
    assert_eq!(
        recs[0].reason,
        swiftbox_core::Reason::CoPurchased {
            because: vec![product_id(1)]
        },
        "{recs:?}"
    );
    assert_eq!(recs[0].product, product_id(2));
    g.wipe().await.expect("wipe");
}

/// A graph a newer version of the crate migrated is refused by `connect` and `migrate`, with
/// an error that says to upgrade, and its recorded version is left as it was.
#[tokio::test]
async fn a_graph_migrated_by_a_newer_version_is_refused_and_left_alone() {
    let Some(g) = graph("newer_schema").await else {
        return;
    };
    let (raw, ns) = buckets::raw(&g).await;
    let recorded = || async {
        let mut rows = raw
            .execute(neo4rs::query(&format!(
                "MATCH (m:`{ns}_SwiftboxSchema`) RETURN m.version AS v"
            )))
            .await
            .expect("read version");
        let row = rows.next().await.expect("row").expect("a version node");
        row.get::<i64>("v").expect("v")
    };
    let ours = recorded().await;
    raw.run(neo4rs::query(&format!(
        "MATCH (m:`{ns}_SwiftboxSchema`) SET m.version = {}",
        ours + 1
    )))
    .await
    .expect("record a newer version by hand");

    let server = swiftbox_testsupport::neo4j().await.expect("server");
    let config = Neo4jConfig::builder(&server.uri, &server.user, &server.password)
        .namespace(ns.as_str())
        .build()
        .expect("config");
    let err = Neo4jGraph::connect(&config)
        .await
        .expect_err("connect refuses a newer graph");
    assert!(!err.is_retryable(), "{err}");
    let source = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        source.contains("newer swiftbox-neo4j") && source.contains("upgrade"),
        "{err}: {source}"
    );

    let err = g
        .migrate()
        .await
        .expect_err("migrate refuses a newer graph");
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(
        recorded().await,
        ours + 1,
        "the newer version stays recorded"
    );

    // A migrate of this version that read the version before the newer one was recorded
    // ends with this write: it must not lower the version.
    let write = g
        .cypher_statements()
        .into_iter()
        .find(|(name, _)| *name == "migrate.version_write")
        .map(|(_, text)| text.to_owned())
        .expect("the version write");
    raw.run(neo4rs::query(&write).param("version", ours))
        .await
        .expect("an older version's write");
    assert_eq!(
        recorded().await,
        ours + 1,
        "an older write leaves the newer version"
    );

    raw.run(neo4rs::query(&format!(
        "MATCH (m:`{ns}_SwiftboxSchema`) SET m.version = {ours}"
    )))
    .await
    .expect("restore");
    g.wipe().await.expect("wipe");
}
