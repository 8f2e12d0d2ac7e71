//! Checks of the queries' exact answers on the [`fixture`], worked out by hand.
//!
//! Derived facts used throughout (from the fixture's order table):
//!
//! - purchase count / units / distinct buyers: P1 4/5/4, P2 2/2/2, P3 2/3/2, P4 1/1/1,
//!   P5 3/5/2 (dave bought it twice), P6 1/1/1, P7 1/1/1, P8 1/1/1, P9 0/0/0;
//! - recent products (latest purchase desc, then id): U1 [P6 (7h), P1 (1h), P3 (1h)],
//!   U2 [P3 (3h), P1 (2h), P2 (2h)], U3 [P2 (5h), P5 (5h), P1 (4h), P4 (4h)],
//!   U4 [P5 (9h), P1 (8h)], U6 [P7 (10h), P8 (10h)];
//! - recent buyers: P1 [U4 (8h), U3 (4h), U2 (2h), U1 (1h)], P2 [U3, U2], P3 [U2, U1],
//!   P4 [U3], P5 [U4 (9h), U3 (5h)], P6 [U1], P7 [U6], P8 [U6].

use chrono::Duration;

use super::fixture::{self, at_h, product, user};
use super::{assert_recs, assert_same, assert_scored, ok, refresh_all};
use crate::error::{EntityKind, Error};
use crate::graph::{
    buyer_weight, neighbour_similarity, round_score, seed_weight, GraphChange, GraphRecord,
    GraphStore, NeighbourRefresh, OrderPurchases, PopularQuery, PopularityMetric, ProductNode,
    PurchasedItem, Reason, TrendingQuery, UserNode,
};
use crate::id::{CategoryId, OrderId, ProductId, UserId};

async fn load(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "loading the fixture");
    refresh_all(graph).await;
}

fn co(because: &[u128]) -> Reason {
    Reason::CoPurchased {
        because: because.iter().map(|n| product(*n)).collect(),
    }
}

fn in_cat(name: &str) -> Reason {
    Reason::PopularInCategory {
        category: name.to_owned(),
    }
}

fn p(n: u128, score: f64) -> (ProductId, f64) {
    (product(n), score)
}

/// A listed similarity: co-purchase weight `co` of two products with `a` and `b` buyers.
fn sim(co: f64, a: u64, b: u64) -> f64 {
    neighbour_similarity(co, a, b)
}

/// A candidate's score from `(seed rank, listed similarity)` terms.
fn score(terms: &[(usize, f64)]) -> f64 {
    round_score(terms.iter().map(|(rank, s)| seed_weight(*rank) * s).sum())
}

/// Buyer weights of the fixture's users (`1 / sqrt(lines)`): U1, U2, U4 3 lines, U3 4.
fn bw(lines: u64) -> f64 {
    buyer_weight(lines)
}

