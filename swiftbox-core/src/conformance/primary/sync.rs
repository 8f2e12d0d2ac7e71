//! The sync bookkeeping: owed changes, acknowledgements, tombstones, failures, partitions,
//! stats and the expected graph.

use std::collections::BTreeSet;

use super::support::*;
use crate::changes;
use crate::prelude::*;
use crate::primary::{
    sync_bucket, ChangeAck, FailureRecord, OwedChange, OwedQuery, Partition, Partitions,
};
use crate::{
    EntityKind, EntityRef, GraphChange, GraphRecord, OrderStatus, OrderStatusPatch, ProductPatch,
    ReviewPatch, UserPatch,
};

fn eref(kind: EntityKind, id: impl std::fmt::Display) -> EntityRef {
    EntityRef::new(kind, id)
}

async fn ack(store: &dyn PrimaryBackend, entity: &EntityRef, version: u64) {
    ok(
        store
            .ack_changes(&[ChangeAck {
                entity: entity.clone(),
                version,
            }])
            .await,
        "ack",
    );
}

/// Acknowledges everything owed right now.
async fn ack_all(store: &dyn PrimaryBackend) {
    let acks: Vec<ChangeAck> = all_owed(store)
        .await
        .into_iter()
        .map(|c| ChangeAck {
            entity: c.entity,
            version: c.version,
        })
        .collect();
    ok(store.ack_changes(&acks).await, "ack all");
}

fn rank(kind: EntityKind) -> usize {
    EntityKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(99)
}

fn assert_owed_order(list: &[OwedChange]) {
    for w in list.windows(2) {
        let a = (w[0].owed_since, rank(w[0].entity.kind), &w[0].entity.id);
        let b = (w[1].owed_since, rank(w[1].entity.kind), &w[1].entity.id);
        assert!(
            a < b,
            "owed changes out of order: {:?} before {:?}",
            w[0].entity,
            w[1].entity
        );
    }
}

/// Every write owes exactly the change `changes::*` derives from the entity as it is now, at
/// its version; several writes owe one change at the latest version, owed since the first.
pub async fn writes_owe_one_change_each(store: &dyn PrimaryBackend) {
    let t0 = crate::time::now();
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let u = user(store, "ann").await;
    let o = order(store, &u, &[(&p, 2)]).await;
    let r = review(store, &u, &p, 5).await;
    let t1 = crate::time::now();

    let expect = [
        (
            eref(EntityKind::Category, cat.id),
            1,
            GraphChange::Upsert(changes::category_record(&cat)),
        ),
        (
            eref(EntityKind::Product, p.id),
            1,
            GraphChange::Upsert(changes::product_record(&p)),
        ),
        (
            eref(EntityKind::User, u.id),
            1,
            GraphChange::Upsert(changes::user_record(&u)),
        ),
        (
            eref(EntityKind::Order, o.id),
            1,
            changes::order_change(&o, true, |_| true),
        ),
        (
            eref(EntityKind::Review, r.id),
            1,
            changes::review_change(&r, true, true),
        ),
    ];
    for (entity, version, change) in &expect {
        let c = owed(store, entity.clone()).await;
        assert_eq!(&c.entity, entity);
        assert_eq!(c.version, *version, "{entity}: version");
        assert_eq!(&c.change, change, "{entity}: owed change content");
        assert_eq!(c.change.version(), *version);
        assert_eq!(
            (c.attempts, c.set_aside, c.last_error.as_deref()),
            (0, false, None)
        );
        assert!(
            t0 <= c.owed_since && c.owed_since <= t1,
            "{entity}: owed_since"
        );
    }
    let all = all_owed(store).await;
    assert_eq!(all.len(), 5, "one owed change per entity");

    // Several writes: one change, at the latest version, owed since the first write.
    let first = owed(store, eref(EntityKind::Product, p.id)).await;
    ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    name: Some("Dune I".into()),
                    ..ProductPatch::default()
                },
            )
            .await,
        "update 1",
    );
    let p3 = ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    stock: Some(9),
                    ..ProductPatch::default()
                },
            )
            .await,
        "update 2",
    );
    assert_eq!(p3.version, 3);
    let c = owed(store, eref(EntityKind::Product, p.id)).await;
    assert_eq!(c.version, 3);
    assert_eq!(c.change, GraphChange::Upsert(changes::product_record(&p3)));
    assert_eq!(
        c.owed_since, first.owed_since,
        "owed since the first unacknowledged write"
    );
    assert_eq!(all_owed(store).await.len(), 5);

    // Every kind of write owes: user update, order status, review update.
    let u2 = ok(
        store
            .update_user(
                &u.id,
                UserPatch {
                    is_admin: Some(true),
                    ..UserPatch::default()
                },
            )
            .await,
        "update user",
    );
    let o2 = ok(
        store
            .update_order_status(
                &o.id,
                OrderStatusPatch {
                    status: Some(OrderStatus::Shipped),
                    payment_status: None,
                },
            )
            .await,
        "update order",
    );
    let r2 = ok(
        store
            .update_review(
                &r.id,
                ReviewPatch {
                    rating: Some(2),
                    comment: None,
                },
            )
            .await,
        "update review",
    );
    let checks = [
        (
            eref(EntityKind::User, u.id),
            2,
            GraphChange::Upsert(changes::user_record(&u2)),
        ),
        (
            eref(EntityKind::Order, o.id),
            2,
            changes::order_change(&o2, true, |_| true),
        ),
        (
            eref(EntityKind::Review, r.id),
            2,
            changes::review_change(&r2, true, true),
        ),
    ];
    for (entity, version, change) in checks {
        let c = owed(store, entity.clone()).await;
        assert_eq!(
            (c.version, &c.change),
            (version, &change),
            "{entity} after update"
        );
    }
    assert!(ok(
        store
            .owed_change(&eref(EntityKind::User, crate::UserId::generate()))
            .await,
        "unknown"
    )
    .is_none());
}

