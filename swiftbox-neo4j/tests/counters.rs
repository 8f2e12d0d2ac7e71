//! The popularity counters apply keeps for each product (`purchases`, `units`, `buyers`, on an
//! internal `SwiftboxProductStats` node per product) and its trend buckets (per-hour exact
//! decay sums, `SwiftboxTrendBucket`): after every kind of change, and after concurrent applies
//! sharing products, they equal a recount from the relationships, and `popular` and
//! `trending` answer like `MemoryGraph`.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::buckets::{
    assert_bounds_hold, assert_buckets_exact, assert_trending_same, raw, stored_buckets,
};
use common::*;
use swiftbox_core::memory::MemoryGraph;
use swiftbox_core::{
    EntityKind, Error, GraphChange, GraphStore, PopularQuery, PopularityMetric, ScoredProduct,
    TrendingQuery,
};
use swiftbox_neo4j::Neo4jGraph;

/// Product id -> (purchases, units, buyers).
type Counters = BTreeMap<String, (Option<i64>, Option<i64>, Option<i64>)>;

async fn counters_by(g: &Neo4jGraph, cypher: &str) -> Counters {
    let (raw, ns) = raw(g).await;
    let q = cypher.replace("{ns}", &ns);
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("raw query");
    let mut out = Counters::new();
    while let Some(row) = rows.next().await.expect("row") {
        out.insert(
            row.get("id").expect("id"),
            (
                row.get("purchases").expect("purchases"),
                row.get("units").expect("units"),
                row.get("buyers").expect("buyers"),
            ),
        );
    }
    out
}

/// The counters as stored on the product nodes.
async fn stored(g: &Neo4jGraph) -> Counters {
    counters_by(
        g,
        "MATCH (p:`{ns}_Product`) OPTIONAL MATCH (s:`{ns}_SwiftboxProductStats` {id: p.id})
         RETURN p.id AS id, s.purchases AS purchases, s.units AS units, s.buyers AS buyers
         UNION ALL
         MATCH (s:`{ns}_SwiftboxProductStats`) WHERE NOT EXISTS { MATCH (:`{ns}_Product` {id: s.id}) }
         RETURN 'orphan ' + s.id AS id, s.purchases AS purchases, s.units AS units, s.buyers AS buyers",
    )
    .await
}

/// The counters recounted from the relationships.
async fn recounted(g: &Neo4jGraph) -> Counters {
    counters_by(
        g,
        "MATCH (p:`{ns}_Product`) OPTIONAL MATCH (p)<-[r:`{ns}_PURCHASED`]-(b)
         RETURN p.id AS id, count(r) AS purchases, sum(r.quantity) AS units, count(DISTINCT b) AS buyers",
    )
    .await
}

async fn assert_counters_exact(g: &Neo4jGraph, step: &str) {
    let stored = stored(g).await;
    assert!(!stored.is_empty(), "{step}: no products");
    assert_eq!(stored, recounted(g).await, "{step}");
    assert_buckets_exact(g, step).await;
}

/// `popular` of every metric, overall and in two categories, on both stores.
async fn assert_popular_same(g: &Neo4jGraph, mem: &MemoryGraph, step: &str) {
    for category in [None, Some("Books".to_owned()), Some("Music".to_owned())] {
        for metric in [
            PopularityMetric::Purchases,
            PopularityMetric::Units,
            PopularityMetric::Buyers,
        ] {
            for limit in [3, 50] {
                let q = PopularQuery {
                    category: category.clone(),
                    metric,
                    limit,
                };
                let a = g.popular(&q).await.expect("popular neo");
                let b = mem.popular(&q).await.expect("popular mem");
                assert_eq!(a, b, "{step}: popular({q:?})");
            }
        }
    }
}