/// Recommendations: neighbour lists of the seeds, then the category and overall fill.
///
/// Neighbour lists (every product's buyers are followed; co-purchase weight = sum of
/// `1 / sqrt(lines)` of the buyers of both; similarity = weight / sqrt(buyers * buyers)):
/// - P1 (buyers U4, U3, U2, U1; 4): P2 via U3, U2 (1/2 + 1/sqrt 3, P2 has 2 buyers), P3 via
///   U2, U1 (2/sqrt 3; 2), P4 via U3 (1/2; 1), P5 via U4, U3 (1/sqrt 3 + 1/2; 2), P6 via U1
///   (1/sqrt 3; 1): P3 0.4082, P2 0.3809, P5 0.3809, P6 0.2887, P4 0.25;
/// - P3 (U2, U1; 2): P1 (2/sqrt 3; 4) 0.4082, P6 (1/sqrt 3; 1) 0.4082, P2 (1/sqrt 3; 2) 0.2887;
/// - P5 (U4, U3; 2): P1 (1/sqrt 3 + 1/2; 4) 0.3809, P4 (1/2; 1) 0.3536, P2 (1/2; 2) 0.25;
/// - P6 (U1; 1): P3 0.4082, P1 0.2887.
pub async fn recommendations_collaborative_then_fill(graph: &dyn GraphStore) {
    load(graph).await;
    let s1_2 = sim(bw(4) + bw(3), 4, 2);
    let s1_4 = sim(bw(4), 4, 1);
    let s1_5 = sim(bw(3) + bw(4), 4, 2);
    let s1_3 = sim(2.0 * bw(3), 4, 2);
    let s1_6 = sim(bw(3), 4, 1);
    let s3_2 = sim(bw(3), 2, 2);
    let s5_4 = sim(bw(4), 2, 1);
    let s5_2 = sim(bw(4), 2, 2);

    // U1 bought P1, P3, P6; seeds by recency [P6 (rank 0), P1 (1), P3 (2)]. P6's list holds
    // only bought products. P1's: P2, P5, P4 not bought. P3's: P2. So P2 = P1's + P3's
    // (because P1, P3), P5 and P4 P1's alone. Fill: U1's categories Books (P1), Games (P3),
    // Music (P6), one product each, so by name. Books: P1 bought, P2 listed, P8 1 purchase
    // -> P8; P9 never bought. Games: P3 bought, P4 listed. Music: P5 listed, P6 bought.
    // Overall: only P7 (1) is neither listed nor bought.
    let recs = ok(graph.recommendations_for(&user(1), 10).await, "recs U1");
    assert_recs(
        &recs,
        &[
            (product(2), score(&[(1, s1_2), (2, s3_2)]), co(&[1, 3])),
            (product(5), score(&[(1, s1_5)]), co(&[1])),
            (product(4), score(&[(1, s1_4)]), co(&[1])),
            (product(8), 1.0, in_cat("Books")),
            (product(7), 1.0, Reason::Popular),
        ],
        "recommendations for U1",
    );
    assert_same(
        recs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["Go Book", "Jazz LP", "Catan", "Haiku", "Easel"],
        "recommendation names for U1",
    );

    // U4 bought P1, P5; seeds [P5 (rank 0), P1 (1)]. P5's list: P4, P2 (P1 bought). P1's: P3,
    // P2, P6, P4 (P5 bought). P2 0.25 + 0.99 * 0.3809 = 0.6271 (P1, P5); P4 0.3536 + 0.99 *
    // 0.25 = 0.6011 (P1, P5); P3 0.99 * 0.4082 (P1); P6 0.99 * 0.2887 (P1). Fill: categories
    // Books, Music (one each, by name): Books -> P8 (P1 bought, P2 listed, P9 unsold); Music:
    // P5 bought, P6 listed; overall: P7.
    let u4 = [
        (product(2), score(&[(0, s5_2), (1, s1_2)]), co(&[1, 5])),
        (product(4), score(&[(0, s5_4), (1, s1_4)]), co(&[1, 5])),
        (product(3), score(&[(1, s1_3)]), co(&[1])),
        (product(6), score(&[(1, s1_6)]), co(&[1])),
        (product(8), 1.0, in_cat("Books")),
        (product(7), 1.0, Reason::Popular),
    ];
    let recs = ok(graph.recommendations_for(&user(4), 10).await, "recs U4");
    assert_recs(&recs, &u4, "recommendations for U4");

    // The limit cuts the ranked list.
    let recs = ok(
        graph.recommendations_for(&user(4), 3).await,
        "recs U4 limit 3",
    );
    assert_recs(&recs, &u4[..3], "recommendations for U4, limit 3");
}

