//! Shared helpers of the server tests: a fresh namespaced graph per test, a deterministic shop
//! dataset, and a comparison of every query against `MemoryGraph`.
#![allow(dead_code, unreachable_pub)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use swiftbox_core::graph::{
    CategoryNode, OrderPurchases, ProductNode, PurchasedItem, ReviewEdge, UserNode,
};
use swiftbox_core::{
    CategoryId, Currency, EntityKind, GraphChange, GraphRecord, GraphStore, Money, OrderId,
    PopularQuery, PopularityMetric, ProductId, ReviewId, ScoredProduct, TrendingQuery, UserId,
};
use swiftbox_neo4j::{Neo4jConfig, Neo4jGraph};

pub mod bolt;
pub mod bought;
pub mod buckets;
pub mod list_params;

/// A graph in a namespace of its own (migrated by `connect`), or `None` when the test is
/// skipped (said loudly by `swiftbox_testsupport`; in CI a missing server fails instead).
pub async fn graph(test: &str) -> Option<Neo4jGraph> {
    let server = swiftbox_testsupport::neo4j().await?;
    let config = Neo4jConfig::builder(&server.uri, &server.user, &server.password)
        .namespace(server.unique_namespace(test))
        .build()
        .expect("valid test config");
    let graph = Neo4jGraph::connect(&config)
        .await
        .expect("connect to neo4j");
    Some(graph)
}

/// The fixed "now" of the dataset.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

/// A tiny deterministic generator (64-bit LCG).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn user_id(n: u128) -> UserId {
    UserId::from_u128(0x1000_0000 + n)
}
pub fn product_id(n: u128) -> ProductId {
    ProductId::from_u128(0x2000_0000 + n)
}
pub fn category_id(n: u128) -> CategoryId {
    CategoryId::from_u128(0x3000_0000 + n)
}
pub fn order_id(n: u128) -> OrderId {
    OrderId::from_u128(0x4000_0000 + n)
}
pub fn review_id(n: u128) -> ReviewId {
    ReviewId::from_u128(0x5000_0000 + n)
}

pub const CATEGORIES: [&str; 4] = ["Books", "Games", "Music", "Garden"];

pub fn user(n: u128, version: u64) -> GraphRecord {
    GraphRecord::User(UserNode {
        id: user_id(n),
        username: format!("user{n}"),
        email: format!("user{n}@example.com"),
        version,
    })
}

pub fn category(n: u128, version: u64) -> GraphRecord {
    GraphRecord::Category(CategoryNode {
        id: category_id(n),
        name: CATEGORIES[n as usize % CATEGORIES.len()].to_owned(),
        version,
    })
}

pub fn product(n: u128, cat: usize, version: u64) -> GraphRecord {
    GraphRecord::Product(ProductNode {
        id: product_id(n),
        name: format!("product {n} v{version}"),
        category: CATEGORIES[cat].to_owned(),
        price: Money::new(100 + (n as i64) * 37, Currency::USD),
        version,
    })
}

pub fn order(
    n: u128,
    user: u128,
    products: &[(u128, i64)],
    at: DateTime<Utc>,
    version: u64,
) -> GraphRecord {
    let mut items: Vec<PurchasedItem> = products
        .iter()
        .map(|&(p, q)| PurchasedItem {
            product: product_id(p),
            quantity: q,
            unit_price: Money::new(100 + (p as i64) * 37, Currency::USD),
        })
        .collect();
    items.sort_by_key(|i| i.product);
    GraphRecord::Order(OrderPurchases {
        order_id: order_id(n),
        user: user_id(user),
        placed_at: at,
        items,
        version,
    })
}

pub fn review(n: u128, user: u128, product: u128, rating: u8, version: u64) -> GraphRecord {
    GraphRecord::Review(ReviewEdge {
        id: review_id(n),
        user: user_id(user),
        product: product_id(product),
        rating,
        version,
    })
}

pub fn up(r: GraphRecord) -> GraphChange {
    GraphChange::Upsert(r)
}

pub fn del(kind: EntityKind, id: impl ToString, version: u64) -> GraphChange {
    GraphChange::Delete {
        entity: swiftbox_core::EntityRef::new(kind, id.to_string()),
        version,
    }
}

/// Applies a batch that defers nothing, retrying a retryable failure (a deadlock between
/// concurrent transactions) as the reconciler does.
pub async fn apply_retrying(g: &Neo4jGraph, changes: &[GraphChange]) {
    for attempt in 0.. {
        match g.apply(changes).await {
            Ok(report) => {
                assert!(report.deferred.is_empty(), "{report:?}");
                return;
            }
            Err(e) if e.is_retryable() && attempt < 20 => {
                println!("retrying a batch after: {e}");
                continue;
            }
            Err(e) => panic!("apply: {e}"),
        }
    }
}

/// A shop: 4 categories, `users` users (the last fifth never buy), `products` products,
/// `orders` orders of 1..=4 distinct products over the 10 days before [`now`], some reviews,
/// and views (returned separately: they go through `record_view`).
pub struct Dataset {
    pub changes: Vec<GraphChange>,
    pub views: Vec<(UserId, ProductId, DateTime<Utc>)>,
    pub users: u128,
    pub products: u128,
}

