//! Checks of applying changes: idempotence, version guards, deferral, deletes, category moves,
//! views, and the fan-out caps.

use std::collections::BTreeMap;

use super::fixture::{self, at_h, at_min, category, order, product, review, user};
use super::{assert_recs, assert_same, assert_scored, ok, refresh_all};
use crate::error::{EntityKind, Error};
use crate::graph::{
    buyer_weight, neighbour_similarity, round_score, seed_weight, ApplyReport, CategoryNode,
    GraphChange, GraphCounts, GraphRecord, GraphStore, NeighbourRefresh, OrderPurchases,
    PopularQuery, PopularityMetric, ProductNode, PurchasedItem, Reason, ReviewEdge, UserNode,
};
use crate::id::{EntityRef, OrderId, ProductId, UserId};

/// Records in the fixture: 4 categories + 6 users + 9 products + 10 orders + 2 reviews.
const FIXTURE_RECORDS: u64 = 31;

fn counts(
    users: u64,
    categories: u64,
    products: u64,
    orders: u64,
    reviews: u64,
    purchases: u64,
    views: u64,
) -> GraphCounts {
    GraphCounts {
        entities: BTreeMap::from([
            (EntityKind::User, users),
            (EntityKind::Category, categories),
            (EntityKind::Product, products),
            (EntityKind::Order, orders),
            (EntityKind::Review, reviews),
        ]),
        purchases,
        views,
    }
}

fn report(applied: u64, stale: u64, deferred: Vec<EntityRef>) -> ApplyReport {
    ApplyReport {
        applied,
        stale,
        deferred,
    }
}

fn delete(kind: EntityKind, id: impl std::fmt::Display, version: u64) -> GraphChange {
    GraphChange::Delete {
        entity: EntityRef::new(kind, id),
        version,
    }
}

async fn apply(graph: &dyn GraphStore, changes: &[GraphChange]) -> ApplyReport {
    ok(graph.apply(changes).await, "apply")
}

async fn current_counts(graph: &dyn GraphStore) -> GraphCounts {
    ok(graph.counts().await, "counts")
}

async fn expect_counts(graph: &dyn GraphStore, expected: GraphCounts, what: &str) {
    assert_same(current_counts(graph).await, expected, what);
}

/// Every record of every kind, by kind then id.
async fn all_records(graph: &dyn GraphStore) -> Vec<GraphRecord> {
    let mut out = Vec::new();
    for kind in EntityKind::ALL {
        out.extend(ok(graph.records(kind, None, 100_000).await, "records"));
    }
    out
}

/// The fixture's records in the order [`all_records`] lists them.
fn fixture_records() -> Vec<GraphRecord> {
    let mut records = fixture::records();
    records.sort_by_key(|r| {
        let e = r.entity();
        let rank = EntityKind::ALL.iter().position(|k| *k == e.kind);
        (rank, e.id)
    });
    records
}

fn user_node(n: u128, name: &str, version: u64) -> GraphChange {
    GraphChange::Upsert(GraphRecord::User(UserNode {
        id: user(n),
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        version,
    }))
}

fn product_in(n: u128, category: &str, version: u64) -> GraphChange {
    GraphChange::Upsert(GraphRecord::Product(ProductNode {
        category: category.to_owned(),
        version,
        ..fixture::product_node(n)
    }))
}

fn upsert_order(n: u128) -> GraphChange {
    GraphChange::Upsert(GraphRecord::Order(fixture::order_purchases(n)))
}

fn popular(category: Option<&str>) -> PopularQuery {
    PopularQuery {
        category: category.map(str::to_owned),
        metric: PopularityMetric::Purchases,
        limit: 100,
    }
}

fn p(n: u128, score: f64) -> (ProductId, f64) {
    (product(n), score)
}

