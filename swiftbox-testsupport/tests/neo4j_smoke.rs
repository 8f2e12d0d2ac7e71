//! Proves the Neo4j server the tests get is the real thing for what SwiftBox
//! needs: authentication, uniqueness constraints, MERGE and parameters.

use neo4rs::{query, ConfigBuilder, Error, Graph};
use swiftbox_testsupport::Neo4jServer;

async fn graph(server: &Neo4jServer) -> Graph {
    let config = ConfigBuilder::default()
        .uri(&server.uri)
        .user(&server.user)
        .password(&server.password)
        .max_connections(4)
        .build()
        .expect("neo4rs config");
    Graph::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connecting to {server:?}: {e}"))
}

async fn count(graph: &Graph, q: neo4rs::Query) -> i64 {
    let mut rows = graph.execute(q).await.expect("count query");
    let row = rows.next().await.expect("count row").expect("one row");
    row.get::<i64>("n").expect("n")
}

/// Authentication is on: the right password works, a wrong one is refused.
///
/// The wrong password is tried exactly once, through `start_txn` (which does
/// not retry): neo4rs 0.8's `run`/`execute` retry failed connections with
/// backoff for up to 60 s, and Neo4j locks a user out for a while after three
/// failed logins, which would break every other test running meanwhile.
#[tokio::test]
async fn authentication_is_enforced() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    let good = graph(&server).await;
    assert_eq!(count(&good, query("RETURN 1 AS n")).await, 1);

    let wrong = Neo4jServer::new(
        server.uri.clone(),
        server.user.clone(),
        format!("{}-wrong", server.password),
    );
    let bad = graph(&wrong).await;
    let err = bad
        .start_txn()
        .await
        .err()
        .expect("a wrong password must be refused");
    let text = err.to_string();
    assert!(
        matches!(err, Error::AuthenticationError(_))
            || text.contains("Unauthorized")
            || text.contains("authentication"),
        "unexpected error for a wrong password: {err:?}"
    );
}

#[tokio::test]
async fn uniqueness_constraint_refuses_duplicates() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    let ns = server.unique_namespace("uniqueness");
    let graph = graph(&server).await;
    // A label and constraint of this test's own: schema is database-wide.
    let label = format!("User_{ns}");
    let constraint = format!("{ns}_email");
    graph
        .run(query(&format!(
            "CREATE CONSTRAINT {constraint} IF NOT EXISTS FOR (u:{label}) REQUIRE u.email IS UNIQUE"
        )))
        .await
        .expect("create constraint");

    let create = format!("CREATE (:{label} {{email: $email, username: $username}})");
    graph
        .run(
            query(&create)
                .param("email", "ada@example.com")
                .param("username", "ada"),
        )
        .await
        .expect("first user");
    let err = graph
        .run(
            query(&create)
                .param("email", "ada@example.com")
                .param("username", "ada2"),
        )
        .await
        .expect_err("a duplicate email must be refused");
    match &err {
        Error::Neo4j(e) => assert_eq!(
            e.code(),
            "Neo.ClientError.Schema.ConstraintValidationFailed",
            "{err}"
        ),
        other => panic!("expected a constraint violation, got {other:?}"),
    }
    assert_eq!(
        count(
            &graph,
            query(&format!("MATCH (u:{label}) RETURN count(u) AS n"))
        )
        .await,
        1
    );

    graph
        .run(query(&format!("DROP CONSTRAINT {constraint} IF EXISTS")))
        .await
        .expect("drop constraint");
    graph
        .run(query(&format!("MATCH (u:{label}) DETACH DELETE u")))
        .await
        .expect("cleanup");
}