/// Neighbour lists are computed for marked products only, by id, and a product marked again
/// is refreshed alone.
pub async fn neighbour_lists_follow_marks(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "loading the fixture");
    let e = graph.refresh_neighbours(0).await.err();
    assert!(matches!(e, Some(Error::Invalid { .. })), "limit 0: {e:?}");

    // No list yet: U1 gets the fill only (Books, then overall by purchase count).
    let recs = ok(graph.recommendations_for(&user(1), 3).await, "recs before");
    assert_recs(
        &recs,
        &[
            (product(2), 2.0, in_cat("Books")),
            (product(8), 1.0, in_cat("Books")),
            (product(4), 1.0, in_cat("Games")),
        ],
        "recommendations before any refresh",
    );

    // P1..P8 have lines, so 8 are marked; refreshed by id: P1, P2, P3 first.
    let done = ok(graph.refresh_neighbours(3).await, "refresh 3");
    assert_same(
        done,
        NeighbourRefresh {
            refreshed: 3,
            marked: 5,
        },
        "first refresh",
    );
    // U1's seeds P6, P1, P3: only P1's and P3's lists exist, which is all U1 needs.
    let recs = ok(graph.recommendations_for(&user(1), 1).await, "recs partial");
    assert_same(recs[0].product, product(2), "best after a partial refresh");
    let done = ok(graph.refresh_neighbours(100).await, "refresh rest");
    assert_same(
        done,
        NeighbourRefresh {
            refreshed: 5,
            marked: 0,
        },
        "second refresh",
    );
    let done = ok(graph.refresh_neighbours(100).await, "refresh none");
    assert_same(
        done,
        NeighbourRefresh {
            refreshed: 0,
            marked: 0,
        },
        "nothing marked",
    );

    // U6 (who bought P7, P8) now buys P1: only P1 is marked. P1's buyers become U6, U4, U3,
    // U2, U1 (5); U6 has 3 lines. P7's and P8's lists are not recomputed, so they still hold
    // each other alone, and U6's candidates all come from P1's list (seed rank 0).
    let order = GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
        order_id: OrderId::from_u128(0xabc),
        user: user(6),
        placed_at: at_h(11),
        items: vec![PurchasedItem {
            product: product(1),
            quantity: 1,
            unit_price: fixture::usd(100),
        }],
        version: 1,
    }));
    let rep = ok(graph.apply(&[order]).await, "U6 buys P1");
    assert_same(rep.applied, 1, "order applied");
    let done = ok(graph.refresh_neighbours(100).await, "refresh P1");
    assert_same(
        done,
        NeighbourRefresh {
            refreshed: 1,
            marked: 0,
        },
        "only P1 marked",
    );
    let recs = ok(graph.recommendations_for(&user(6), 5).await, "recs U6");
    assert_recs(
        &recs,
        &[
            (product(3), score(&[(0, sim(2.0 * bw(3), 5, 2))]), co(&[1])),
            (
                product(2),
                score(&[(0, sim(bw(4) + bw(3), 5, 2))]),
                co(&[1]),
            ),
            (
                product(5),
                score(&[(0, sim(bw(3) + bw(4), 5, 2))]),
                co(&[1]),
            ),
            (product(6), score(&[(0, sim(bw(3), 5, 1))]), co(&[1])),
            (product(4), score(&[(0, sim(bw(4), 5, 1))]), co(&[1])),
        ],
        "recommendations for U6 after buying P1",
    );
}