/// A fresh graph holds nothing and answers every query with nothing.
pub async fn empty_graph_has_nothing(graph: &dyn GraphStore) {
    ok(graph.ping().await, "ping");
    expect_counts(graph, counts(0, 0, 0, 0, 0, 0, 0), "counts").await;
    assert_same(all_records(graph).await, vec![], "records");
    let recs = ok(graph.recommendations_for(&user(1), 10).await, "recs");
    assert_recs(&recs, &[], "recommendations on an empty graph");
    let got = ok(graph.popular(&popular(None)).await, "popular");
    assert_scored(&got, &[], "popular on an empty graph");
}

/// Loading the fixture applies every change; counts and records are exact.
pub async fn fixture_loads_with_exact_counts(graph: &dyn GraphStore) {
    let rep = apply(graph, &fixture::changes()).await;
    assert_same(
        rep,
        report(FIXTURE_RECORDS, 0, vec![]),
        "loading the fixture",
    );
    for (u, pr, at) in fixture::views() {
        ok(graph.record_view(&u, &pr, at).await, "view");
    }
    // 15 order lines (O1 2, O2 2, O3 1, O4 2, O5 2, O6..O9 1 each, O10 2); U5 viewed 5
    // distinct products (P3 twice).
    expect_counts(graph, counts(6, 4, 9, 10, 2, 15, 5), "counts").await;
    assert_same(all_records(graph).await, fixture_records(), "records");
}

/// Applying the same batch three times changes nothing after the first.
pub async fn replay_is_idempotent(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let before = (all_records(graph).await, current_counts(graph).await);
    for round in 2..=3 {
        let rep = apply(graph, &fixture::changes()).await;
        assert_same(
            rep,
            report(FIXTURE_RECORDS, 0, vec![]),
            &format!("replay {round}"),
        );
        let after = (all_records(graph).await, current_counts(graph).await);
        assert!(after == before, "replay {round} changed the graph");
    }
    expect_counts(graph, counts(6, 4, 9, 10, 2, 15, 5), "counts after replays").await;
}

/// Kind order comes from the store, not the slice: a reversed batch (orders and reviews before
/// the users, products and categories they reference) gives the same graph, nothing deferred.
pub async fn batch_order_does_not_matter(graph: &dyn GraphStore) {
    let mut changes = fixture::changes();
    changes.reverse();
    let rep = apply(graph, &changes).await;
    assert_same(rep, report(FIXTURE_RECORDS, 0, vec![]), "reversed fixture");
    assert_same(all_records(graph).await, fixture_records(), "records");
    expect_counts(graph, counts(6, 4, 9, 10, 2, 15, 0), "counts").await;
}