/// An acknowledgement settles an entity only at its current version; an older one leaves it
/// owed, and unknown entities or versions change nothing.
pub async fn ack_settles_only_the_acknowledged_version(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let e = eref(EntityKind::Product, p.id);
    let read = owed(store, e.clone()).await;
    assert_eq!(read.version, 1);
    // A write lands between reading the owed change and acknowledging it.
    ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    stock: Some(1),
                    ..ProductPatch::default()
                },
            )
            .await,
        "update",
    );
    ack(store, &e, read.version).await;
    let still = owed(store, e.clone()).await;
    assert_eq!(
        still.version, 2,
        "an older ack leaves the newer version owed"
    );
    assert_eq!(still.owed_since, read.owed_since);

    let before = snapshot(store).await;
    ack(store, &e, 3).await;
    ack(
        store,
        &eref(EntityKind::Product, crate::ProductId::generate()),
        1,
    )
    .await;
    ack(store, &eref(EntityKind::Order, p.id), 2).await;
    ok(store.ack_changes(&[]).await, "empty ack");
    assert_unchanged(store, &before, "acks of unknown entities or versions").await;

    ack(store, &e, 2).await;
    assert!(ok(store.owed_change(&e).await, "owed").is_none(), "settled");
    assert!(all_owed(store).await.iter().all(|c| c.entity != e));
    ack(store, &e, 2).await; // twice is harmless
    assert!(ok(store.owed_change(&e).await, "owed").is_none());

    // The category is still owed; a new write owes the product again.
    assert!(ok(
        store.owed_change(&eref(EntityKind::Category, cat.id)).await,
        "cat"
    )
    .is_some());
    let p3 = ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    name: Some("Dune 2".into()),
                    ..ProductPatch::default()
                },
            )
            .await,
        "update after ack",
    );
    let again = owed(store, e.clone()).await;
    assert_eq!((again.version, again.attempts), (3, 0));
    assert!(again.owed_since >= read.owed_since);
    assert_eq!(
        again.change,
        GraphChange::Upsert(changes::product_record(&p3))
    );
}