/// Cold start: a user with only views, a user whose purchases reach nobody, an unknown user.
pub async fn recommendations_cold_start(graph: &dyn GraphStore) {
    load(graph).await;

    // U5 bought nothing; viewed P3, P4 (Games: 2 products), P1 (Books), P5 (Music), P7 (Art).
    // Categories: Games (2), then the ties at 1 by name: Art, Books; Music is cut by
    // fallback_categories = 3. Games by purchase count: P3 2, P4 1 (viewed products are not
    // skipped). Art: P7 1. Books: P1 4, P2 2, P8 1 (P9 unsold). Overall by purchase count:
    // P1 4, P5 3, P2 2, P3 2, P4 1, P6 1, P7 1, P8 1; not yet listed: P5 3, P6 1.
    let recs = ok(graph.recommendations_for(&user(5), 10).await, "recs U5");
    assert_recs(
        &recs,
        &[
            (product(3), 2.0, in_cat("Games")),
            (product(4), 1.0, in_cat("Games")),
            (product(7), 1.0, in_cat("Art")),
            (product(1), 4.0, in_cat("Books")),
            (product(2), 2.0, in_cat("Books")),
            (product(8), 1.0, in_cat("Books")),
            (product(5), 3.0, Reason::Popular),
            (product(6), 1.0, Reason::Popular),
        ],
        "cold-start recommendations for U5",
    );
    let recs = ok(
        graph.recommendations_for(&user(5), 2).await,
        "recs U5 limit 2",
    );
    assert_recs(
        &recs,
        &[
            (product(3), 2.0, in_cat("Games")),
            (product(4), 1.0, in_cat("Games")),
        ],
        "cold-start recommendations for U5, limit 2",
    );

    // U6 bought P7 and P8, which nobody else bought: no peers. Categories Art (P7), Books (P8)
    // by name. Art: P7 bought. Books: P1 4, P2 2 (P8 bought, P9 unsold). Overall, skipping P1,
    // P2 (listed) and P7, P8 (bought): P5 3, P3 2, P4 1, P6 1.
    let recs = ok(graph.recommendations_for(&user(6), 10).await, "recs U6");
    assert_recs(
        &recs,
        &[
            (product(1), 4.0, in_cat("Books")),
            (product(2), 2.0, in_cat("Books")),
            (product(5), 3.0, Reason::Popular),
            (product(3), 2.0, Reason::Popular),
            (product(4), 1.0, Reason::Popular),
            (product(6), 1.0, Reason::Popular),
        ],
        "recommendations for U6",
    );

    // A user the graph does not know: no history, no categories, so popular overall.
    let popular = [
        (product(1), 4.0, Reason::Popular),
        (product(5), 3.0, Reason::Popular),
        (product(2), 2.0, Reason::Popular),
        (product(3), 2.0, Reason::Popular),
        (product(4), 1.0, Reason::Popular),
        (product(6), 1.0, Reason::Popular),
        (product(7), 1.0, Reason::Popular),
        (product(8), 1.0, Reason::Popular),
    ];
    let recs = ok(
        graph.recommendations_for(&user(99), 10).await,
        "recs unknown",
    );
    assert_recs(&recs, &popular, "recommendations for an unknown user");
}

/// Customers also bought.
pub async fn also_bought_ranks_co_buyers(graph: &dyn GraphStore) {
    load(graph).await;
    // P1's buyers U4, U3, U2, U1; their other products: U4 P5; U3 P2, P5, P4; U2 P3, P2;
    // U1 P6, P3. P2 2, P3 2, P5 2, P4 1, P6 1.
    let got = ok(graph.also_bought(&product(1), 10).await, "also bought P1");
    assert_scored(
        &got,
        &[p(2, 2.0), p(3, 2.0), p(5, 2.0), p(4, 1.0), p(6, 1.0)],
        "also bought P1",
    );
    assert_same(got[0].name.as_str(), "Go Book", "also bought P1 name");
    let got = ok(
        graph.also_bought(&product(1), 2).await,
        "also bought P1 limit 2",
    );
    assert_scored(&got, &[p(2, 2.0), p(3, 2.0)], "also bought P1, limit 2");
    // P7's only buyer U6 also bought P8.
    let got = ok(graph.also_bought(&product(7), 10).await, "also bought P7");
    assert_scored(&got, &[p(8, 1.0)], "also bought P7");
    // Never bought, and unknown: nothing.
    let got = ok(graph.also_bought(&product(9), 10).await, "also bought P9");
    assert_scored(&got, &[], "also bought P9 (never bought)");
    let got = ok(
        graph.also_bought(&product(99), 10).await,
        "also bought unknown",
    );
    assert_scored(&got, &[], "also bought an unknown product");
}