/// Version guards: older changes are stale, across calls and within one, deletes included.
pub async fn older_versions_are_stale(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let user_record = |n: u128| async move {
        ok(
            graph
                .records(
                    EntityKind::User,
                    Some(&UserId::from_u128(0x1000 + n - 1).to_string()),
                    1,
                )
                .await,
            "records",
        )
    };

    // Newer then older, in two calls: the older is stale and the newer stays.
    let rep = apply(graph, &[user_node(1, "alice2", 2)]).await;
    assert_same(rep, report(1, 0, vec![]), "newer user");
    let rep = apply(graph, &[user_node(1, "alice", 1)]).await;
    assert_same(rep, report(0, 1, vec![]), "older user after newer");
    assert_same(
        user_record(1).await,
        vec![GraphRecord::User(UserNode {
            id: user(1),
            username: "alice2".into(),
            email: "alice2@example.com".into(),
            version: 2,
        })],
        "user 1 keeps the newer version",
    );

    // Within one call the highest version wins whatever the slice order.
    let rep = apply(graph, &[user_node(2, "bob3", 3), user_node(2, "bob2", 2)]).await;
    assert_same(rep, report(1, 1, vec![]), "newer first in one call");
    let rep = apply(
        graph,
        &[user_node(3, "carol2", 2), user_node(3, "carol3", 3)],
    )
    .await;
    assert_same(rep, report(1, 1, vec![]), "older first in one call");
    for (n, name) in [(2, "bob3"), (3, "carol3")] {
        let got = user_record(n).await;
        let ok = matches!(&got[..], [GraphRecord::User(u)] if u.username == name && u.version == 3);
        assert!(ok, "user {n} should be {name} at version 3: {got:?}");
    }

    // The same change twice in one call: both applied, one state.
    let rep = apply(graph, &[user_node(4, "dave2", 2), user_node(4, "dave2", 2)]).await;
    assert_same(rep, report(2, 0, vec![]), "duplicate change in one call");

    // A deletion is remembered: an older upsert afterwards is stale; a newer one restores.
    let rep = apply(graph, &[delete(EntityKind::Review, review(1), 3)]).await;
    assert_same(rep, report(1, 0, vec![]), "delete review at version 3");
    let old = GraphChange::Upsert(GraphRecord::Review(ReviewEdge {
        version: 2,
        ..fixture::review_edge(1)
    }));
    let rep = apply(graph, &[old]).await;
    assert_same(
        rep,
        report(0, 1, vec![]),
        "review version 2 after its deletion at 3",
    );
    assert_same(
        current_counts(graph).await.entities[&EntityKind::Review],
        1,
        "reviews",
    );
    let newer = ReviewEdge {
        rating: 2,
        version: 4,
        ..fixture::review_edge(1)
    };
    let rep = apply(
        graph,
        &[GraphChange::Upsert(GraphRecord::Review(newer.clone()))],
    )
    .await;
    assert_same(
        rep,
        report(1, 0, vec![]),
        "review version 4 after its deletion at 3",
    );
    let reviews = ok(graph.records(EntityKind::Review, None, 10).await, "records");
    assert_same(
        reviews,
        vec![
            GraphRecord::Review(newer),
            GraphRecord::Review(fixture::review_edge(2)),
        ],
        "reviews",
    );

    // An upsert and a delete of the same version: the delete wins.
    let rep = apply(
        graph,
        &[
            user_node(6, "frank", 2),
            delete(EntityKind::User, user(6), 2),
        ],
    )
    .await;
    assert_same(
        rep,
        report(1, 1, vec![]),
        "upsert and delete at one version",
    );
    assert_same(user_record(6).await, vec![], "user 6 is deleted");
}

/// Orders, reviews and products whose referenced nodes are missing are deferred and written
/// once the references arrive.
pub async fn missing_references_are_deferred(graph: &dyn GraphStore) {
    let o1 = EntityRef::new(EntityKind::Order, order(1));
    let r1 = EntityRef::new(EntityKind::Review, review(1));
    let p1 = EntityRef::new(EntityKind::Product, product(1));
    let p3 = EntityRef::new(EntityKind::Product, product(3));
    let review1 = GraphChange::Upsert(GraphRecord::Review(fixture::review_edge(1)));

    let rep = apply(graph, &[upsert_order(1)]).await;
    assert_same(rep, report(0, 0, vec![o1.clone()]), "order before its user");
    let rep = apply(graph, std::slice::from_ref(&review1)).await;
    assert_same(rep, report(0, 0, vec![r1]), "review before its user");
    let rep = apply(graph, &[product_in(1, "Books", 1)]).await;
    assert_same(rep, report(0, 0, vec![p1]), "product before its category");
    expect_counts(graph, counts(0, 0, 0, 0, 0, 0, 0), "nothing written").await;

    // Books, U1 and P1 arrive; P3's category (Games) does not, so P3 and O1 (which needs P3)
    // are deferred, sorted by kind (product before order).
    let books = GraphChange::Upsert(GraphRecord::Category(fixture::category_node(1)));
    let games = GraphChange::Upsert(GraphRecord::Category(fixture::category_node(2)));
    let u1 = GraphChange::Upsert(GraphRecord::User(fixture::user_node(1)));
    let rep = apply(
        graph,
        &[
            upsert_order(1),
            product_in(3, "Games", 1),
            product_in(1, "Books", 1),
            u1,
            books,
        ],
    )
    .await;
    assert_same(rep, report(3, 0, vec![p3, o1]), "order missing one product");
    expect_counts(graph, counts(1, 1, 1, 0, 0, 0, 0), "partial").await;
    let history = ok(graph.purchase_history(&user(1), 10).await, "history");
    assert_same(history.len(), 0, "deferred order has no purchases");

    let rep = apply(
        graph,
        &[upsert_order(1), review1, product_in(3, "Games", 1), games],
    )
    .await;
    assert_same(rep, report(4, 0, vec![]), "references arrived");
    expect_counts(graph, counts(1, 2, 2, 1, 1, 2, 0), "all written").await;
    let history = ok(graph.purchase_history(&user(1), 10).await, "history");
    assert_same(history.len(), 2, "purchases of the order");
}