/// Applies `changes` to both stores, expecting the same report, then checks the counters.
async fn step(g: &Neo4jGraph, mem: &MemoryGraph, changes: &[GraphChange], name: &str) {
    let a = g.apply(changes).await.expect("apply neo");
    let b = mem.apply(changes).await.expect("apply mem");
    assert_eq!(a, b, "{name}: reports");
    assert_counters_exact(g, name).await;
    assert_popular_same(g, mem, name).await;
    assert_trending_same(g, mem, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_every_change_apply_makes() {
    let Some(g) = graph("counters_every_change").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let data = dataset(11, 12, 10, 40);
    step(&g, &mem, &data.changes, "load").await;
    let t = now() - Duration::hours(2);

    // Updates that change items: a product dropped, one added, a quantity changed, the same
    // pair kept; one order moves to another user. Version 2 beats the dataset's 1.
    step(
        &g,
        &mem,
        &[
            up(order(0, 1, &[(0, 5), (9, 1)], t, 2)),
            up(order(1, 2, &[(1, 1)], t, 2)),
            up(order(2, 3, &[(0, 1), (1, 1), (2, 1), (3, 1)], t, 2)),
            // A new order of a user for a product the user already bought.
            up(order(100, 1, &[(0, 2)], t, 1)),
            // The same items at another time: the lines move to another hour's bucket.
            up(order(4, 4, &[(1, 1), (2, 3)], t - Duration::minutes(97), 2)),
            // Two lines of one product at two times of one hour.
            up(order(101, 2, &[(5, 1)], t + Duration::minutes(10), 1)),
            up(order(102, 3, &[(5, 2)], t + Duration::minutes(20), 1)),
        ],
        "updates",
    )
    .await;

    // Replays of older versions change nothing (stale).
    step(
        &g,
        &mem,
        &[
            up(order(0, 4, &[(5, 3)], t, 1)),
            up(order(1, 4, &[(6, 3)], t, 1)),
        ],
        "stale replay",
    )
    .await;

    // Order deletes, one of them replayed afterwards, and an upsert older than a delete.
    step(
        &g,
        &mem,
        &[
            del(EntityKind::Order, order_id(3), 5),
            del(EntityKind::Order, order_id(100), 2),
            // Lines before and after those already in product 5's bucket.
            up(order(103, 4, &[(5, 1)], t + Duration::minutes(30), 1)),
            up(order(104, 5, &[(5, 1)], t + Duration::minutes(5), 1)),
            // The largest quantity a line may have.
            up(order(105, 6, &[(6, 10_000)], t - Duration::days(1), 1)),
        ],
        "order deletes",
    )
    .await;
    step(
        &g,
        &mem,
        &[
            del(EntityKind::Order, order_id(3), 5),
            up(order(100, 1, &[(0, 2)], t, 1)),
            // Deletes of entities the graph never had: applied, each leaves a tombstone.
            del(EntityKind::Order, order_id(900), 1),
            del(EntityKind::Review, review_id(900), 1),
            del(EntityKind::User, user_id(900), 1),
            del(EntityKind::Product, product_id(900), 1),
        ],
        "tombstones",
    )
    .await;

    // A larger quantity is refused before anything is written (the buckets could not sum it
    // exactly).
    let before = (stored(&g).await, stored_buckets(&g).await);
    let huge = [
        up(order(106, 6, &[(6, 1)], t, 1)),
        up(order(107, 6, &[(7, 10_001)], t, 1)),
    ];
    let err = g.apply(&huge).await.expect_err("quantity beyond the bound");
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert_eq!((stored(&g).await, stored_buckets(&g).await), before);

    // A user delete drops that user's lines; an upsert of an order of that user, in the same
    // batch, is created then removed with the user.
    step(
        &g,
        &mem,
        &[
            up(order(200, 1, &[(4, 2), (0, 1)], t, 1)),
            del(EntityKind::User, user_id(1), 5),
        ],
        "user delete",
    )
    .await;

    // Deferral: an order for a product that does not exist yet changes nothing until it
    // applies, in a later batch once the product is there.
    let deferred = up(order(300, 2, &[(0, 1), (50, 4)], t, 1));
    step(&g, &mem, std::slice::from_ref(&deferred), "deferred").await;
    step(
        &g,
        &mem,
        &[up(product(50, 0, 1)), deferred.clone()],
        "deferral applied",
    )
    .await;

    // A product delete takes its counters; re-created, it starts from zero and counts again.
    step(
        &g,
        &mem,
        &[
            del(EntityKind::Product, product_id(0), 5),
            up(order(301, 3, &[(1, 1)], t, 1)),
        ],
        "product delete",
    )
    .await;
    step(
        &g,
        &mem,
        &[
            up(product(0, 0, 6)),
            up(order(302, 3, &[(0, 3), (1, 1)], t, 1)),
            up(order(303, 3, &[(0, 1)], t, 1)),
        ],
        "product re-created",
    )
    .await;
    let zero = stored(&g).await[&product_id(0).to_string()];
    assert_eq!(zero, (Some(2), Some(4), Some(1)), "re-created product");

    // The whole dataset replayed: orders of the deleted user are deferred, older versions
    // are stale, and orders whose lines went with the deleted product 0 come back.
    step(&g, &mem, &data.changes, "full replay").await;
    g.wipe().await.expect("wipe");
}

/// Orders of round `r` in batch `b`: users 0..4 and products 0..6, so the two batches share
/// products and (user, product) pairs; ids disjoint between batches.
fn racing_batch(rng: &mut Lcg, round: u128, batch: u128) -> Vec<GraphChange> {
    (0..40)
        .map(|k| {
            let n = 10_000 + round * 1_000 + batch * 100 + k;
            let u = rng.below(4) as u128;
            let mut items: Vec<(u128, i64)> = Vec::new();
            for _ in 0..(1 + rng.below(3)) {
                let p = rng.below(6) as u128;
                if !items.iter().any(|(q, _)| *q == p) {
                    items.push((p, 1 + rng.below(3) as i64));
                }
            }
            up(order(n, u, &items, now(), 1))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_sharing_products_keep_exact_counters() {
    let Some(g) = graph("counters_concurrent").await else {
        return;
    };
    let mut setup: Vec<GraphChange> = (0..CATEGORIES.len() as u128)
        .map(|c| up(category(c, 1)))
        .collect();
    setup.extend((0..4).map(|u| up(user(u, 1))));
    setup.extend((0..6).map(|p| up(product(p, p as usize % CATEGORIES.len(), 1))));
    // 60 other buyers of every product, and 60 other products of every racing user, make both
    // ends dense nodes (Neo4j's threshold is 50 relationships), to which concurrent
    // transactions add relationships without waiting for each other's node locks: only the
    // counter statement's own locking keeps `buyers` exact then.
    let all: Vec<(u128, i64)> = (0..6).map(|p| (p, 1)).collect();
    for u in 100..160 {
        setup.push(up(user(u, 1)));
        setup.push(up(order(u, u, &all, now(), 1)));
    }
    let others: Vec<(u128, i64)> = (100..160).map(|p| (p, 1)).collect();
    setup.extend((100..160).map(|p| up(product(p, 0, 1))));
    setup.extend((0..4).map(|u| up(order(200 + u, u, &others, now(), 1))));
    g.apply(&setup).await.expect("setup");

    let mut rng = Lcg::new(99);
    let mut previous: Vec<GraphChange> = Vec::new();
    for round in 0..6 {
        let a = racing_batch(&mut rng, round, 0);
        let mut b = racing_batch(&mut rng, round, 1);
        // From the second round on, one batch also deletes the orders of the previous round's
        // second batch (disjoint entities from both new batches).
        b.extend(previous.iter().map(|c| {
            let e = c.entity();
            del(e.kind, e.id, 2)
        }));
        previous = b
            .iter()
            .filter(|c| matches!(c, GraphChange::Upsert(_)))
            .cloned()
            .collect();
        tokio::join!(apply_retrying(&g, &a), apply_retrying(&g, &b));
        assert_counters_exact(&g, &format!("round {round}")).await;
    }
    g.wipe().await.expect("wipe");
}

/// `trending` at `t` over one day on both stores, at limits 1, 3, 20 and 100 (same products in
/// the same order, scores within 1e-12 relative), starting with `first` when given.
async fn assert_trending_limits(
    g: &Neo4jGraph,
    mem: &MemoryGraph,
    t: chrono::DateTime<chrono::Utc>,
    category: Option<&str>,
    first: Option<&[swiftbox_core::ProductId]>,
) {
    for limit in [1, 3, 20, 100] {
        let q = TrendingQuery {
            now: t,
            window: Duration::days(1),
            category: category.map(str::to_owned),
            ..TrendingQuery::new(limit)
        };
        let a = g.trending(&q).await.expect("trending neo");
        let b = mem.trending(&q).await.expect("trending mem");
        let ids = |v: &[ScoredProduct]| v.iter().map(|s| s.product).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "{category:?}, limit {limit}");
        if let Some(first) = first {
            let n = first.len().min(a.len());
            assert_eq!(ids(&a)[..n], first[..n], "{category:?}, limit {limit}");
        }
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x.score - y.score).abs() <= 1e-12 * y.score,
                "{category:?}, limit {limit}: {x:?} {y:?}"
            );
        }
    }
}

/// Trending reads products by trend bound, best first, until the bounds left cannot beat its
/// answer: here the best bounds belong to products whose purchases are mostly
/// older than the window (or were deleted), so the answer lies beyond the first candidates,
/// and no round's bound stops the search: limits 3, 20 and 100 run out of candidates in the
/// second or third round, limit 1 scores every product's buckets after the last round. (The
/// stop by bound in the first round is what the bench's queries take; every answer of theirs
/// is checked against the primary-only one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trending_finds_the_answer_beyond_loose_trend_bounds() {
    let Some(g) = graph("trending_loose_bounds").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let t = now();
    let mut setup: Vec<GraphChange> = vec![up(category(0, 1)), up(user(0, 1))];
    let (old, fresh) = (150u128, 5u128);
    setup.extend((0..old + fresh + 1).map(|p| up(product(p, 0, 1))));
    // Old products: 50 units three days ago (outside a one-day window) and one ten hours ago;
    // fresh ones 5 units an hour ago; the last product 100 units an hour ago, deleted below.
    for p in 0..old {
        setup.push(up(order(p, 0, &[(p, 50)], t - Duration::days(3), 1)));
        setup.push(up(order(
            1_000 + p,
            0,
            &[(p, 1)],
            t - Duration::hours(10),
            1,
        )));
    }
    for p in old..old + fresh {
        setup.push(up(order(
            p,
            0,
            &[(p, 5 + (p % 2) as i64)],
            t - Duration::hours(1),
            1,
        )));
    }
    setup.push(up(order(
        9_999,
        0,
        &[(old + fresh, 100)],
        t - Duration::hours(1),
        1,
    )));
    for store in [&g as &dyn GraphStore, &mem] {
        store.apply(&setup).await.expect("setup");
        let gone = [del(EntityKind::Order, order_id(9_999), 2)];
        assert_eq!(store.apply(&gone).await.expect("delete").applied, 1);
    }
    let fresh_first: Vec<_> = [151, 153, 150, 152, 154].map(product_id).to_vec();
    for category in [None, Some("Books")] {
        assert_trending_limits(&g, &mem, t, category, Some(&fresh_first)).await;
    }
    // The best fresh product and two old ones move to another category: each category's
    // candidates follow (the counter node's copy of the category).
    let moves = [
        up(category(1, 1)),
        up(product(151, 1, 2)),
        up(product(0, 1, 2)),
        up(product(7, 1, 2)),
    ];
    assert_eq!(g.apply(&moves).await.expect("move").applied, 4);
    assert_eq!(mem.apply(&moves).await.expect("move mem").applied, 4);
    for category in [None, Some("Books"), Some("Games")] {
        assert_trending_limits(&g, &mem, t, category, None).await;
    }
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn migrate_and_recount_rebuild_the_counters_from_the_relationships() {
    let Some(g) = graph("counters_migrate").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let data = dataset(5, 10, 8, 30);
    step(&g, &mem, &data.changes, "load").await;
    let (raw, ns) = raw(&g).await;

    // A graph from before the counters and trend buckets: migrate computes them.
    let strip = format!(
        "MATCH (s:`{ns}_SwiftboxProductStats`) DELETE s WITH count(*) AS _
         MATCH (b:`{ns}_SwiftboxTrendBucket`) DELETE b"
    );
    raw.run(neo4rs::query(&strip)).await.expect("strip");
    assert!(stored(&g).await.values().all(|c| c.0.is_none()));
    assert!(stored_buckets(&g).await.is_empty());
    g.migrate().await.expect("migrate");
    assert_counters_exact(&g, "after migrate").await;
    assert_popular_same(&g, &mem, "after migrate").await;
    assert_trending_same(&g, &mem, "after migrate").await;

    // A graph from before the trend buckets, where an apply of this version ran before
    // migrate (so one product has a bucket of that apply's lines only): migrate rebuilds
    // every product whose buckets are not marked complete.
    let unmark = format!(
        "MATCH (s:`{ns}_SwiftboxProductStats`) REMOVE s.trend WITH count(*) AS _
         MATCH (b:`{ns}_SwiftboxTrendBucket`) DELETE b"
    );
    raw.run(neo4rs::query(&unmark)).await.expect("unmark");
    let late = [up(order(500, 0, &[(0, 2), (3, 1)], now(), 1))];
    assert_eq!(g.apply(&late).await.expect("apply").applied, 1);
    assert_eq!(mem.apply(&late).await.expect("apply mem").applied, 1);
    assert_eq!(
        stored_buckets(&g).await.len(),
        2,
        "only the late lines' buckets"
    );
    g.migrate().await.expect("migrate again");
    assert_counters_exact(&g, "after a late migrate").await;
    assert_bounds_hold(&g, &stored_buckets(&g).await, true, "after a late migrate").await;
    assert_trending_same(&g, &mem, "after a late migrate").await;

    // A graph of schema version 5: complete buckets (`trend = 1`) and no trend bounds, where
    // an apply of this version then raised one product's bound by its own lines only.
    let v5 = format!("MATCH (s:`{ns}_SwiftboxProductStats`) SET s.trend = 1 REMOVE s.trend_bound");
    raw.run(neo4rs::query(&v5)).await.expect("version 5");
    let late = [up(order(501, 1, &[(0, 1)], now(), 1))];
    assert_eq!(g.apply(&late).await.expect("apply").applied, 1);
    assert_eq!(mem.apply(&late).await.expect("apply mem").applied, 1);
    g.migrate().await.expect("migrate a version 5 graph");
    assert_counters_exact(&g, "after migrating version 5").await;
    assert_bounds_hold(
        &g,
        &stored_buckets(&g).await,
        true,
        "after migrating version 5",
    )
    .await;
    assert_trending_same(&g, &mem, "after migrating version 5").await;

    // Relationships edited by hand: the counters are stale until recounted.
    let edit = format!("MATCH ()-[r:`{ns}_PURCHASED`]->(:`{ns}_Product` {{id: $p}}) DELETE r");
    raw.run(neo4rs::query(&edit).param("p", product_id(0).to_string()))
        .await
        .expect("edit");
    let orphan = format!("CREATE (:`{ns}_SwiftboxProductStats` {{id: 'gone', purchases: 1}})");
    raw.run(neo4rs::query(&orphan)).await.expect("orphan");
    assert_ne!(
        stored(&g).await,
        recounted(&g).await,
        "the edit changed counts"
    );
    let bucket = format!(
        "MATCH (b:`{ns}_SwiftboxTrendBucket`) WITH b LIMIT 1 SET b.hi = b.hi + 1, b.lines = 99"
    );
    raw.run(neo4rs::query(&bucket)).await.expect("bucket edit");
    let orphan = format!(
        "CREATE (:`{ns}_SwiftboxTrendBucket` {{product: 'gone', hour: 1, hi: 1, lo: 1, lines: 1, v: 67108865.0}})"
    );
    raw.run(neo4rs::query(&orphan))
        .await
        .expect("orphan bucket");
    g.recount_product_stats().await.expect("recount");
    assert_counters_exact(&g, "after recount").await;

    // A bought product deleted by hand leaves its counter node behind: popular skips it, and
    // the product upserted again (as repair does) starts from zero.
    let gone = format!("MATCH (p:`{ns}_Product` {{id: $p}}) DETACH DELETE p");
    raw.run(neo4rs::query(&gone).param("p", product_id(1).to_string()))
        .await
        .expect("delete by hand");
    let q = PopularQuery {
        category: None,
        metric: PopularityMetric::Buyers,
        limit: 5,
    };
    let top = g.popular(&q).await.expect("popular");
    let bought = recounted(&g)
        .await
        .values()
        .filter(|c| c.2 > Some(0))
        .count();
    assert!(bought >= 2, "{bought}");
    assert_eq!(top.len(), bought.min(5), "{top:?}");
    assert!(top.iter().all(|s| s.product != product_id(1)), "{top:?}");
    g.apply(&[up(product(1, 1, 2))])
        .await
        .expect("upsert again");
    assert_counters_exact(&g, "re-created after a delete by hand").await;
    g.wipe().await.expect("wipe");
}