/// Popular overall and per category, by each metric.
pub async fn popular_by_metric_and_category(graph: &dyn GraphStore) {
    load(graph).await;
    let q = |category: Option<&str>, metric, limit| PopularQuery {
        category: category.map(str::to_owned),
        metric,
        limit,
    };
    use PopularityMetric::{Buyers, Purchases, Units};
    let cases: Vec<(PopularQuery, Vec<(ProductId, f64)>)> = vec![
        // Order lines; P9 (0) left out; ties by id.
        (
            q(None, Purchases, 10),
            vec![
                p(1, 4.0),
                p(5, 3.0),
                p(2, 2.0),
                p(3, 2.0),
                p(4, 1.0),
                p(6, 1.0),
                p(7, 1.0),
                p(8, 1.0),
            ],
        ),
        (q(None, Purchases, 2), vec![p(1, 4.0), p(5, 3.0)]),
        // Units: P1 1+1+2+1 = 5, P5 1+3+1 = 5 (tie, by id), P3 2+1 = 3, P2 2.
        (
            q(None, Units, 10),
            vec![
                p(1, 5.0),
                p(5, 5.0),
                p(3, 3.0),
                p(2, 2.0),
                p(4, 1.0),
                p(6, 1.0),
                p(7, 1.0),
                p(8, 1.0),
            ],
        ),
        // Distinct buyers: P5 drops to 2 (dave twice).
        (
            q(None, Buyers, 10),
            vec![
                p(1, 4.0),
                p(2, 2.0),
                p(3, 2.0),
                p(5, 2.0),
                p(4, 1.0),
                p(6, 1.0),
                p(7, 1.0),
                p(8, 1.0),
            ],
        ),
        (
            q(Some("Books"), Purchases, 10),
            vec![p(1, 4.0), p(2, 2.0), p(8, 1.0)],
        ),
        (
            q(Some("Books"), Units, 10),
            vec![p(1, 5.0), p(2, 2.0), p(8, 1.0)],
        ),
        (q(Some("Music"), Purchases, 10), vec![p(5, 3.0), p(6, 1.0)]),
        (q(Some("Music"), Units, 10), vec![p(5, 5.0), p(6, 1.0)]),
        (q(Some("Music"), Buyers, 10), vec![p(5, 2.0), p(6, 1.0)]),
        (q(Some("Games"), Units, 1), vec![p(3, 3.0)]),
        (q(Some("Nope"), Purchases, 10), vec![]),
    ];
    for (query, expected) in cases {
        let got = ok(graph.popular(&query).await, "popular");
        assert_scored(&got, &expected, &format!("{query:?}"));
    }
}