#[tokio::test]
async fn merge_is_idempotent_for_nodes_and_relationships() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    let ns = server.unique_namespace("merge");
    let graph = graph(&server).await;
    let user_id = format!("{ns}:user:1");
    let product_id = format!("{ns}:product:1");

    // The shape of a purchase as the sync applies it: keyed by order id and
    // item, so replaying the same change never doubles anything.
    let purchase = "MERGE (u:User {id: $user_id}) ON CREATE SET u.ns = $ns \
                    MERGE (p:Product {id: $product_id}) ON CREATE SET p.ns = $ns \
                    SET p.name = $name \
                    MERGE (u)-[r:PURCHASED {order_id: $order_id, item: $item}]->(p) \
                    SET r.quantity = $quantity";
    for (name, quantity) in [("Tea", 1_i64), ("Green tea", 2), ("Green tea", 2)] {
        graph
            .run(
                query(purchase)
                    .param("user_id", user_id.as_str())
                    .param("product_id", product_id.as_str())
                    .param("ns", ns.as_str())
                    .param("name", name)
                    .param("order_id", "order-1")
                    .param("item", 0_i64)
                    .param("quantity", quantity),
            )
            .await
            .expect("merge purchase");
    }

    let nodes = count(
        &graph,
        query("MATCH (n) WHERE n.ns = $ns RETURN count(n) AS n").param("ns", ns.as_str()),
    )
    .await;
    assert_eq!(nodes, 2);
    let mut rows = graph
        .execute(
            query("MATCH (:User {id: $u})-[r:PURCHASED]->(p:Product) RETURN count(r) AS n, max(r.quantity) AS q, max(p.name) AS name")
                .param("u", user_id.as_str()),
        )
        .await
        .expect("read purchase");
    let row = rows.next().await.expect("row").expect("one row");
    assert_eq!(row.get::<i64>("n").expect("n"), 1);
    assert_eq!(row.get::<i64>("q").expect("q"), 2);
    assert_eq!(row.get::<String>("name").expect("name"), "Green tea");

    graph
        .run(query("MATCH (n) WHERE n.ns = $ns DETACH DELETE n").param("ns", ns.as_str()))
        .await
        .expect("cleanup");
}

#[tokio::test]
async fn parameters_round_trip_and_bound_queries() {
    let Some(server) = swiftbox_testsupport::neo4j().await else {
        return;
    };
    let ns = server.unique_namespace("params");
    let graph = graph(&server).await;

    // Values come back as sent; a hostile string is data, never Cypher.
    let evil = "x'}) MATCH (n) DETACH DELETE n //";
    let mut rows = graph
        .execute(
            query("RETURN $s AS s, $i AS i, $b AS b, $list AS list, $evil AS evil")
                .param("s", "Grüße 東京")
                .param("i", i64::MAX)
                .param("b", true)
                .param("list", vec!["a".to_owned(), "b".to_owned()])
                .param("evil", evil),
        )
        .await
        .expect("echo parameters");
    let row = rows.next().await.expect("row").expect("one row");
    assert_eq!(row.get::<String>("s").expect("s"), "Grüße 東京");
    assert_eq!(row.get::<i64>("i").expect("i"), i64::MAX);
    assert!(row.get::<bool>("b").expect("b"));
    assert_eq!(
        row.get::<Vec<String>>("list").expect("list"),
        vec!["a", "b"]
    );
    assert_eq!(row.get::<String>("evil").expect("evil"), evil);

    // A bounded, parameterised read, as every graph query is.
    graph
        .run(
            query("UNWIND range(1, 10) AS i CREATE (:Product {id: $ns + ':' + toString(i), ns: $ns, price: i * 100})")
                .param("ns", ns.as_str()),
        )
        .await
        .expect("create products");
    let mut rows = graph
        .execute(
            query(
                "MATCH (p:Product) WHERE p.ns = $ns AND p.price >= $min \
                 RETURN p.price AS price ORDER BY p.price DESC LIMIT $limit",
            )
            .param("ns", ns.as_str())
            .param("min", 300_i64)
            .param("limit", 3_i64),
        )
        .await
        .expect("bounded query");
    let mut prices = Vec::new();
    while let Some(row) = rows.next().await.expect("row") {
        prices.push(row.get::<i64>("price").expect("price"));
    }
    assert_eq!(prices, vec![1000, 900, 800]);

    graph
        .run(query("MATCH (n) WHERE n.ns = $ns DETACH DELETE n").param("ns", ns.as_str()))
        .await
        .expect("cleanup");
}