pub fn dataset(seed: u64, users: u128, products: u128, orders: u128) -> Dataset {
    let mut rng = Lcg::new(seed);
    let mut changes = Vec::new();
    for c in 0..CATEGORIES.len() as u128 {
        changes.push(up(category(c, 1)));
    }
    for u in 0..users {
        changes.push(up(user(u, 1)));
    }
    for p in 0..products {
        // Skewed categories, so per-category rankings differ.
        let cat = (p as usize * 7 + p as usize / 3) % CATEGORIES.len();
        changes.push(up(product(p, cat, 1)));
    }
    let buyers = users - users / 5;
    for o in 0..orders {
        let u = rng.below(buyers as u64) as u128;
        let n = 1 + rng.below(4) as usize;
        let mut items: Vec<(u128, i64)> = Vec::new();
        while items.len() < n {
            // Popular products are the low ids: square the draw.
            let r = rng.below(products as u64);
            let p = (r * r / products as u64) as u128;
            if !items.iter().any(|(q, _)| *q == p) {
                items.push((p, 1 + rng.below(3) as i64));
            }
        }
        let at = now() - Duration::milliseconds(rng.below(10 * 24 * 3600 * 1000) as i64);
        changes.push(up(order(o, u, &items, at, 1)));
    }
    for r in 0..(orders / 4) {
        let u = rng.below(users as u64) as u128;
        let p = rng.below(products as u64) as u128;
        changes.push(up(review(r, u, p, 1 + rng.below(5) as u8, 1)));
    }
    let mut views = Vec::new();
    for _ in 0..users * 2 {
        let u = rng.below(users as u64) as u128;
        let p = rng.below(products as u64) as u128;
        let at = now() - Duration::milliseconds(rng.below(3 * 24 * 3600 * 1000) as i64);
        views.push((user_id(u), product_id(p), at));
    }
    Dataset {
        changes,
        views,
        users,
        products,
    }
}

/// Applies a dataset (changes, then views) to a store.
pub async fn load(store: &dyn GraphStore, data: &Dataset) {
    let report = store.apply(&data.changes).await.expect("apply dataset");
    assert!(report.deferred.is_empty(), "{report:?}");
    assert_eq!(report.applied as usize, data.changes.len());
    for (u, p, at) in &data.views {
        store.record_view(u, p, *at).await.expect("record view");
    }
    refresh_neighbours(store).await;
}

/// Computes every marked neighbour list, 7 products a call (so batching is exercised).
pub async fn refresh_neighbours(store: &dyn GraphStore) {
    for _ in 0..10_000 {
        let done = store
            .refresh_neighbours(7)
            .await
            .expect("refresh neighbours");
        if done.marked == 0 {
            return;
        }
    }
    panic!("neighbour lists still marked after 10,000 refreshes");
}

/// Every record of every kind, in pages of 7 (so paging is exercised).
pub async fn all_records(store: &dyn GraphStore) -> Vec<GraphRecord> {
    let mut all = Vec::new();
    for kind in EntityKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .records(kind, after.as_deref(), 7)
                .await
                .expect("records");
            let Some(last) = page.last() else { break };
            after = Some(last.entity().id);
            all.extend(page);
        }
    }
    all
}

fn assert_scored_close(what: &str, a: &[ScoredProduct], b: &[ScoredProduct]) {
    let ids = |v: &[ScoredProduct]| v.iter().map(|s| s.product).collect::<Vec<_>>();
    assert_eq!(ids(a), ids(b), "{what}: products differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.name, y.name, "{what}");
        let tol = 1e-9 * x.score.abs().max(1.0);
        assert!(
            (x.score - y.score).abs() <= tol,
            "{what}: {} vs {}",
            x.score,
            y.score
        );
    }
}

/// Asserts that `neo` answers every query exactly like `mem` for the given users and products.
pub async fn assert_same_answers(
    neo: &dyn GraphStore,
    mem: &dyn GraphStore,
    users: &[UserId],
    products: &[ProductId],
) {
    for u in users {
        for limit in [1, 5, 20] {
            let a = neo.recommendations_for(u, limit).await.expect("recs neo");
            let b = mem.recommendations_for(u, limit).await.expect("recs mem");
            assert_eq!(a, b, "recommendations_for({u}, {limit})");
        }
        let a = neo.similar_users(u, 10).await.expect("similar neo");
        let b = mem.similar_users(u, 10).await.expect("similar mem");
        assert_eq!(a, b, "similar_users({u})");
        let a = neo.purchase_history(u, 15).await.expect("history neo");
        let b = mem.purchase_history(u, 15).await.expect("history mem");
        assert_eq!(a, b, "purchase_history({u})");
    }
    for p in products {
        let a = neo.also_bought(p, 10).await.expect("also neo");
        let b = mem.also_bought(p, 10).await.expect("also mem");
        assert_eq!(a, b, "also_bought({p})");
    }
    for category in [None, Some("Books".to_owned()), Some("Nope".to_owned())] {
        for metric in [
            PopularityMetric::Purchases,
            PopularityMetric::Units,
            PopularityMetric::Buyers,
        ] {
            let q = PopularQuery {
                category: category.clone(),
                metric,
                limit: 10,
            };
            let a = neo.popular(&q).await.expect("popular neo");
            let b = mem.popular(&q).await.expect("popular mem");
            assert_eq!(a, b, "popular({q:?})");
        }
        for (half_life, window) in [
            (Duration::hours(24), Duration::days(7)),
            (Duration::hours(3), Duration::days(2)),
        ] {
            let q = TrendingQuery {
                category: category.clone(),
                now: now(),
                half_life,
                window,
                limit: 10,
            };
            let a = neo.trending(&q).await.expect("trending neo");
            let b = mem.trending(&q).await.expect("trending mem");
            assert_scored_close(&format!("trending({q:?})"), &a, &b);
        }
    }
    assert_eq!(
        neo.counts().await.expect("counts neo"),
        mem.counts().await.expect("counts mem"),
        "counts"
    );
    assert_eq!(all_records(neo).await, all_records(mem).await, "records");
}
