//! `apply` against a real Neo4j: idempotence, version guards, deferral, deletes, and agreement
//! with `MemoryGraph`.

mod common;

use chrono::Duration;
use common::*;
use swiftbox_core::memory::MemoryGraph;
use swiftbox_core::{EntityKind, EntityRef, Error, GraphChange, GraphStore, Reason, TrendingQuery};

#[tokio::test]
async fn migrate_is_idempotent_and_connect_checks_the_server() {
    let Some(g) = graph("migrate_is_idempotent").await else {
        return;
    };
    g.migrate().await.expect("second migrate");
    g.ping().await.expect("ping");
    let counts = g.counts().await.expect("counts");
    assert!(counts.entities.values().all(|n| *n == 0), "{counts:?}");
    assert_eq!(counts.entities.len(), 5, "{counts:?}");
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn replaying_a_batch_three_times_changes_nothing() {
    let Some(g) = graph("replay_three_times").await else {
        return;
    };
    let data = dataset(7, 20, 25, 60);
    let first = g.apply(&data.changes).await.expect("apply");
    assert_eq!(first.applied as usize, data.changes.len(), "{first:?}");
    let counts = g.counts().await.expect("counts");
    let records = all_records(&g).await;
    assert!(counts.purchases > 60, "{counts:?}");
    for round in 0..3 {
        let again = g.apply(&data.changes).await.expect("replay");
        assert_eq!(again, first, "round {round}");
        assert_eq!(g.counts().await.expect("counts"), counts, "round {round}");
        assert_eq!(all_records(&g).await, records, "round {round}");
    }
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn an_older_version_after_a_newer_one_keeps_the_newer() {
    let Some(g) = graph("older_after_newer").await else {
        return;
    };
    g.apply(&[up(category(0, 1)), up(category(1, 1)), up(user(1, 1))])
        .await
        .expect("apply");
    let newer = [
        up(product(1, 1, 5)),
        up(order(1, 1, &[(1, 2)], now(), 4)),
        up(user(1, 3)),
    ];
    let r = g.apply(&newer).await.expect("newer");
    assert_eq!((r.applied, r.stale), (3, 0), "{r:?}");
    let older = [
        up(product(1, 0, 4)),
        up(order(1, 1, &[(1, 9)], now(), 2)),
        up(user(1, 2)),
    ];
    let r = g.apply(&older).await.expect("older");
    assert_eq!((r.applied, r.stale), (0, 3), "{r:?}");
    let products = g.records(EntityKind::Product, None, 10).await.unwrap();
    assert_eq!(products, vec![product(1, 1, 5)]);
    let orders = g.records(EntityKind::Order, None, 10).await.unwrap();
    assert_eq!(orders, vec![order(1, 1, &[(1, 2)], now(), 4)]);
    let users = g.records(EntityKind::User, None, 10).await.unwrap();
    assert_eq!(users, vec![user(1, 3)]);

    // In one batch, whatever the order of the slice, the highest version wins.
    let r = g
        .apply(&[up(user(1, 9)), up(user(1, 7)), up(user(1, 8))])
        .await
        .unwrap();
    assert_eq!((r.applied, r.stale), (1, 2), "{r:?}");
    assert_eq!(
        g.records(EntityKind::User, None, 10).await.unwrap(),
        vec![user(1, 9)]
    );

    // A delete is remembered: an older upsert replayed afterwards does not resurrect.
    let del = GraphChange::Delete {
        entity: EntityRef::new(EntityKind::User, user_id(1)),
        version: 10,
    };
    assert_eq!(
        g.apply(std::slice::from_ref(&del)).await.unwrap().applied,
        1
    );
    let r = g.apply(&[up(user(1, 9))]).await.unwrap();
    assert_eq!((r.applied, r.stale), (0, 1), "{r:?}");
    let r = g.apply(&[up(user(1, 10))]).await.unwrap();
    assert_eq!(
        (r.applied, r.stale),
        (0, 1),
        "same version as the delete: {r:?}"
    );
    assert!(g
        .records(EntityKind::User, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Deleting the user removed its purchases too.
    assert_eq!(g.counts().await.unwrap().purchases, 0);
    let r = g.apply(&[up(user(1, 11))]).await.unwrap();
    assert_eq!(r.applied, 1, "a newer upsert brings it back: {r:?}");
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn changes_with_missing_references_are_deferred_and_write_nothing() {
    let Some(g) = graph("deferral").await else {
        return;
    };
    g.apply(&[up(category(0, 1)), up(user(1, 1)), up(product(1, 0, 1))])
        .await
        .unwrap();
    let batch = [
        up(order(1, 1, &[(1, 1), (2, 1)], now(), 1)), // product 2 missing
        up(order(2, 9, &[(1, 1)], now(), 1)),         // user 9 missing
        up(order(3, 1, &[(1, 3)], now(), 1)),         // fine
        up(review(1, 1, 2, 5, 1)),                    // product 2 missing
        up(product(3, 2, 1)),                         // category Music missing
    ];
    let r = g.apply(&batch).await.unwrap();
    let mut expected = vec![
        EntityRef::new(EntityKind::Order, order_id(1)),
        EntityRef::new(EntityKind::Order, order_id(2)),
        EntityRef::new(EntityKind::Review, review_id(1)),
        EntityRef::new(EntityKind::Product, product_id(3)),
    ];
    expected.sort();
    assert_eq!(r.deferred, expected, "{r:?}");
    assert_eq!((r.applied, r.stale), (1, 0), "{r:?}");
    let counts = g.counts().await.unwrap();
    assert_eq!(counts.purchases, 1, "only order 3: {counts:?}");
    assert_eq!(counts.entities[&EntityKind::Review], 0);
    assert_eq!(counts.entities[&EntityKind::Product], 1);

    // Once the references arrive, the same changes apply.
    let r = g
        .apply(&[
            up(product(2, 0, 1)),
            up(category(2, 1)),
            batch[0].clone(),
            batch[4].clone(),
        ])
        .await
        .unwrap();
    assert!(r.deferred.is_empty(), "{r:?}");
    assert_eq!(g.counts().await.unwrap().purchases, 3);
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn order_upserts_replace_purchases_and_category_changes_move_belongs_to() {
    let Some(g) = graph("replace_and_move").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let base = [
        up(category(0, 1)),
        up(category(1, 1)),
        up(user(1, 1)),
        up(product(1, 0, 1)),
        up(product(2, 0, 1)),
        up(product(3, 0, 1)),
        up(order(1, 1, &[(1, 1), (2, 2)], now(), 1)),
    ];
    let steps: Vec<Vec<GraphChange>> = vec![
        base.to_vec(),
        vec![up(order(1, 1, &[(2, 5), (3, 1)], now(), 2))],
        vec![up(product(2, 1, 2))],
        vec![GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Product, product_id(3)),
            version: 2,
        }],
        vec![GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Order, order_id(1)),
            version: 3,
        }],
    ];
    for (i, step) in steps.iter().enumerate() {
        let a = g.apply(step).await.unwrap();
        let b = mem.apply(step).await.unwrap();
        assert_eq!(a, b, "step {i}");
        assert_eq!(all_records(&g).await, all_records(&mem).await, "step {i}");
        assert_eq!(
            g.counts().await.unwrap(),
            mem.counts().await.unwrap(),
            "step {i}"
        );
        if i == 2 {
            // Product 2 moved from Books to Games: exactly one BELONGS_TO, to Games.
            assert_eq!(belongs_to(&g, 2).await, vec!["Games".to_owned()]);
        }
    }
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn record_view_counts_and_keeps_the_latest_time() {
    let Some(g) = graph("record_view").await else {
        return;
    };
    g.apply(&[up(category(0, 1)), up(user(1, 1)), up(product(1, 0, 1))])
        .await
        .unwrap();
    g.record_view(&user_id(1), &product_id(1), now())
        .await
        .unwrap();
    g.record_view(&user_id(1), &product_id(1), now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(g.counts().await.unwrap().views, 1);
    let err = g
        .record_view(&user_id(2), &product_id(1), now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: EntityKind::User,
                ..
            }
        ),
        "{err}"
    );
    let err = g
        .record_view(&user_id(1), &product_id(2), now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: EntityKind::Product,
                ..
            }
        ),
        "{err}"
    );
    g.wipe().await.expect("wipe");
}

