//! The recent-buyer lists apply keeps on each product's counter node (`recent`: its latest
//! 100 buyers by latest purchase, then id, as `key:user` strings): after every kind of change,
//! past the list's length, and after concurrent applies, they equal a recomputation from the
//! relationships, and the queries that read them answer like `MemoryGraph`.

mod common;

use chrono::Duration;
use common::bought::{assert_bought_exact, bought_stored};
use common::buckets::raw;
use common::*;
use swiftbox_core::memory::MemoryGraph;
use swiftbox_core::{EntityKind, GraphChange, GraphLimits, GraphStore};
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

/// Product id -> its list's entries, `None` for a counter node without a list.
type Lists = Vec<(String, Option<Vec<String>>)>;

/// The lists as stored, by product id.
async fn stored(g: &Neo4jGraph) -> Lists {
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH (p:`{ns}_Product`) OPTIONAL MATCH (s:`{ns}_SwiftboxProductStats` {{id: p.id}})
         RETURN p.id AS id, s.recent AS entries ORDER BY id"
    );
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("raw query");
    let mut out = Lists::new();
    while let Some(row) = rows.next().await.expect("row") {
        out.push((
            row.get("id").expect("id"),
            row.get("entries").expect("entries"),
        ));
    }
    out
}

/// The lists recomputed from the relationships: each product's latest 100 buyers, ranked and
/// keyed here in Rust (the key as documented: `i64::MAX - (ts + 2^62)`, 19 digits).
async fn recomputed(g: &Neo4jGraph) -> Lists {
    let (raw, ns) = raw(g).await;
    let q = format!(
        "MATCH (p:`{ns}_Product`)
         CALL {{
           WITH p
           OPTIONAL MATCH (p)<-[r:`{ns}_PURCHASED`]-(x)
           WITH x.id AS u, max(r.timestamp) AS t WHERE u IS NOT NULL
           ORDER BY t DESC, u ASC LIMIT 100
           RETURN collect(u) AS ids, collect(t) AS lasts
         }}
         RETURN p.id AS id, ids, lasts ORDER BY id"
    );
    let mut rows = raw.execute(neo4rs::query(&q)).await.expect("raw query");
    let mut out = Lists::new();
    while let Some(row) = rows.next().await.expect("row") {
        let ids: Vec<String> = row.get("ids").expect("ids");
        let lasts: Vec<i64> = row.get("lasts").expect("lasts");
        let entries = ids
            .iter()
            .zip(&lasts)
            .map(|(u, t)| format!("{:019}:{u}", i64::MAX - (t + (1 << 62))))
            .collect();
        out.push((row.get("id").expect("id"), Some(entries)));
    }
    out
}

async fn assert_lists_exact(g: &Neo4jGraph, step: &str) {
    let stored = stored(g).await;
    assert!(!stored.is_empty(), "{step}: no products");
    assert_eq!(stored, recomputed(g).await, "{step}");
    assert_bought_exact(g, step).await;
}

/// Applies `changes` to both stores, expecting the same report, then checks the lists and the
/// answers of the queries that read them.
async fn step(g: &Neo4jGraph, mem: &MemoryGraph, changes: &[GraphChange], name: &str) {
    let a = g.apply(changes).await.expect("apply neo");
    let b = mem.apply(changes).await.expect("apply mem");
    assert_eq!(a, b, "{name}: reports");
    assert_lists_exact(g, name).await;
    same_answers(g, mem, name).await;
}

/// Every query of `g` against `mem` (common `assert_same_answers`): a sample of users, every
/// product.
async fn same_answers(g: &dyn GraphStore, mem: &MemoryGraph, name: &str) {
    println!("{name}: comparing answers");
    let users: Vec<_> = (0..USERS)
        .step_by(17)
        .chain([1, 2, 3])
        .map(user_id)
        .collect();
    let products: Vec<_> = (0..PRODUCTS).map(product_id).collect();
    assert_same_answers(g, mem, &users, &products).await;
}

const USERS: u128 = 160;
const PRODUCTS: u128 = 6;