/// Deleting a user removes its purchases, views and reviews; nothing dangles.
pub async fn deleting_a_user_detaches_it(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    refresh_all(graph).await;
    let rep = apply(graph, &[delete(EntityKind::User, user(2), 2)]).await;
    assert_same(rep, report(1, 0, vec![]), "delete U2");
    // U2's lines were to P1, P2, P3: those three are marked, nothing else.
    let done = ok(
        graph.refresh_neighbours(100).await,
        "refresh after the delete",
    );
    assert_same(
        done,
        NeighbourRefresh {
            refreshed: 3,
            marked: 0,
        },
        "products marked by the delete",
    );
    // U2 had O2 (2 lines), O3 (1 line) and R2.
    expect_counts(graph, counts(5, 4, 9, 8, 1, 12, 5), "counts").await;
    let orders = ok(graph.records(EntityKind::Order, None, 100).await, "records");
    let ids: Vec<String> = orders.iter().map(|r| r.entity().id).collect();
    let expected: Vec<String> = [1, 4, 5, 6, 7, 8, 9, 10]
        .iter()
        .map(|n| order(*n).to_string())
        .collect();
    assert_same(ids, expected, "orders left");
    assert_same(
        ok(graph.purchase_history(&user(2), 10).await, "history").len(),
        0,
        "history of a deleted user",
    );
    // P1's buyers are now U4, U3, U1: U4 P5; U3 P2, P5, P4; U1 P6, P3.
    let got = ok(graph.also_bought(&product(1), 10).await, "also bought");
    assert_scored(
        &got,
        &[p(5, 2.0), p(2, 1.0), p(3, 1.0), p(4, 1.0), p(6, 1.0)],
        "also bought P1 without U2",
    );
    // U1's seeds [P6, P1, P3]. P1's new list (buyers U4, U3, U1; 3): P5 via U4 (3 lines)
    // and U3 (4 lines; P5 has 2 buyers), P2 and P4 via U3 (1 buyer each), P6 and P3 bought.
    // P3's new list (buyer U1) and P6's old one hold only U1's own products. Fill as before.
    let co1 = || Reason::CoPurchased {
        because: vec![product(1)],
    };
    let via_p1 =
        |co: f64, buyers: u64| round_score(seed_weight(1) * neighbour_similarity(co, 3, buyers));
    let recs = ok(graph.recommendations_for(&user(1), 10).await, "recs");
    assert_recs(
        &recs,
        &[
            (
                product(5),
                via_p1(buyer_weight(3) + buyer_weight(4), 2),
                co1(),
            ),
            (product(2), via_p1(buyer_weight(4), 1), co1()),
            (product(4), via_p1(buyer_weight(4), 1), co1()),
            (
                product(8),
                1.0,
                Reason::PopularInCategory {
                    category: "Books".into(),
                },
            ),
            (product(7), 1.0, Reason::Popular),
        ],
        "recommendations for U1 without U2",
    );
    let err = graph
        .record_view(&user(2), &product(1), at_h(11))
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(Error::NotFound {
                kind: EntityKind::User,
                ..
            })
        ),
        "view by a deleted user: {err:?}"
    );
    // The old state of the user is stale; its old order now misses its user.
    let rep = apply(
        graph,
        &[GraphChange::Upsert(GraphRecord::User(fixture::user_node(
            2,
        )))],
    )
    .await;
    assert_same(
        rep,
        report(0, 1, vec![]),
        "replayed user after its deletion",
    );
    let rep = apply(graph, &[upsert_order(2)]).await;
    let o2 = EntityRef::new(EntityKind::Order, order(2));
    assert_same(
        rep,
        report(0, 0, vec![o2]),
        "replayed order of a deleted user",
    );
    // Deleting U5 removes its views.
    apply(graph, &[delete(EntityKind::User, user(5), 2)]).await;
    expect_counts(graph, counts(4, 4, 9, 8, 1, 12, 0), "counts").await;
}