/// Trending: exponential decay of quantity with age, within the window, category filter.
pub async fn trending_decays_with_age(graph: &dyn GraphStore) {
    load(graph).await;
    let q =
        |now_h: i64, half_life: Duration, window: Duration, category: Option<&str>| TrendingQuery {
            category: category.map(str::to_owned),
            now: at_h(now_h),
            half_life,
            window,
            limit: 10,
        };
    // now 10h, half-life 1h, window 6h: purchases at 4h..=10h (both ends included).
    // P1: 2 x 0.5^6 (4h) + 1 x 0.5^2 (8h) = 0.03125 + 0.25 = 0.28125;
    // P4: 1 x 0.5^6 = 0.015625; P2: 0.5^5 = 0.03125;
    // P5: 0.5^5 (5h) + 3 x 0.5^4 (6h) + 0.5^1 (9h) = 0.03125 + 0.1875 + 0.5 = 0.71875;
    // P6: 0.5^3 = 0.125; P7, P8: 0.5^0 = 1 each (tie, by id). P3's purchases are older.
    let got = ok(
        graph
            .trending(&q(10, Duration::hours(1), Duration::hours(6), None))
            .await,
        "trending",
    );
    assert_scored(
        &got,
        &[
            p(7, 1.0),
            p(8, 1.0),
            p(5, 0.71875),
            p(1, 0.28125),
            p(6, 0.125),
            p(2, 0.03125),
            p(4, 0.015625),
        ],
        "trending at 10h, half-life 1h, window 6h",
    );
    let got = ok(
        graph
            .trending(&q(
                10,
                Duration::hours(1),
                Duration::hours(6),
                Some("Books"),
            ))
            .await,
        "trending Books",
    );
    assert_scored(
        &got,
        &[p(8, 1.0), p(1, 0.28125), p(2, 0.03125)],
        "trending in Books",
    );
    // Half-life 90 minutes, window 3h: purchases at 7h..=10h. P6 (7h, 180 min): 0.5^2;
    // P1 (8h, 120 min): 0.5^(4/3); P5 (9h, 60 min): 0.5^(2/3); P7, P8: 1.
    let got = ok(
        graph
            .trending(&q(10, Duration::minutes(90), Duration::hours(3), None))
            .await,
        "trending 90 min",
    );
    assert_scored(
        &got,
        &[
            p(7, 1.0),
            p(8, 1.0),
            p(5, 0.5f64.powf(2.0 / 3.0)),
            p(1, 0.5f64.powf(4.0 / 3.0)),
            p(6, 0.25),
        ],
        "trending at 10h, half-life 90 min, window 3h",
    );
    // now 8h, window 1h: purchases after now (9h, 10h) do not count. P1 (8h): 1; P6 (7h): 0.5.
    let got = ok(
        graph
            .trending(&q(8, Duration::hours(1), Duration::hours(1), None))
            .await,
        "trending at 8h",
    );
    assert_scored(&got, &[p(1, 1.0), p(6, 0.5)], "trending at 8h");
}

/// A user's purchases, newest first, then order id and product id.
pub async fn purchase_history_newest_first(graph: &dyn GraphStore) {
    load(graph).await;
    let lines = |u: u128, limit| async move {
        ok(graph.purchase_history(&user(u), limit).await, "history")
            .into_iter()
            .map(|r| {
                (
                    r.order_id,
                    r.product,
                    r.quantity,
                    r.unit_price.minor,
                    r.purchased_at,
                )
            })
            .collect::<Vec<_>>()
    };
    let o = fixture::order;
    // U3: O5 (5h) P2, P5; O4 (4h) P1 x2, P4.
    assert_same(
        lines(3, 10).await,
        vec![
            (o(5), product(2), 1, 2999, at_h(5)),
            (o(5), product(5), 1, 2500, at_h(5)),
            (o(4), product(1), 2, 3999, at_h(4)),
            (o(4), product(4), 1, 4500, at_h(4)),
        ],
        "history of U3",
    );
    assert_same(lines(3, 3).await.len(), 3, "history of U3, limit 3");
    // U4: O9 (9h), O8 (8h), O6 (6h, P5 x3 at the discounted 20.00).
    assert_same(
        lines(4, 10).await,
        vec![
            (o(9), product(5), 1, 2500, at_h(9)),
            (o(8), product(1), 1, 3999, at_h(8)),
            (o(6), product(5), 3, 2000, at_h(6)),
        ],
        "history of U4",
    );
    assert_same(lines(5, 10).await, vec![], "history of U5 (views only)");
    assert_same(lines(99, 10).await, vec![], "history of an unknown user");

    // Two orders at the same time sort by order id; names are the products' current names.
    let renamed = ProductNode {
        name: "Jazz LP (remastered)".into(),
        version: 2,
        ..fixture::product_node(5)
    };
    let same_time = |n: u128| {
        GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
            order_id: o(n),
            user: user(5),
            placed_at: at_h(11),
            items: vec![PurchasedItem {
                product: product(5),
                quantity: 1,
                unit_price: fixture::usd(2500),
            }],
            version: 1,
        }))
    };
    ok(
        graph
            .apply(&[
                same_time(12),
                same_time(11),
                GraphChange::Upsert(GraphRecord::Product(renamed)),
            ])
            .await,
        "apply",
    );
    let got = ok(graph.purchase_history(&user(5), 10).await, "history U5");
    assert_same(
        got.iter()
            .map(|r| (r.order_id, r.product_name.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (o(11), "Jazz LP (remastered)"),
            (o(12), "Jazz LP (remastered)"),
        ],
        "history of U5 after two orders at the same time",
    );
}