/// A delete leaves a tombstone owing `Delete` at the next version (the entity itself is gone
/// and its unique values are free) until the graph acknowledges it; then it is purged.
pub async fn deletes_leave_tombstones_until_acknowledged(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let cat2 = category(store, "Old").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let u = user(store, "ann").await;
    let r = review(store, &u, &p, 5).await;
    ack_all(store).await;
    assert!(all_owed(store).await.is_empty());

    ok(store.delete_review(&r.id).await, "delete review");
    ok(store.delete_product(&p.id).await, "delete product");
    ok(store.delete_user(&u.id).await, "delete user");
    ok(store.delete_category(&cat2.id).await, "delete category");
    let gone = [
        (eref(EntityKind::Review, r.id), r.version + 1),
        (eref(EntityKind::Product, p.id), p.version + 1),
        (eref(EntityKind::User, u.id), u.version + 1),
        (eref(EntityKind::Category, cat2.id), cat2.version + 1),
    ];
    for (entity, version) in &gone {
        let c = owed(store, entity.clone()).await;
        assert_eq!(c.version, *version, "{entity}: tombstone version");
        assert_eq!(
            c.change,
            GraphChange::Delete {
                entity: entity.clone(),
                version: *version
            },
            "{entity}: tombstone change"
        );
    }
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!(stats.owed, 4);
    assert_eq!(count(&stats, EntityKind::Product), 0);
    assert_eq!(count(&stats, EntityKind::User), 0);
    assert_eq!(count(&stats, EntityKind::Review), 0);
    assert_eq!(count(&stats, EntityKind::Category), 1);
    assert_not_found(
        store.get_product(&p.id).await,
        EntityKind::Product,
        "tombstone is not live",
    );
    // Unique values are released while the tombstone waits.
    let u2 = user(store, "ann").await;
    ack(store, &eref(EntityKind::User, u2.id), 1).await;

    // An older ack leaves the tombstone; the right one purges it.
    ack(store, &gone[1].0, p.version).await;
    assert!(ok(store.owed_change(&gone[1].0).await, "owed").is_some());
    ok(
        store
            .ack_changes(
                &gone
                    .iter()
                    .map(|(e, v)| ChangeAck {
                        entity: e.clone(),
                        version: *v,
                    })
                    .collect::<Vec<_>>(),
            )
            .await,
        "ack tombstones",
    );
    for (entity, _) in &gone {
        assert!(
            ok(store.owed_change(entity).await, "owed").is_none(),
            "{entity} purged"
        );
    }
    assert_eq!(ok(store.sync_stats().await, "stats").owed, 0);

    // A delete before the graph ever heard of the entity still owes the delete.
    let q = product(store, &cat, "Emma", 500, 1).await;
    ok(store.delete_product(&q.id).await, "delete fresh product");
    let c = owed(store, eref(EntityKind::Product, q.id)).await;
    assert_eq!(
        c.change,
        GraphChange::Delete {
            entity: eref(EntityKind::Product, q.id),
            version: 2
        }
    );
    assert_eq!(all_owed(store).await.len(), 1);
}