/// Deleting a product removes its purchases (and orders left with none), views and reviews.
pub async fn deleting_a_product_detaches_it(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let rep = apply(graph, &[delete(EntityKind::Product, product(5), 2)]).await;
    assert_same(rep, report(1, 0, vec![]), "delete P5");
    // P5 lines: O5, O6, O9; O6 and O9 had nothing else; U5's view of P5 goes.
    expect_counts(graph, counts(6, 4, 8, 8, 2, 12, 4), "counts").await;
    let mut o5 = fixture::order_purchases(5);
    o5.items.retain(|i| i.product == product(2));
    let got = ok(
        graph
            .records(
                EntityKind::Order,
                Some(&OrderId::from_u128(0x4004).to_string()),
                1,
            )
            .await,
        "records",
    );
    assert_same(
        got,
        vec![GraphRecord::Order(o5.clone())],
        "O5 keeps P2 only",
    );
    let history = ok(graph.purchase_history(&user(4), 10).await, "history");
    let lines: Vec<(OrderId, ProductId)> =
        history.iter().map(|r| (r.order_id, r.product)).collect();
    assert_same(lines, vec![(order(8), product(1))], "history of U4");
    let got = ok(graph.popular(&popular(Some("Music"))).await, "popular");
    assert_scored(&got, &[p(6, 1.0)], "popular in Music");
    // Replaying O5 (version 1, still naming P5) waits for a product that is gone.
    let rep = apply(graph, &[upsert_order(5)]).await;
    let o5_ref = EntityRef::new(EntityKind::Order, order(5));
    assert_same(rep, report(0, 0, vec![o5_ref]), "replayed O5");
    let got = ok(graph.records(EntityKind::Order, None, 100).await, "records");
    assert!(
        got.contains(&GraphRecord::Order(o5)),
        "O5 unchanged by the deferred replay"
    );
}

/// Deleting orders, reviews and categories; deletes of unknown entities; invalid ids.
pub async fn deleting_orders_reviews_categories(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let rep = apply(
        graph,
        &[
            delete(EntityKind::Order, order(4), 2),
            delete(EntityKind::Review, review(1), 2),
        ],
    )
    .await;
    assert_same(rep, report(2, 0, vec![]), "delete O4 and R1");
    expect_counts(graph, counts(6, 4, 9, 9, 1, 13, 5), "counts").await;
    // P4's only purchase was in O4.
    let got = ok(graph.popular(&popular(Some("Games"))).await, "popular");
    assert_scored(&got, &[p(3, 2.0)], "popular in Games");
    let history = ok(graph.purchase_history(&user(3), 10).await, "history");
    let lines: Vec<(OrderId, ProductId)> =
        history.iter().map(|r| (r.order_id, r.product)).collect();
    assert_same(
        lines,
        vec![(order(5), product(2)), (order(5), product(5))],
        "history of U3",
    );

    // Deleting a category removes its node; products naming it stay (their category property
    // is unchanged) until the primary store moves or deletes them; new ones wait for it.
    let rep = apply(graph, &[delete(EntityKind::Category, category(4), 2)]).await;
    assert_same(rep, report(1, 0, vec![]), "delete Art");
    expect_counts(graph, counts(6, 3, 9, 9, 1, 13, 5), "counts").await;
    let got = ok(graph.popular(&popular(Some("Art"))).await, "popular");
    assert_scored(&got, &[p(7, 1.0)], "popular in Art after its node is gone");
    let new_art = GraphChange::Upsert(GraphRecord::Product(ProductNode {
        id: product(20),
        name: "Brush".into(),
        category: "Art".into(),
        price: fixture::usd(300),
        version: 1,
    }));
    let rep = apply(graph, &[new_art]).await;
    let p20 = EntityRef::new(EntityKind::Product, product(20));
    assert_same(
        rep,
        report(0, 0, vec![p20]),
        "product in a deleted category",
    );

    // Deleting what the graph never held is applied (and remembered).
    let rep = apply(graph, &[delete(EntityKind::Order, order(77), 1)]).await;
    assert_same(rep, report(1, 0, vec![]), "delete of an unknown order");
    // A delete naming an invalid id refuses the whole batch.
    let err = graph
        .apply(&[
            delete(EntityKind::Review, review(2), 2),
            GraphChange::Delete {
                entity: EntityRef {
                    kind: EntityKind::User,
                    id: "not-an-id".into(),
                },
                version: 1,
            },
        ])
        .await
        .err();
    assert!(
        matches!(err, Some(Error::Invalid { .. })),
        "invalid id: {err:?}"
    );
    expect_counts(graph, counts(6, 3, 9, 9, 1, 13, 5), "unchanged").await;
}

