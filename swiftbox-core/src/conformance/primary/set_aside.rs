//! Set-aside changes: their retry schedule, the failed retries, listing and release.

use chrono::Duration;

use super::support::*;
use crate::prelude::*;
use crate::primary::{ChangeAck, FailureRecord, OwedChange, Partition, SetAsideQuery};
use crate::{EntityKind, EntityRef, Error, ProductPatch};

fn ids(changes: &[OwedChange]) -> Vec<EntityRef> {
    changes.iter().map(|c| c.entity.clone()).collect()
}

async fn listed(store: &dyn PrimaryBackend, query: SetAsideQuery) -> Vec<EntityRef> {
    ids(&ok(
        store.set_aside_changes(&query).await,
        "set-aside changes",
    ))
}

/// The call that sets a change aside stores its first retry time; `set_aside_changes` lists
/// the due ones (earliest retry first) or all of them (longest owed first), by partition;
/// `record_retry_failure` counts a failed retry, keeps its error and moves the retry time
/// (`None`: retries are over, still listed, never due); only a set-aside change at that
/// version records it. A release or a new write puts the change back in line with retries and
/// retry time cleared; setting it aside again starts from zero retries. Stats count the
/// set-aside changes and give the oldest one's owed time.
pub async fn set_aside_retries_and_listing(store: &dyn PrimaryBackend) {
    let cat = category(store, "Books").await;
    let p = product(store, &cat, "Dune", 1999, 5).await;
    let q = product(store, &cat, "Emma", 999, 5).await;
    let (c, a, b) = (
        EntityRef::new(EntityKind::Category, cat.id),
        EntityRef::new(EntityKind::Product, p.id),
        EntityRef::new(EntityKind::Product, q.id),
    );
    let now = crate::time::now();
    let (past, later, much_later) = (
        now - Duration::minutes(1),
        now + Duration::hours(1),
        now + Duration::hours(2),
    );

    let empty = ok(store.sync_stats().await, "stats");
    assert_eq!((empty.set_aside, empty.oldest_set_aside), (0, None));
    assert!(listed(store, SetAsideQuery::all(100)).await.is_empty());

    // Set aside at once (threshold 1): `a` due in an hour, `b` due already.
    assert_eq!(
        ok(
            store
                .record_sync_failure(&a, 1, "boom a", 1, Some(later))
                .await,
            "fail a"
        ),
        FailureRecord {
            attempts: 1,
            set_aside: true
        }
    );
    ok(
        store
            .record_sync_failure(&b, 1, "boom b", 1, Some(past))
            .await,
        "fail b",
    );
    let oa = owed(store, a.clone()).await;
    assert_eq!(
        (
            oa.set_aside,
            oa.retries,
            oa.retry_at,
            oa.last_error.as_deref()
        ),
        (true, 0, Some(later), Some("boom a"))
    );
    // A failure below the threshold schedules nothing.
    ok(
        store
            .record_sync_failure(&c, 1, "boom c", 5, Some(past))
            .await,
        "fail c",
    );
    let oc = owed(store, c.clone()).await;
    assert_eq!((oc.set_aside, oc.retries, oc.retry_at), (false, 0, None));

    assert_eq!(
        listed(store, SetAsideQuery::due(100, now)).await,
        vec![b.clone()]
    );
    assert_eq!(
        listed(store, SetAsideQuery::due(100, much_later)).await,
        vec![b.clone(), a.clone()],
        "earliest retry first"
    );
    assert_eq!(
        listed(store, SetAsideQuery::due(1, much_later)).await,
        vec![b.clone()]
    );
    assert_eq!(
        listed(store, SetAsideQuery::all(100)).await,
        vec![a.clone(), b.clone()],
        "longest owed first"
    );
    let all = ok(
        store.set_aside_changes(&SetAsideQuery::all(100)).await,
        "all",
    );
    assert_eq!(all[0], oa, "listed as owed_change reports it");
    for index in 0..2 {
        let partition = Partition { index, count: 2 };
        let expected: Vec<EntityRef> = [a.clone(), b.clone()]
            .into_iter()
            .filter(|e| partition.contains(&e.id))
            .collect();
        let query = SetAsideQuery {
            partitions: partition.into(),
            ..SetAsideQuery::all(100)
        };
        assert_eq!(listed(store, query).await, expected, "{partition:?}");
    }
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!(
        (stats.set_aside, stats.oldest_set_aside),
        (2, Some(oa.owed_since))
    );

    // Failed retries count up and move the retry time; `None` ends the retries.
    assert_eq!(
        ok(
            store
                .record_retry_failure(&b, 1, "retry 1", Some(later))
                .await,
            "retry b"
        ),
        1
    );
    let ob = owed(store, b.clone()).await;
    assert_eq!(
        (
            ob.set_aside,
            ob.retries,
            ob.retry_at,
            ob.last_error.as_deref()
        ),
        (true, 1, Some(later), Some("retry 1"))
    );
    assert!(listed(store, SetAsideQuery::due(100, now)).await.is_empty());
    assert_eq!(
        ok(
            store.record_retry_failure(&b, 1, "retry 2", None).await,
            "retry b"
        ),
        2
    );
    let ob = owed(store, b.clone()).await;
    assert_eq!((ob.retries, ob.retry_at), (2, None));
    assert_eq!(
        listed(store, SetAsideQuery::due(100, much_later)).await,
        vec![a.clone()],
        "retries over: never due"
    );
    assert_eq!(
        listed(store, SetAsideQuery::all(100)).await,
        vec![a.clone(), b.clone()],
        "retries over: still listed"
    );

    // Nothing is recorded for another version, a change in line, or an unknown entity; a
    // failure of a change already set aside keeps its schedule.
    let before = snapshot(store).await;
    let unknown = EntityRef::new(EntityKind::Product, crate::ProductId::generate());
    for (e, version) in [(&b, 2), (&c, 1), (&unknown, 1)] {
        assert_eq!(
            ok(
                store
                    .record_retry_failure(e, version, "x", Some(past))
                    .await,
                "retry"
            ),
            0,
            "{e} v{version}"
        );
    }
    assert_unchanged(store, &before, "retry failures recording nothing").await;
    ok(
        store
            .record_sync_failure(&a, 1, "again a", 1, Some(past))
            .await,
        "fail a again",
    );
    let oa = owed(store, a.clone()).await;
    assert_eq!(
        (oa.set_aside, oa.attempts, oa.retries, oa.retry_at),
        (true, 2, 0, Some(later))
    );

    // Released: back in line, schedule cleared; set aside again: retries from zero.
    assert_eq!(ok(store.release_set_aside(Some(&b)).await, "release"), 1);
    let ob = owed(store, b.clone()).await;
    assert_eq!(
        (ob.set_aside, ob.attempts, ob.retries, ob.retry_at),
        (false, 0, 0, None)
    );
    assert_eq!(
        listed(store, SetAsideQuery::all(100)).await,
        vec![a.clone()]
    );
    ok(
        store
            .record_sync_failure(&b, 1, "boom b", 1, Some(past))
            .await,
        "fail b again",
    );
    let ob = owed(store, b.clone()).await;
    assert_eq!(
        (ob.set_aside, ob.retries, ob.retry_at),
        (true, 0, Some(past))
    );

    // A new write puts `a` back in line; an acknowledgement settles `b`.
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
        "write a",
    );
    let oa = owed(store, a.clone()).await;
    assert_eq!(
        (oa.version, oa.set_aside, oa.retries, oa.retry_at),
        (2, false, 0, None)
    );
    ok(
        store
            .ack_changes(&[ChangeAck {
                entity: b.clone(),
                version: 1,
            }])
            .await,
        "ack b",
    );
    assert!(listed(store, SetAsideQuery::all(100)).await.is_empty());
    let stats = ok(store.sync_stats().await, "stats");
    assert_eq!((stats.set_aside, stats.oldest_set_aside), (0, None));

    // Limits are checked.
    for limit in [0, 10_001] {
        let err = err(
            store.set_aside_changes(&SetAsideQuery::all(limit)).await,
            "bad limit",
        );
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "limit"),
            "{err}"
        );
    }
}