#[tokio::test]
async fn the_dataset_gives_the_same_reports_records_and_answers_as_memory() {
    let Some(g) = graph("same_as_memory").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let data = dataset(42, 30, 40, 120);
    load(&g, &data).await;
    load(&mem, &data).await;
    let users: Vec<_> = (0..data.users).map(user_id).collect();
    let products: Vec<_> = (0..data.products).step_by(3).map(product_id).collect();
    assert_same_answers(&g, &mem, &users, &products).await;

    // The comparison covered every branch: co-purchases, category fill and popular fill.
    let mut reasons = std::collections::BTreeSet::new();
    for u in &users {
        for r in g.recommendations_for(u, 20).await.unwrap() {
            reasons.insert(match r.reason {
                Reason::CoPurchased { because } => {
                    assert!(!because.is_empty() && because.len() <= 3);
                    "co"
                }
                Reason::PopularInCategory { .. } => "category",
                Reason::Popular => "popular",
            });
        }
    }
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(!g.similar_users(&users[0], 5).await.unwrap().is_empty());
    assert!(!g
        .trending(&TrendingQuery {
            now: now(),
            ..TrendingQuery::new(5)
        })
        .await
        .unwrap()
        .is_empty());

    // Unknown ids are no error: empty history, cold-start fallback.
    let ghost = swiftbox_core::UserId::from_u128(1);
    assert_eq!(
        g.recommendations_for(&ghost, 5).await.unwrap(),
        mem.recommendations_for(&ghost, 5).await.unwrap()
    );
    let err = g.recommendations_for(&ghost, 0).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let err = g.records(EntityKind::User, None, 0).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    g.wipe().await.expect("wipe");
}

