//! Checks of the users' bought sets apply keeps (`bought` on each `User` node): equal to
//! each user's distinct products read from the `PURCHASED` relationships.

use swiftbox_neo4j::Neo4jGraph;

use super::buckets::raw;

/// User id -> its products, sorted: as stored in the bought sets (`None` for a user without
/// one), or (`recomputed`) read from the relationships.
pub type Bought = Vec<(String, Option<Vec<String>>)>;

/// Every user's bought set as stored.
pub async fn bought_stored(g: &Neo4jGraph) -> Bought {
    let (raw, ns) = raw(g).await;
    let q = format!("MATCH (u:`{ns}_User`) RETURN u.id AS id, u.bought AS bought ORDER BY id");
    bought_rows(&raw, &q).await
}

pub async fn bought_recomputed(g: &Neo4jGraph) -> Bought {
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH (u:`{ns}_User`)
         RETURN u.id AS id, COLLECT {{ MATCH (u)-[:`{ns}_PURCHASED`]->(p) RETURN DISTINCT p.id }} AS bought
         ORDER BY id"
    );
    bought_rows(&raw, &q).await
}

async fn bought_rows(raw: &neo4rs::Graph, q: &str) -> Bought {
    let mut rows = raw.execute(neo4rs::query(q)).await.expect("raw query");
    let mut out = Bought::new();
    while let Some(row) = rows.next().await.expect("row") {
        let bought: Option<Vec<String>> = row.get("bought").expect("bought");
        out.push((
            row.get("id").expect("id"),
            bought.map(|mut b| {
                b.sort();
                b
            }),
        ));
    }
    out
}

/// Every user's bought set equals its distinct products (a user who never bought anything
/// may have none).
pub async fn assert_bought_exact(g: &Neo4jGraph, step: &str) {
    let stored: Bought = bought_stored(g)
        .await
        .into_iter()
        .map(|(id, b)| (id, Some(b.unwrap_or_default())))
        .collect();
    assert!(!stored.is_empty(), "{step}: no users");
    assert_eq!(stored, bought_recomputed(g).await, "{step}: bought sets");
}