/// An owed order or review is computed from the world as it is: items of deleted products are
/// left out, and it becomes a `Delete` (at its own version) once its user is gone or none of
/// its products is left.
pub async fn dependents_of_deleted_entities_become_deletes(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p1 = product(store, &cat, "Dune", 1999, 5).await;
    let p2 = product(store, &cat, "Emma", 500, 5).await;
    let ann = user(store, "ann").await;
    let bob = user(store, "bob").await;
    let o1 = order(store, &ann, &[(&p1, 1), (&p2, 1)]).await;
    let o2 = order(store, &bob, &[(&p1, 2)]).await;
    let r_ann = review(store, &ann, &p2, 4).await;
    let r_bob = review(store, &bob, &p1, 3).await;
    let oe1 = eref(EntityKind::Order, o1.id);
    let oe2 = eref(EntityKind::Order, o2.id);

    ok(store.delete_product(&p2.id).await, "delete p2");
    let c = owed(store, oe1.clone()).await;
    assert_eq!(c.change, changes::order_change(&o1, true, |p| *p == p1.id));
    match &c.change {
        GraphChange::Upsert(GraphRecord::Order(op)) => {
            assert_eq!(
                op.items.iter().map(|i| i.product).collect::<Vec<_>>(),
                vec![p1.id]
            );
        }
        other => panic!("expected the order's remaining purchases, got {other:?}"),
    }
    let c = owed(store, eref(EntityKind::Review, r_ann.id)).await;
    assert_eq!(
        (c.version, c.change),
        (
            1,
            GraphChange::Delete {
                entity: eref(EntityKind::Review, r_ann.id),
                version: 1
            }
        ),
        "review of a deleted product"
    );

    ok(store.delete_user(&ann.id).await, "delete ann");
    let c = owed(store, oe1.clone()).await;
    assert_eq!(
        (c.version, c.change),
        (
            1,
            GraphChange::Delete {
                entity: oe1.clone(),
                version: 1
            }
        )
    );
    assert_eq!(
        owed(store, oe2.clone()).await.change,
        changes::order_change(&o2, true, |_| true)
    );
    // The order itself stays readable in the primary store.
    assert_eq!(
        ok(store.get_order(&o1.id).await, "order outlives user").id,
        o1.id
    );

    ok(store.delete_product(&p1.id).await, "delete p1");
    let c = owed(store, oe2.clone()).await;
    assert_eq!(
        c.change,
        GraphChange::Delete {
            entity: oe2.clone(),
            version: 1
        },
        "no product left"
    );
    let c = owed(store, eref(EntityKind::Review, r_bob.id)).await;
    assert!(
        matches!(c.change, GraphChange::Delete { .. }),
        "review of deleted product"
    );

    // Acknowledging the derived delete settles the order at its version.
    ack(store, &oe1, 1).await;
    assert!(ok(store.owed_change(&oe1).await, "owed").is_none());
    for kind in [EntityKind::Order, EntityKind::Review] {
        let recs = ok(
            store.expected_graph(kind, None, 100).await,
            "expected graph",
        );
        assert!(
            recs.is_empty(),
            "{kind}: nothing left for the graph, got {recs:?}"
        );
    }
}