/// The names of the categories product `n` has a `BELONGS_TO` to, read with the raw driver.
/// A bulk load (`apply_bulk`, in batches, the projections left behind) followed by
/// `rebuild_projections` answers every query exactly as memory does after plain applies:
/// popularity counters, recent buyers, trend buckets, neighbour lists and bought sets are all
/// rebuilt. A
/// plain apply in between (moving counters the bulk load never set) is counted once.
#[tokio::test]
async fn a_bulk_load_and_one_rebuild_answer_like_plain_applies() {
    let Some(g) = graph("bulk_load").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let data = dataset(7, 30, 40, 120);
    // The last order upsert goes through a plain apply, between the bulk calls and the
    // rebuild, as a concurrent writer's would.
    let last_order = data
        .changes
        .iter()
        .rposition(|c| matches!(c, GraphChange::Upsert(swiftbox_core::GraphRecord::Order(_))))
        .expect("an order");
    let mut bulk = data.changes.clone();
    let plain = [bulk.remove(last_order)];
    for chunk in bulk.chunks(50) {
        let report = g.apply_bulk(chunk).await.expect("bulk apply");
        assert!(report.deferred.is_empty(), "{report:?}");
    }
    g.apply(&plain).await.expect("plain apply");
    g.rebuild_projections().await.expect("rebuild");
    common::bought::assert_bought_exact(&g, "after the rebuild").await;
    for (u, p, at) in &data.views {
        g.record_view(u, p, *at).await.expect("record view");
    }
    common::refresh_neighbours(&g).await;
    load(&mem, &data).await;
    let users: Vec<_> = (0..data.users).map(user_id).collect();
    let products: Vec<_> = (0..data.products).step_by(3).map(product_id).collect();
    assert_same_answers(&g, &mem, &users, &products).await;
    g.wipe().await.expect("wipe");
}

async fn belongs_to(g: &swiftbox_neo4j::Neo4jGraph, n: u128) -> Vec<String> {
    let server = swiftbox_testsupport::neo4j().await.expect("server");
    let ns = g.config().namespace().expect("namespace");
    let raw = neo4rs::Graph::new(&server.uri, &server.user, &server.password)
        .await
        .expect("raw connect");
    let q = format!(
        "MATCH (:`{ns}_Product` {{id: $id}})-[:`{ns}_BELONGS_TO`]->(c:`{ns}_Category`) RETURN c.name AS name ORDER BY name"
    );
    let mut rows = raw
        .execute(neo4rs::query(&q).param("id", product_id(n).to_string()))
        .await
        .expect("raw query");
    let mut names = Vec::new();
    while let Some(row) = rows.next().await.expect("row") {
        names.push(row.get::<String>("name").expect("name"));
    }
    names
}