/// A product update with another category moves it; a move to a missing category waits.
pub async fn product_category_moves(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let rep = apply(graph, &[product_in(4, "Books", 2)]).await;
    assert_same(rep, report(1, 0, vec![]), "move P4 to Books");
    let got = ok(graph.popular(&popular(Some("Games"))).await, "popular");
    assert_scored(&got, &[p(3, 2.0)], "popular in Games");
    let got = ok(graph.popular(&popular(Some("Books"))).await, "popular");
    assert_scored(
        &got,
        &[p(1, 4.0), p(2, 2.0), p(4, 1.0), p(8, 1.0)],
        "popular in Books",
    );
    let rep = apply(graph, &[product_in(4, "Toys", 3)]).await;
    let p4 = EntityRef::new(EntityKind::Product, product(4));
    assert_same(rep, report(0, 0, vec![p4]), "move to a missing category");
    let got = ok(
        graph
            .records(
                EntityKind::Product,
                Some(&ProductId::from_u128(0x3003).to_string()),
                1,
            )
            .await,
        "records",
    );
    let expected = ProductNode {
        category: "Books".into(),
        version: 2,
        ..fixture::product_node(4)
    };
    assert_same(
        got,
        vec![GraphRecord::Product(expected)],
        "P4 stays in Books",
    );
    // Toys arrives: the move applies.
    let toys = GraphChange::Upsert(GraphRecord::Category(CategoryNode {
        id: category(5),
        name: "Toys".into(),
        version: 1,
    }));
    let rep = apply(graph, &[product_in(4, "Toys", 3), toys]).await;
    assert_same(rep, report(2, 0, vec![]), "move once Toys exists");
    let got = ok(graph.popular(&popular(Some("Toys"))).await, "popular");
    assert_scored(&got, &[p(4, 1.0)], "popular in Toys");
}

