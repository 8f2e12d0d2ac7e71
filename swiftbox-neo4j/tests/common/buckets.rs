//! Checks of the trend buckets apply keeps (`SwiftboxTrendBucket` nodes): equal to a
//! recomputation from the `PURCHASED` relationships, and `trending` answering like
//! `MemoryGraph` on windows that cut edge buckets, another half-life and a category.

use std::collections::BTreeMap;

use chrono::Duration;
use swiftbox_core::graph::trend;
use swiftbox_core::memory::MemoryGraph;
use swiftbox_core::{GraphStore, TrendingQuery};
use swiftbox_neo4j::Neo4jGraph;

use super::{now, CATEGORIES};

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
/// float value bit for bit the memory graph's (`i128 as f64` of the exact sum); and that
/// every product's trend bound holds ([`assert_bounds_hold`]).
pub async fn assert_buckets_exact(g: &Neo4jGraph, step: &str) {
    let stored = stored_buckets(g).await;
    let (want, _) = recomputed_buckets(g).await;
    assert_eq!(stored, want, "{step}: buckets");
    assert_bounds_hold(g, &want, false, step).await;
}

/// Product id -> the trend bound stored on its counter node.
pub async fn stored_bounds(g: &Neo4jGraph) -> BTreeMap<String, Option<f64>> {
    let (raw, ns) = raw(g).await;
    let q = format!("MATCH (s:`{ns}_SwiftboxProductStats`) RETURN s.id AS id, s.trend_bound AS b");
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("bounds");
    let mut out = BTreeMap::new();
    while let Some(row) = rows.next().await.expect("row") {
        out.insert(row.get("id").expect("id"), row.get("b").expect("b"));
    }
    out
}

/// Asserts every counter node holds its product's category, and every product with buckets
/// has a trend bound at or above `ln K`, `K` the sum over
/// its buckets of `v / 2^52 * 2^(hour / 24)` (computed here from `buckets` in `f64`, with 1e-10
/// of room for its own rounding, a tenth of the slack every stored bound has); with `tight`,
/// also at most 1e-8 above it, a relative 1e-8 on `K` (what a rebuild writes).
pub async fn assert_bounds_hold(g: &Neo4jGraph, buckets: &Buckets, tight: bool, step: &str) {
    let mut terms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((product, hour), (hi, lo, _, _)) in buckets {
        let v = trend::join(*hi, *lo) as f64;
        if v > 0.0 {
            let halves = *hour as f64 / 24.0;
            let ln = v.ln() + (halves - 52.0) * std::f64::consts::LN_2;
            terms.entry(product).or_default().push(ln);
        }
    }
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH (p:`{ns}_Product`) MATCH (s:`{ns}_SwiftboxProductStats` {{id: p.id}})
         WHERE s.category IS NULL OR s.category <> p.category RETURN p.id AS id"
    );
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("categories");
    let wrong = rows
        .next()
        .await
        .expect("row")
        .map(|r| r.get::<String>("id"));
    assert!(
        wrong.is_none(),
        "{step}: a counter node's category is not its product's: {wrong:?}"
    );
    let bounds = stored_bounds(g).await;
    for (product, t) in terms {
        let top = t.iter().copied().fold(f64::MIN, f64::max);
        let exact = top + t.iter().map(|x| (x - top).exp()).sum::<f64>().ln();
        let stored = bounds.get(product).copied().flatten();
        let Some(stored) = stored else {
            panic!("{step}: product {product} has buckets but no trend bound");
        };
        assert!(
            stored >= exact - 1e-10,
            "{step}: product {product}'s trend bound {stored} is below ln K = {exact}"
        );
        if tight {
            assert!(
                stored <= exact + 1e-8,
                "{step}: product {product}'s trend bound {stored} is loose (ln K = {exact})"
            );
        }
    }
}

/// `trending` on both stores: default half-life at `now` values whose windows cut the first
/// or the last hour (or neither), a 1 h half-life, a short window and a category. Same
/// products in the same order, scores within 1e-12 relative.
///
/// When a bucket holds lines at two times, also windows that end or start between them (so
/// that bucket is cut and read line by line), overall and in a category other than its
/// product's (whose cut lines must not count); and windows starting on an hour's first
/// millisecond (the first hour from buckets).
pub async fn assert_trending_same(g: &Neo4jGraph, mem: &MemoryGraph, step: &str) {
    let base = now();
    let mut cases = vec![
        (base, Duration::hours(24), Duration::days(7), None),
        (
            base + Duration::milliseconds(1_043_456),
            Duration::hours(24),
            Duration::days(7),
            None,
        ),
        (
            base - Duration::days(3) + Duration::milliseconds(1_234),
            Duration::hours(24),
            Duration::days(2),
            None,
        ),
        (
            base - Duration::milliseconds(2_345_678),
            Duration::hours(24),
            Duration::hours(30),
            Some("Books"),
        ),
        (
            base - Duration::hours(5),
            Duration::hours(24),
            Duration::minutes(50),
            None,
        ),
        (base, Duration::hours(1), Duration::days(2), None),
        (
            base + Duration::milliseconds(777),
            Duration::hours(1),
            Duration::days(3),
            Some("Music"),
        ),
    ];
    let (buckets, bounds) = recomputed_buckets(g).await;
    let busy = bounds
        .into_iter()
        .filter(|(_, (first, last))| first < last)
        .max_by_key(|(k, _)| buckets[k].2);
    if let Some(((product, _), (first, last))) = busy {
        let (raw, ns) = raw(g).await;
        let q = format!("MATCH (p:`{ns}_Product` {{id: $id}}) RETURN p.category AS c");
        let mut rows = raw
            .execute(neo4rs::query(&q).param("id", product))
            .await
            .expect("category");
        let row = rows.next().await.expect("row").expect("product");
        let own: String = row.get("c").expect("c");
        let other = CATEGORIES.iter().find(|c| **c != own).copied();
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).expect("time");
        let (mid, two) = (first + (last - first) / 2, Duration::days(2));
        for category in [None, other] {
            cases.push((at(mid), Duration::hours(24), two, category));
            cases.push((at(first + 1) + two, Duration::hours(24), two, category));
        }
    }
    for hours in [1, 30] {
        cases.push((base, Duration::hours(24), Duration::hours(hours), None));
    }
    // Small limits, where whole-shop trending stops reading candidates early (the `trending`
    // module): windows that leave out purchases (bounds above the scores) and all of them.
    let limits = |half_life: Duration| -> &'static [usize] {
        if half_life == Duration::hours(24) {
            &[1, 3, 100]
        } else {
            &[100]
        }
    };
    let cases = cases
        .into_iter()
        .flat_map(|(at, half_life, window, category)| {
            limits(half_life)
                .iter()
                .map(move |limit| (at, half_life, window, category, *limit))
        });
    for (at, half_life, window, category, limit) in cases {
        let q = TrendingQuery {
            category: category.map(str::to_owned),
            now: at,
            half_life,
            window,
            limit,
        };
        let a = g.trending(&q).await.expect("trending neo");
        let b = mem.trending(&q).await.expect("trending mem");
        let ids = |v: &[swiftbox_core::ScoredProduct]| -> Vec<_> {
            v.iter().map(|s| (s.product, s.name.clone())).collect()
        };
        assert_eq!(ids(&a), ids(&b), "{step}: trending({q:?})");
        for (x, y) in a.iter().zip(&b) {
            let close = (x.score - y.score).abs() <= 1e-12 * x.score.abs().max(y.score.abs());
            assert!(
                close,
                "{step}: trending({q:?}) {}: {} vs {}",
                x.product, x.score, y.score
            );
        }
    }
}