/// Owed changes come longest-owed first, then by kind in `EntityKind::ALL` order, then id;
/// `limit` takes a prefix; partitions split the owed set disjointly and completely by
/// `Partition::contains`; bad queries are invalid.
pub async fn owed_order_and_partitions(store: &dyn PrimaryBackend) {
    let mut expected = BTreeSet::new();
    for i in 0..3 {
        let c = category(store, &format!("c{i}")).await;
        expected.insert(eref(EntityKind::Category, c.id));
        for j in 0..4 {
            let p = product(store, &c, &format!("p{i}{j}"), 100, 10).await;
            expected.insert(eref(EntityKind::Product, p.id));
        }
        let u = user(store, &format!("u{i}")).await;
        expected.insert(eref(EntityKind::User, u.id));
    }
    let all = all_owed(store).await;
    assert_owed_order(&all);
    assert_eq!(
        all.iter()
            .map(|c| c.entity.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(all.len(), expected.len());

    let first3 = ok(store.owed_changes(&OwedQuery::oldest(3)).await, "limit 3");
    assert_eq!(first3, all[..3].to_vec(), "limit takes the oldest");

    for count in [1, 2, 4, 7] {
        let mut union = Vec::new();
        for index in 0..count {
            let partition = Partition { index, count };
            let q = OwedQuery {
                partitions: partition.into(),
                ..OwedQuery::oldest(10_000)
            };
            let part = ok(store.owed_changes(&q).await, "partition");
            assert_owed_order(&part);
            for c in &part {
                assert!(
                    partition.contains(&c.entity.id),
                    "{} not in {partition:?}",
                    c.entity
                );
            }
            union.extend(part.into_iter().map(|c| c.entity));
        }
        let distinct: BTreeSet<_> = union.iter().cloned().collect();
        assert_eq!(distinct.len(), union.len(), "{count} partitions overlap");
        assert_eq!(distinct, expected, "{count} partitions miss entities");
    }

    // A set of partitions selects exactly its members' entities, in the same order; no
    // partition selects nothing.
    for indexes in [vec![], vec![5], vec![0, 2, 6], (0..7).collect::<Vec<u32>>()] {
        let partitions = ok(Partitions::new(7, indexes.clone()), "partitions");
        let q = OwedQuery {
            partitions: partitions.clone(),
            ..OwedQuery::oldest(10_000)
        };
        let got = ok(store.owed_changes(&q).await, "partition set");
        let want: Vec<OwedChange> = all
            .iter()
            .filter(|c| indexes.contains(&(sync_bucket(&c.entity.id) % 7)))
            .cloned()
            .collect();
        assert_eq!(got, want, "partitions {indexes:?} of 7");
    }

    let before = snapshot(store).await;
    for limit in [0, 10_001] {
        assert_invalid(
            store.owed_changes(&OwedQuery::oldest(limit)).await,
            "limit",
            "owed limit",
        );
    }
    for partition in [
        Partition { index: 4, count: 4 },
        Partition { index: 0, count: 0 },
        Partition {
            index: 0,
            count: 1025,
        },
    ] {
        let q = OwedQuery {
            partitions: partition.into(),
            ..OwedQuery::oldest(10)
        };
        assert_invalid(store.owed_changes(&q).await, "partition", "bad partition");
    }
    assert_unchanged(store, &before, "bad owed queries").await;
}

/// `owed_before` keeps only changes owed since strictly before the given time.
pub async fn owed_before_filter(store: &dyn PrimaryBackend) {
    let a = category(store, "early").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cut = crate::time::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let b = category(store, "late").await;
    let query = |owed_before| OwedQuery {
        owed_before,
        ..OwedQuery::oldest(100)
    };
    let ids = |v: Vec<OwedChange>| v.into_iter().map(|c| c.entity.id).collect::<Vec<_>>();

    let early = ok(store.owed_changes(&query(Some(cut))).await, "before cut");
    assert_eq!(ids(early), vec![a.id.to_string()]);
    let both = ok(store.owed_changes(&query(None)).await, "all");
    assert_eq!(ids(both), vec![a.id.to_string(), b.id.to_string()]);
    let a_since = owed(store, eref(EntityKind::Category, a.id))
        .await
        .owed_since;
    let none = ok(
        store.owed_changes(&query(Some(a_since))).await,
        "at the first",
    );
    assert!(none.is_empty(), "owed_before is exclusive");
}

/// Failed attempts are counted per version; at `set_aside_after` the change is set aside (left
/// out unless `include_set_aside`), until a new write or `release_set_aside`. Failures of other
/// versions or settled entities change nothing; `set_aside_after == 0` never sets aside.
pub async fn failures_set_aside_and_release(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let e = eref(EntityKind::Product, p.id);
    let fail = |version: u64, msg: &'static str, after: u32| {
        let e = e.clone();
        async move {
            ok(
                store
                    .record_sync_failure(&e, version, msg, after, None)
                    .await,
                "record failure",
            )
        }
    };

    assert_eq!(
        fail(1, "boom 1", 3).await,
        FailureRecord {
            attempts: 1,
            set_aside: false
        }
    );
    let c = owed(store, e.clone()).await;
    assert_eq!(
        (c.attempts, c.last_error.as_deref(), c.set_aside),
        (1, Some("boom 1"), false)
    );
    assert_eq!(
        ok(store.sync_stats().await, "stats").last_error.as_deref(),
        Some("boom 1")
    );
    assert_eq!(
        fail(1, "boom 2", 3).await,
        FailureRecord {
            attempts: 2,
            set_aside: false
        }
    );
    assert_eq!(
        fail(1, "boom 3", 3).await,
        FailureRecord {
            attempts: 3,
            set_aside: true
        }
    );

    let default_q = ok(store.owed_changes(&OwedQuery::oldest(100)).await, "owed");
    assert!(
        default_q.iter().all(|c| c.entity != e),
        "set-aside change left out"
    );
    assert_eq!(default_q.len(), 1, "the category is still there");
    let with = all_owed(store).await;
    let c = with
        .iter()
        .find(|c| c.entity == e)
        .cloned()
        .unwrap_or_else(|| panic!("set-aside change missing with include_set_aside"));
    assert!(c.set_aside && c.attempts == 3);
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!((stats.owed, stats.set_aside), (2, 1));
    assert_eq!(stats.last_error.as_deref(), Some("boom 3"));

    let before = snapshot(store).await;
    assert_eq!(fail(2, "wrong version", 3).await, FailureRecord::default());
    let unknown = eref(EntityKind::Product, crate::ProductId::generate());
    assert_eq!(
        ok(
            store.record_sync_failure(&unknown, 1, "x", 1, None).await,
            "unknown"
        ),
        FailureRecord::default()
    );
    assert_eq!(
        ok(
            store.release_set_aside(Some(&unknown)).await,
            "release unknown"
        ),
        0
    );
    assert_unchanged(store, &before, "failures of other versions").await;

    // A new write takes it back in line with attempts reset.
    ok(
        store
            .update_product(
                &p.id,
                ProductPatch {
                    stock: Some(2),
                    ..ProductPatch::default()
                },
            )
            .await,
        "write",
    );
    let c = owed(store, e.clone()).await;
    assert_eq!((c.version, c.attempts, c.set_aside), (2, 0, false));
    assert_eq!(
        c.last_error.as_deref(),
        Some("boom 3"),
        "the last error is kept until settled"
    );
    assert!(
        ok(store.owed_changes(&OwedQuery::oldest(100)).await, "owed")
            .iter()
            .any(|c| c.entity == e)
    );

    // Release one, then all.
    assert_eq!(
        fail(2, "again", 1).await,
        FailureRecord {
            attempts: 1,
            set_aside: true
        }
    );
    assert_eq!(
        ok(store.release_set_aside(Some(&e)).await, "release one"),
        1
    );
    let c = owed(store, e.clone()).await;
    assert_eq!((c.attempts, c.set_aside), (0, false));
    assert_eq!(
        ok(store.release_set_aside(Some(&e)).await, "release again"),
        0
    );
    let ce = eref(EntityKind::Category, cat.id);
    fail(2, "again", 1).await;
    ok(
        store.record_sync_failure(&ce, 1, "cat", 1, None).await,
        "cat failure",
    );
    assert_eq!(ok(store.sync_stats().await, "stats").set_aside, 2);
    assert_eq!(ok(store.release_set_aside(None).await, "release all"), 2);
    assert_eq!(ok(store.sync_stats().await, "stats").set_aside, 0);
    assert_eq!(
        ok(store.owed_changes(&OwedQuery::oldest(100)).await, "owed").len(),
        2
    );

    // Zero means never.
    for i in 1..=5 {
        assert_eq!(
            fail(2, "x", 0).await,
            FailureRecord {
                attempts: i,
                set_aside: false
            }
        );
    }
    // Settled entities record nothing, and the last error goes with them.
    ack(store, &e, 2).await;
    ack(store, &ce, 1).await;
    assert_eq!(fail(2, "late", 3).await, FailureRecord::default());
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!(
        (stats.owed, stats.set_aside, stats.last_error),
        (0, 0, None)
    );
}

/// `sync_stats` counts live entities by kind, owed and set-aside changes, and the oldest owed
/// time.
pub async fn sync_stats_counts(store: &dyn PrimaryBackend) {
    let empty = ok(store.sync_stats().await, "stats");
    for kind in EntityKind::ALL {
        assert_eq!(count(&empty, kind), 0);
    }
    assert_eq!(
        (
            empty.owed,
            empty.set_aside,
            empty.oldest_owed,
            empty.last_error
        ),
        (0, 0, None, None)
    );

    let cat = category(store, "Books").await;
    let p1 = product(store, &cat, "a", 100, 5).await;
    product(store, &cat, "b", 100, 5).await;
    product(store, &cat, "c", 100, 5).await;
    let u1 = user(store, "ann").await;
    user(store, "bob").await;
    order(store, &u1, &[(&p1, 1)]).await;
    review(store, &u1, &p1, 5).await;
    let stats = ok(store.sync_stats().await, "stats");
    let counts: Vec<u64> = EntityKind::ALL.iter().map(|k| count(&stats, *k)).collect();
    assert_eq!(
        counts,
        vec![1, 2, 3, 1, 1],
        "category, user, product, order, review"
    );
    assert_eq!(stats.owed, 8);
    let oldest = all_owed(store).await.first().map(|c| c.owed_since);
    assert_eq!(stats.oldest_owed, oldest);
    assert_eq!(
        stats.oldest_owed,
        Some(
            owed(store, eref(EntityKind::Category, cat.id))
                .await
                .owed_since
        )
    );

    ack_all(store).await;
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!((stats.owed, stats.oldest_owed), (0, None));
    assert_eq!(count(&stats, EntityKind::Product), 3);
    ok(store.delete_product(&p1.id).await, "delete");
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!((count(&stats, EntityKind::Product), stats.owed), (2, 1));
}

/// `expected_graph` pages through the graph records of live entities of one kind, by id,
/// exactly as `changes::*` derives them, whether or not they are acknowledged.
pub async fn expected_graph_pages(store: &dyn PrimaryBackend) {
    let books = category(store, "Books").await;
    let games = category(store, "Games").await;
    let mut products = Vec::new();
    for i in 0..5 {
        let c = if i % 2 == 0 { &books } else { &games };
        products.push(product(store, c, &format!("p{i}"), 100 + i, 50).await);
    }
    let ann = user(store, "ann").await;
    let bob = user(store, "bob").await;
    let o1 = order(store, &ann, &[(&products[0], 1), (&products[1], 2)]).await;
    let o2 = order(store, &bob, &[(&products[2], 1)]).await;
    let o3 = order(store, &ann, &[(&products[3], 3)]).await;
    let r1 = review(store, &ann, &products[0], 5).await;
    let r2 = review(store, &bob, &products[0], 1).await;
    ack_all(store).await; // acknowledged or not makes no difference

    let sorted = |mut v: Vec<GraphRecord>| {
        v.sort_by_key(|r| r.entity().id);
        v
    };
    let expect = |kind: EntityKind| -> Vec<GraphRecord> {
        match kind {
            EntityKind::Category => sorted(vec![
                changes::category_record(&books),
                changes::category_record(&games),
            ]),
            EntityKind::User => {
                sorted(vec![changes::user_record(&ann), changes::user_record(&bob)])
            }
            EntityKind::Product => sorted(products.iter().map(changes::product_record).collect()),
            EntityKind::Order => sorted(
                [&o1, &o2, &o3]
                    .into_iter()
                    .filter_map(|o| match changes::order_change(o, true, |_| true) {
                        GraphChange::Upsert(r) => Some(r),
                        GraphChange::Delete { .. } => None,
                    })
                    .collect(),
            ),
            EntityKind::Review => sorted(
                [&r1, &r2]
                    .into_iter()
                    .filter_map(|r| match changes::review_change(r, true, true) {
                        GraphChange::Upsert(r) => Some(r),
                        GraphChange::Delete { .. } => None,
                    })
                    .collect(),
            ),
        }
    };
    for kind in EntityKind::ALL {
        let whole = ok(
            store.expected_graph(kind, None, 10_000).await,
            "expected graph",
        );
        assert_eq!(whole, expect(kind), "{kind}: expected graph");
        // Page by two.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = ok(
                store.expected_graph(kind, after.as_deref(), 2).await,
                "page",
            );
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            after = Some(last.entity().id);
            paged.extend(page);
        }
        assert_eq!(paged, whole, "{kind}: paging by two");
    }

    // Deleted entities and their dependents drop out.
    ok(store.delete_user(&bob.id).await, "delete bob");
    ok(store.delete_review(&r1.id).await, "delete review");
    let users = ok(
        store.expected_graph(EntityKind::User, None, 100).await,
        "users",
    );
    assert_eq!(users, vec![changes::user_record(&ann)]);
    let orders = ok(
        store.expected_graph(EntityKind::Order, None, 100).await,
        "orders",
    );
    assert!(
        orders.iter().all(|r| r.entity().id != o2.id.to_string()),
        "order of a deleted user"
    );
    assert_eq!(orders.len(), 2);
    let reviews = ok(
        store.expected_graph(EntityKind::Review, None, 100).await,
        "reviews",
    );
    assert!(
        reviews.is_empty(),
        "deleted review and review of a deleted user: {reviews:?}"
    );

    let before = snapshot(store).await;
    for limit in [0, 10_001] {
        assert_invalid(
            store.expected_graph(EntityKind::Product, None, limit).await,
            "limit",
            "limit",
        );
    }
    assert_invalid(
        store
            .expected_graph(EntityKind::Product, Some(r#"{"$gt": ""}"#), 10)
            .await,
        "after",
        "cursor",
    );
    assert_unchanged(store, &before, "bad expected_graph calls").await;
}
