//! Checks of the trend buckets apply keeps (`SwiftboxTrendBucket` nodes): equal to a
//! recomputation from the `PURCHASED` relationships.

use std::collections::BTreeMap;

use swiftbox_core::graph::trend;
use swiftbox_neo4j::Neo4jGraph;

/// (product, hour) -> (hi, lo, lines, v bits).
pub type Buckets = BTreeMap<(String, i64), (i64, i64, i64, u64)>;

/// (product, hour) -> (first, last) line times.
type Bounds = BTreeMap<(String, i64), (i64, i64)>;

/// A raw driver on the test server, and the namespace of `g`.
pub async fn raw(g: &Neo4jGraph) -> (neo4rs::Graph, String) {
    let server = swiftbox_testsupport::neo4j().await.expect("server");
    let ns = g.config().namespace().expect("namespace").to_owned();
    let raw = neo4rs::Graph::new(&server.uri, &server.user, &server.password)
        .await
        .expect("raw connect");
    (raw, ns)
}

/// The buckets as stored.
pub async fn stored_buckets(g: &Neo4jGraph) -> Buckets {
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH (b:`{ns}_SwiftboxTrendBucket`)
         RETURN b.product AS p, b.hour AS h, b.hi AS hi, b.lo AS lo, b.lines AS n, b.v AS v"
    );
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("buckets");
    let mut out = Buckets::new();
    while let Some(row) = rows.next().await.expect("row") {
        let key = (row.get("p").expect("p"), row.get("h").expect("h"));
        let value = (
            row.get("hi").expect("hi"),
            row.get("lo").expect("lo"),
            row.get("n").expect("n"),
            row.get::<f64>("v").expect("v").to_bits(),
        );
        assert!(out.insert(key, value).is_none(), "two buckets for one hour");
    }
    out
}

/// The buckets recomputed from the relationships, and their lines' first and last times.
pub async fn recomputed_buckets(g: &Neo4jGraph) -> (Buckets, Bounds) {
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH ()-[r:`{ns}_PURCHASED`]->(p:`{ns}_Product`)
         RETURN p.id AS p, r.timestamp AS t, r.quantity AS q"
    );
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("lines");
    let mut sums: BTreeMap<(String, i64), (i64, i64, i64)> = BTreeMap::new();
    let mut bounds = Bounds::new();
    while let Some(row) = rows.next().await.expect("row") {
        let p: String = row.get("p").expect("p");
        let t: i64 = row.get("t").expect("t");
        let q: i64 = row.get("q").expect("q");
        let hour = trend::bucket_of_ms(t);
        let (m_hi, m_lo) = trend::split(trend::mantissa(trend::bucket_start_ms(hour), t));
        let b = sums.entry((p.clone(), hour)).or_default();
        b.0 += q * m_hi;
        b.1 += q * m_lo;
        b.2 += 1;
        let r = bounds.entry((p, hour)).or_insert((t, t));
        *r = (r.0.min(t), r.1.max(t));
    }
    let buckets = sums
        .into_iter()
        .map(|(k, (hi, lo, n))| {
            // The exact sum's f64, as the memory graph computes it.
            let v = trend::join(hi, lo) as f64;
            (k, (hi, lo, n, v.to_bits()))
        })
        .collect();
    (buckets, bounds)
}

/// Asserts the stored buckets are exactly the recomputed ones: sums, line counts, and the
/// float value bit for bit the memory graph's (`i128 as f64` of the exact sum).
pub async fn assert_buckets_exact(g: &Neo4jGraph, step: &str) {
    let stored = stored_buckets(g).await;
    let (want, _) = recomputed_buckets(g).await;
    assert_eq!(stored, want, "{step}: buckets");
}