/// Views: need both nodes, count once per pair, steer the cold-start categories.
pub async fn record_view_semantics(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    let err = graph
        .record_view(&user(99), &product(1), at_h(1))
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(Error::NotFound {
                kind: EntityKind::User,
                ..
            })
        ),
        "unknown user: {err:?}"
    );
    let err = graph
        .record_view(&user(1), &product(99), at_h(1))
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(Error::NotFound {
                kind: EntityKind::Product,
                ..
            })
        ),
        "unknown product: {err:?}"
    );
    assert_same(current_counts(graph).await.views, 5, "views unchanged");
    for (pr, at) in [(5, at_h(12)), (6, at_h(12)), (5, at_min(1))] {
        ok(graph.record_view(&user(6), &product(pr), at).await, "view");
    }
    assert_same(current_counts(graph).await.views, 7, "one VIEWED per pair");
    // U6 bought P7 (Art), P8 (Books) and viewed P5, P6 (Music: 2). Categories: Music, Art,
    // Books. Music: P5 3, P6 1 (viewed, not bought: allowed). Art: P7 bought. Books: P1 4,
    // P2 2. Overall, not listed or bought: P3 2, P4 1.
    let cat = |c: &str| Reason::PopularInCategory {
        category: c.to_owned(),
    };
    let recs = ok(graph.recommendations_for(&user(6), 10).await, "recs");
    assert_recs(
        &recs,
        &[
            (product(5), 3.0, cat("Music")),
            (product(6), 1.0, cat("Music")),
            (product(1), 4.0, cat("Books")),
            (product(2), 2.0, cat("Books")),
            (product(3), 2.0, Reason::Popular),
            (product(4), 1.0, Reason::Popular),
        ],
        "recommendations for U6 after views",
    );
    // Views are not purchases.
    let got = ok(graph.popular(&popular(Some("Music"))).await, "popular");
    assert_scored(&got, &[p(5, 3.0), p(6, 1.0)], "popular in Music");
}