/// Every user buys product 0 (and one other) once, user `u` at `base + u` minutes, so the
/// newest 100 buyers of product 0 are users 60..160 and 0..60 are not listed; users 10 and 11
/// share a time (the tie goes to the smaller id).
fn shop(base: chrono::DateTime<chrono::Utc>) -> Vec<GraphChange> {
    let mut changes: Vec<GraphChange> = (0..CATEGORIES.len() as u128)
        .map(|c| up(category(c, 1)))
        .collect();
    changes.extend((0..PRODUCTS).map(|p| up(product(p, p as usize % CATEGORIES.len(), 1))));
    for u in 0..USERS {
        changes.push(up(user(u, 1)));
        let minute = if u == 11 { 10 } else { u as i64 };
        let other = 1 + (u % (PRODUCTS - 1));
        changes.push(up(order(
            u,
            u,
            &[(0, 1), (other, 1)],
            base + Duration::minutes(minute),
            1,
        )));
    }
    changes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_buyer_lists_follow_every_change_past_their_length() {
    let Some(g) = graph("recent_every_change").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let base = now() - Duration::days(3);
    step(&g, &mem, &shop(base), "load").await;
    let at = |minute: i64| base + Duration::minutes(minute);

    // An unlisted user buys again, later than everyone: enters the list, user 60 leaves it.
    step(
        &g,
        &mem,
        &[up(order(1000, 5, &[(0, 2)], at(500), 1))],
        "unlisted user buys again",
    )
    .await;
    // An unlisted user's order moves later (new version, later time): enters the list. A
    // listed user's order moves earlier: its latest purchase drops, the list is read again.
    step(
        &g,
        &mem,
        &[
            up(order(7, 7, &[(0, 1), (3, 1)], at(400), 2)),
            up(order(150, 150, &[(0, 1), (1, 1)], at(-5), 2)),
        ],
        "orders move in time",
    )
    .await;
    // An order replaced with the same lines and time (a status change): nothing moves.
    step(
        &g,
        &mem,
        &[up(order(120, 120, &[(0, 1), (1, 1)], at(120), 2))],
        "same lines again",
    )
    .await;
    // Deletes: a listed user's only order of product 0, an unlisted user's order, a listed
    // user (all lines), and a replayed older version (stale).
    step(
        &g,
        &mem,
        &[
            del(EntityKind::Order, order_id(159), 2),
            del(EntityKind::Order, order_id(3), 2),
            del(EntityKind::User, user_id(158), 2),
            up(order(7, 7, &[(2, 1)], at(1), 1)),
        ],
        "deletes",
    )
    .await;
    // A listed user's order loses product 0 but keeps another: leaves product 0's list only.
    step(
        &g,
        &mem,
        &[up(order(140, 140, &[(2, 1)], at(140), 3))],
        "a line dropped from an order",
    )
    .await;
    // A product deleted and created again starts with an empty list, then fills.
    step(
        &g,
        &mem,
        &[del(EntityKind::Product, product_id(4), 2)],
        "product delete",
    )
    .await;
    step(
        &g,
        &mem,
        &[
            up(product(4, 0, 3)),
            up(order(2000, 9, &[(4, 1)], at(600), 1)),
            up(order(2001, 10, &[(4, 1)], at(600), 1)),
        ],
        "product re-created",
    )
    .await;
    // One batch buys product 4 (user 9, who holds a line to it from order 2000, twice, and
    // user 12, new to it) and then deletes it: the upserts run first, the delete takes every
    // line, and the product leaves both users' bought sets.
    step(
        &g,
        &mem,
        &[
            up(order(2002, 9, &[(4, 1), (2, 1)], at(601), 1)),
            up(order(2003, 12, &[(4, 1)], at(601), 1)),
            up(order(2004, 9, &[(4, 1)], at(602), 1)),
            del(EntityKind::Product, product_id(4), 3),
        ],
        "lines added and their product deleted in one batch",
    )
    .await;
    // Everything again, older versions: stale, nothing moves.
    step(&g, &mem, &shop(base), "full replay").await;
    g.wipe().await.expect("wipe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_keep_the_lists_exact() {
    let Some(g) = graph("recent_concurrent").await else {
        return;
    };
    let base = now() - Duration::days(2);
    g.apply(&shop(base)).await.expect("setup");
    let mut rng = Lcg::new(7);
    for round in 0..5u128 {
        let batch = |k: u128, rng: &mut Lcg| -> Vec<GraphChange> {
            (0..30)
                .map(|i| {
                    let n = 10_000 + round * 1_000 + k * 100 + i;
                    let u = rng.below(USERS as u64) as u128;
                    let minutes = rng.below(400) as i64;
                    up(order(
                        n,
                        u,
                        &[(0, 1), (1 + k, 1)],
                        base + Duration::minutes(minutes),
                        1,
                    ))
                })
                .collect()
        };
        let mut a = batch(0, &mut rng);
        let b = batch(1, &mut rng);
        // Each round also deletes a few of the shop's orders (listed and unlisted buyers).
        a.extend((0..4).map(|i| del(EntityKind::Order, order_id(round * 30 + i * 7), 2)));
        tokio::join!(apply_retrying(&g, &a), apply_retrying(&g, &b));
        assert_lists_exact(&g, &format!("round {round}")).await;
    }
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn migrate_backfills_the_lists_and_a_larger_cap_reads_the_relationships() {
    let Some(g) = graph("recent_migrate").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let base = now() - Duration::days(1);
    let mut all = shop(base);
    step(&g, &mem, &all, "load").await;
    let (raw, ns) = raw(&g).await;

    // A graph from before the lists and the bought sets: the queries read the relationships,
    // and answer the same.
    let strip = format!("MATCH (s:`{ns}_SwiftboxProductStats`) REMOVE s.recent");
    raw.run(neo4rs::query(&strip)).await.expect("strip");
    let strip = format!("MATCH (u:`{ns}_User`) REMOVE u.bought");
    raw.run(neo4rs::query(&strip)).await.expect("strip sets");
    assert!(stored(&g)
        .await
        .iter()
        .all(|(_, entries)| entries.is_none()));
    assert!(bought_stored(&g).await.iter().all(|(_, b)| b.is_none()));
    same_answers(&g, &mem, "without lists").await;
    // Apply leaves a missing list missing (a merge into it would be wrong).
    let later = [up(order(1000, 5, &[(0, 2)], base + Duration::hours(9), 1))];
    g.apply(&later).await.expect("apply neo");
    mem.apply(&later).await.expect("apply mem");
    all.extend(later);
    assert!(stored(&g)
        .await
        .iter()
        .all(|(_, entries)| entries.is_none()));
    // A bought set, though, is read from the relationships by the first apply that needs it.
    let sets: Vec<_> = bought_stored(&g)
        .await
        .into_iter()
        .filter(|(_, b)| b.is_some())
        .collect();
    assert_eq!(
        sets,
        [(
            user_id(5).to_string(),
            Some(vec![product_id(0).to_string(), product_id(1).to_string()])
        )],
    );
    same_answers(&g, &mem, "apply without lists").await;
    g.migrate().await.expect("migrate");
    assert_lists_exact(&g, "after migrate").await;
    same_answers(&g, &mem, "after migrate").await;

    // Relationships removed by hand: the lists are stale until recounted.
    let edit = format!("MATCH (:`{ns}_User` {{id: $u}})-[r:`{ns}_PURCHASED`]->() DELETE r");
    raw.run(neo4rs::query(&edit).param("u", user_id(159).to_string()))
        .await
        .expect("edit");
    assert_ne!(
        stored(&g).await,
        recomputed(&g).await,
        "the edit changed lists"
    );
    assert_ne!(
        bought_stored(&g).await,
        common::bought::bought_recomputed(&g).await,
        "the edit changed a bought set"
    );
    g.recount_product_stats().await.expect("recount");
    assert_lists_exact(&g, "after recount").await;

    // A cap larger than the lists: read from the relationships, same answers as the memory
    // graph with the same cap.
    let limits = GraphLimits {
        buyers_per_product: 130,
        ..GraphLimits::default()
    };
    let config = Neo4jConfig::from_env()
        .expect("env")
        .namespace(g.config().namespace().expect("namespace"))
        .limits(limits)
        .build()
        .expect("config");
    let wide = Neo4jGraph::connect(&config).await.expect("connect");
    // Both graphs without the user whose lines the edit removed.
    let gone = del(EntityKind::User, user_id(159), 5);
    g.apply(std::slice::from_ref(&gone))
        .await
        .expect("user delete");
    all.push(gone);
    let mem_wide = MemoryGraph::with_limits(limits);
    mem_wide.apply(&all).await.expect("copy");
    same_answers(&wide, &mem_wide, "cap 130").await;
    let narrow = g.also_bought(&product_id(0), 1).await.expect("also");
    let top = wide.also_bought(&product_id(0), 1).await.expect("also");
    assert!(
        top[0].score > narrow[0].score,
        "the wider cap reaches more buyers: {top:?} vs {narrow:?}"
    );
    g.wipe().await.expect("wipe");
}