/// Similar users by exact Jaccard similarity.
pub async fn similar_users_by_jaccard(graph: &dyn GraphStore) {
    load(graph).await;
    let sims = |u: u128| async move {
        ok(graph.similar_users(&user(u), 10).await, "similar users")
            .into_iter()
            .map(|s| (s.user, s.username, s.similarity, s.shared))
            .collect::<Vec<_>>()
    };
    let check = |got: Vec<(UserId, String, f64, u64)>, expected: Vec<(u128, &str, f64, u64)>| {
        let ok = got.len() == expected.len()
            && got.iter().zip(&expected).all(|(g, e)| {
                g.0 == user(e.0) && g.1 == e.1 && super::close(g.2, e.2) && g.3 == e.3
            });
        assert!(
            ok,
            "similar users:\n got      {got:?}\n expected {expected:?}"
        );
    };
    // U1 {P1, P3, P6}: candidates are the buyers of P6, P1, P3 other than U1: U4, U3, U2.
    // U2 {P1, P2, P3}: shared 2, union 4 -> 0.5; U4 {P1, P5}: 1 / 4; U3 {P1, P2, P4, P5}: 1 / 6.
    check(
        sims(1).await,
        vec![
            (2, "bob", 0.5, 2),
            (4, "dave", 0.25, 1),
            (3, "carol", 1.0 / 6.0, 1),
        ],
    );
    // U2 {P1, P2, P3}: U1 2 / 4; U3 {P1, P2} shared, 2 / 5; U4 1 / 4.
    check(
        sims(2).await,
        vec![
            (1, "alice", 0.5, 2),
            (3, "carol", 0.4, 2),
            (4, "dave", 0.25, 1),
        ],
    );
    // U4 {P1, P5}: U3 2 / 4; U1 1 / 4 and U2 1 / 4 tie on similarity and shared: by id.
    check(
        sims(4).await,
        vec![
            (3, "carol", 0.5, 2),
            (1, "alice", 0.25, 1),
            (2, "bob", 0.25, 1),
        ],
    );
    // U6's products have no other buyer; U5 bought nothing; unknown users have no history.
    check(sims(6).await, vec![]);
    check(sims(5).await, vec![]);
    check(sims(99).await, vec![]);
    let got = ok(graph.similar_users(&user(4), 1).await, "similar limit 1");
    assert_same(got.len(), 1, "similar users of U4, limit 1");

    // Equal similarity, more shared products first: new users U9 {P7, P8}, U10 {P7},
    // U11 {P2, P3, P7, P8}.
    let buy = |order: u128, u: u128, items: &[u128]| {
        GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
            order_id: OrderId::from_u128(0x4100 + order),
            user: user(u),
            placed_at: at_h(12),
            items: items
                .iter()
                .map(|n| PurchasedItem {
                    product: product(*n),
                    quantity: 1,
                    unit_price: fixture::usd(100),
                })
                .collect(),
            version: 1,
        }))
    };
    let new_user = |n: u128| {
        GraphChange::Upsert(GraphRecord::User(UserNode {
            id: user(n),
            username: format!("u{n}"),
            email: format!("u{n}@example.com"),
            version: 1,
        }))
    };
    ok(
        graph
            .apply(&[
                new_user(9),
                new_user(10),
                new_user(11),
                buy(1, 9, &[7, 8]),
                buy(2, 10, &[7]),
                buy(3, 11, &[2, 3, 7, 8]),
            ])
            .await,
        "apply",
    );
    // U9 {P7, P8}: candidates are the buyers of P7 and P8: U6, U10, U11 (and U9 itself).
    // U6 {P7, P8}: 2/2 = 1 (shared 2); U11: 2/4 = 0.5 (shared 2); U10: 1/2 = 0.5 (shared 1).
    check(
        sims(9).await,
        vec![
            (6, "frank", 1.0, 2),
            (11, "u11", 0.5, 2),
            (10, "u10", 0.5, 1),
        ],
    );
}