/// Fan-out caps: only the 100 most recent buyers of a product and the 100 most recent
/// products of a buyer are followed.
pub async fn fan_out_is_capped(graph: &dyn GraphStore) {
    // Category Caps: X, NEW; category Other: OLD, H, Z, G1..G99.
    // B1..B150 each buy X at t0 + i minutes; B1..B50 also OLD, B101..B150 also NEW (same
    // order). W buys H (day 1), then Z (day 1 + 1 min), then G1..G99 (day 1 + 2 min).
    let cat = |n: u128, name: &str| {
        GraphChange::Upsert(GraphRecord::Category(CategoryNode {
            id: category(n),
            name: name.into(),
            version: 1,
        }))
    };
    let prod = |id: ProductId, name: String, category: &str| {
        GraphChange::Upsert(GraphRecord::Product(ProductNode {
            id,
            name,
            category: category.into(),
            price: fixture::usd(100),
            version: 1,
        }))
    };
    let x = ProductId::from_u128(0x3100);
    let old = ProductId::from_u128(0x3101);
    let new = ProductId::from_u128(0x3102);
    let h = ProductId::from_u128(0x3103);
    let z = ProductId::from_u128(0x3104);
    let g = |i: u128| ProductId::from_u128(0x3200 + i);
    let b = |i: u128| UserId::from_u128(0x11000 + i);
    let w = UserId::from_u128(0x12000);
    let mut changes = vec![
        cat(10, "Caps"),
        cat(11, "Other"),
        prod(x, "X".into(), "Caps"),
        prod(new, "NEW".into(), "Caps"),
        prod(old, "OLD".into(), "Other"),
        prod(h, "H".into(), "Other"),
        prod(z, "Z".into(), "Other"),
    ];
    changes.extend((1..=99).map(|i| prod(g(i), format!("G{i}"), "Other")));
    let mut next_order = 0x14000u128;
    let mut buy = |u: UserId, at, products: Vec<ProductId>| {
        next_order += 1;
        GraphChange::Upsert(GraphRecord::Order(OrderPurchases {
            order_id: OrderId::from_u128(next_order),
            user: u,
            placed_at: at,
            items: products
                .into_iter()
                .map(|product| PurchasedItem {
                    product,
                    quantity: 1,
                    unit_price: fixture::usd(100),
                })
                .collect(),
            version: 1,
        }))
    };
    let mut users = vec![(w, "w".to_owned())];
    for i in 1..=150u128 {
        users.push((b(i), format!("b{i}")));
        let mut items = vec![x];
        if i <= 50 {
            items.push(old);
        }
        if i > 100 {
            items.push(new);
        }
        changes.push(buy(b(i), at_min(i as i64), items));
    }
    let day = 24 * 60;
    changes.push(buy(w, at_min(day), vec![h]));
    changes.push(buy(w, at_min(day + 1), vec![z]));
    changes.push(buy(w, at_min(day + 2), (1..=99).map(g).collect()));
    changes.extend(users.into_iter().map(|(id, name)| {
        GraphChange::Upsert(GraphRecord::User(UserNode {
            id,
            email: format!("{name}@example.com"),
            username: name,
            version: 1,
        }))
    }));
    let rep = apply(graph, &changes).await;
    assert_same(rep.deferred, vec![], "cap dataset deferred");

    // X's recent buyers are B150..B51: B101..B150 reach NEW (50), B51..B100 nothing else.
    // Following all 150 buyers would also give OLD 50 (and rank it first, by id).
    let got = ok(graph.also_bought(&x, 100).await, "also bought X");
    assert_scored(&got, &[(new, 50.0)], "also bought X (buyers capped)");

    // W's recent products are G1..G99 (day + 2 min, by id) and Z: H is the 101st and is not
    // followed (the cap applies before Z itself is left out).
    let got = ok(graph.also_bought(&z, 100).await, "also bought Z");
    let expected: Vec<(ProductId, f64)> = (1..=99).map(|i| (g(i), 1.0)).collect();
    assert_scored(&got, &expected, "also bought Z (products per buyer capped)");

    // B150's seeds X (rank 0, by id), NEW (same order). Neighbour lists follow every buyer
    // (their caps are 1000): X's holds OLD and NEW, each via 50 buyers of 2 lines (X 150
    // buyers, OLD and NEW 50); NEW's holds only X. So OLD, because X. The user-based walk
    // this replaced saw only X's 100 recent buyers and recommended OLD as merely popular.
    refresh_all(graph).await;
    let recs = ok(graph.recommendations_for(&b(150), 1).await, "recs B150");
    let co = (1..=50).map(|_| buyer_weight(2)).sum::<f64>();
    assert_recs(
        &recs,
        &[(
            old,
            round_score(seed_weight(0) * neighbour_similarity(co, 150, 50)),
            Reason::CoPurchased { because: vec![x] },
        )],
        "recommendations for B150",
    );

    // Similar users of B150 {X, NEW}: candidates are X's recent buyers B149..B51 and NEW's
    // B149..B101. B101..B149 {X, NEW}: 1.0 (shared 2); B51..B100 {X}: 0.5 (shared 1).
    // B1..B50 (0.33) are beyond the cap.
    let got = ok(graph.similar_users(&b(150), 100).await, "similar users");
    let got: Vec<(UserId, u64)> = got.iter().map(|s| (s.user, s.shared)).collect();
    let mut expected: Vec<(UserId, u64)> = (101..=149).map(|i| (b(i), 2)).collect();
    expected.extend((51..=100).map(|i| (b(i), 1)));
    assert_same(got, expected, "similar users of B150 (buyers capped)");
}

/// Forgetting a tombstone lets an upsert of any version back in; live entities are untouched.
pub async fn forgetting_tombstones(graph: &dyn GraphStore) {
    ok(fixture::load(graph).await, "load");
    apply(graph, &[delete(EntityKind::Review, review(1), 3)]).await;
    let r1 = EntityRef::new(EntityKind::Review, review(1));
    let u1 = EntityRef::new(EntityKind::User, user(1));
    let forgotten = ok(graph.forget_tombstones(&[r1.clone(), u1]).await, "forget");
    assert_same(forgotten, 1, "tombstones forgotten (R1; U1 is live)");
    let again = ok(graph.forget_tombstones(&[r1]).await, "forget again");
    assert_same(again, 0, "nothing left to forget");
    let rep = apply(
        graph,
        &[GraphChange::Upsert(GraphRecord::Review(
            fixture::review_edge(1),
        ))],
    )
    .await;
    assert_same(
        rep,
        report(1, 0, vec![]),
        "R1 at version 1 after forgetting",
    );
    expect_counts(graph, counts(6, 4, 9, 10, 2, 15, 5), "counts").await;
}