/// Records page by id; counts are exact.
pub async fn records_page_by_id(graph: &dyn GraphStore) {
    load(graph).await;
    let ids = |records: Vec<GraphRecord>| {
        records
            .into_iter()
            .map(|r| r.entity().id)
            .collect::<Vec<_>>()
    };
    let s = |u: u128| user(u).to_string();
    let page = ok(graph.records(EntityKind::User, None, 2).await, "records");
    assert_same(ids(page), vec![s(1), s(2)], "first page of users");
    let page = ok(
        graph.records(EntityKind::User, Some(&s(2)), 2).await,
        "records",
    );
    assert_same(ids(page), vec![s(3), s(4)], "second page of users");
    let page = ok(
        graph.records(EntityKind::User, Some(&s(6)), 2).await,
        "records",
    );
    assert_same(ids(page), vec![], "page after the last user");
    let page = ok(
        graph.records(EntityKind::Product, None, 1000).await,
        "records",
    );
    let expected: Vec<GraphRecord> = (1..=9)
        .map(|n| GraphRecord::Product(fixture::product_node(n)))
        .collect();
    assert_same(page, expected, "all products");
    let page = ok(
        graph
            .records(
                EntityKind::Category,
                Some(&CategoryId::from_u128(0x2002).to_string()),
                10,
            )
            .await,
        "records",
    );
    assert_same(
        page,
        vec![
            GraphRecord::Category(fixture::category_node(3)),
            GraphRecord::Category(fixture::category_node(4)),
        ],
        "categories after C2",
    );
    let err = graph.records(EntityKind::User, None, 0).await;
    assert!(
        matches!(err, Err(Error::Invalid { .. })),
        "records with limit 0: {err:?}"
    );
}

/// Every query refuses a limit of 0 or above `max_limit`, and trending a bad half-life or window.
pub async fn limits_are_validated(graph: &dyn GraphStore) {
    load(graph).await;
    for limit in [0, 101] {
        let what = format!("limit {limit}");
        let e = graph.recommendations_for(&user(1), limit).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "recs {what}: {e:?}"
        );
        let e = graph.also_bought(&product(1), limit).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "also {what}: {e:?}"
        );
        let query = PopularQuery {
            category: None,
            metric: PopularityMetric::Units,
            limit,
        };
        let e = graph.popular(&query).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "popular {what}: {e:?}"
        );
        let mut query = TrendingQuery::new(limit);
        query.now = at_h(10);
        let e = graph.trending(&query).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "trending {what}: {e:?}"
        );
        let e = graph.purchase_history(&user(1), limit).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "history {what}: {e:?}"
        );
        let e = graph.similar_users(&user(1), limit).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "similar {what}: {e:?}"
        );
    }
    let ok_limit = ok(graph.purchase_history(&user(1), 100).await, "limit 100");
    assert_same(ok_limit.len(), 3, "history of U1 with the largest limit");
    let bad = [
        (Duration::seconds(59), Duration::days(7)),
        (Duration::hours(24), Duration::zero()),
        (Duration::hours(24), Duration::days(91)),
    ];
    for (half_life, window) in bad {
        let query = TrendingQuery {
            half_life,
            window,
            ..TrendingQuery::new(10)
        };
        let e = graph.trending(&query).await.err();
        assert!(
            matches!(e, Some(Error::Invalid { .. })),
            "trending with half-life {half_life} and window {window}: {e:?}"
        );
    }
}
