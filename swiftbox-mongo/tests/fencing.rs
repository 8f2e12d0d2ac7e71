//! Document locks are fenced: a lock holder frozen past its lease, whose lock another writer
//! took over, cannot write over that writer when it resumes (see the `lock` module docs).
//!
//! The holder is frozen inside the store by a test hook (feature `test-hooks`) at the exact
//! point that matters: a test cannot SIGSTOP its own process, and freezing the server would
//! freeze the second writer too. The servers are real (FerretDB from `scripts/servers.sh`, or
//! any MongoDB: locks are forced on here). The in-memory store has no leases (one in-process
//! lock that cannot expire), so there is nothing to fence there and no memory twin of these
//! tests.
//!
//! Every wait is an event, not a sleep: the frozen holder signals that it is frozen, the
//! second writer's call returns only once it has taken the lock over (after the 1 s lease, on
//! the server's clock), and only then is the holder let go.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::Document;
use swiftbox_core::prelude::*;
use swiftbox_core::{
    ChangeAck, EntityKind, EntityRef, Error, NewOrder, NewOrderItem, NewUser, UserPatch,
};
use swiftbox_mongo::hooks::{LockHook, LockPoint};
use swiftbox_mongo::{MongoConfig, MongoStore};
use tokio::sync::{oneshot, Notify};

/// Generous bound on every wait (a loaded 2-core machine); never a correctness condition.
const PATIENCE: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(1);

/// Freezes the first holder that reaches a point `matches` accepts, until resumed.
#[derive(Debug)]
struct Freeze {
    matches: fn(&LockPoint) -> bool,
    frozen: Mutex<Option<oneshot::Sender<()>>>,
    resume: Notify,
}

impl Freeze {
    fn new(matches: fn(&LockPoint) -> bool) -> (Arc<Self>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let hook = Arc::new(Self {
            matches,
            frozen: Mutex::new(Some(tx)),
            resume: Notify::new(),
        });
        (hook, rx)
    }
}

#[async_trait]
impl LockHook for Freeze {
    async fn at(&self, point: LockPoint) {
        if !(self.matches)(&point) {
            return;
        }
        let first = self.frozen.lock().ok().and_then(|mut f| f.take());
        if let Some(tx) = first {
            let _ = tx.send(());
            // `notify_one` stores a permit, so a resume sent before this wait is not lost.
            self.resume.notified().await;
        }
    }
}

/// Two stores on one fresh database with locks forced on and a 1 s lease: `a` with `hook`,
/// `b` without. `None` (after a loud skip) without a server.
async fn two_writers(test: &str, hook: Arc<Freeze>) -> Option<(MongoStore, MongoStore)> {
    let server = swiftbox_testsupport::mongo().await?;
    let db = server.unique_database(test);
    let config = |hooked: bool| {
        let b = MongoConfig::builder(&server.uri, &db)
            .document_locks(true)
            .lock_lease(LEASE)
            .operation_timeout(PATIENCE);
        let b = if hooked { b.lock_hook(hook.clone()) } else { b };
        b.build().expect("config")
    };
    let a = MongoStore::connect_with(config(true)).await.expect("a");
    let b = MongoStore::connect_with(config(false)).await.expect("b");
    Some((a, b))
}

/// A batched acknowledgement frozen between reading the versions and settling them; a second
/// writer takes its lock over and writes the user again; the acknowledgement resumes. Without
/// the fence it cleared the newer write's owed marker (that write was lost to the graph);
/// with it the newer write stays owed and the stale acknowledgement fails, retryable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_batched_ack_cannot_clear_a_newer_writers_owed_marker() {
    let (hook, frozen) = Freeze::new(|p| matches!(p, LockPoint::BatchRead { .. }));
    let Some((a, b)) = two_writers("fence_ack", hook.clone()).await else {
        return;
    };
    let ann = b
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let entity = EntityRef::new(EntityKind::User, ann.id);
    let ack = ChangeAck {
        entity: entity.clone(),
        version: ann.version,
    };
    let stale = tokio::spawn(async move { a.ack_changes(&[ack]).await });
    tokio::time::timeout(PATIENCE, frozen)
        .await
        .expect("the acknowledgement reaches its write")
        .expect("hook alive");

    // Waits for the frozen holder's lock, takes it over once the lease is out, writes.
    let newer = tokio::time::timeout(
        PATIENCE,
        b.update_user(
            &ann.id,
            UserPatch {
                email: Some("ann.b@example.com".into()),
                password: None,
                profile: None,
                is_admin: None,
            },
        ),
    )
    .await
    .expect("the second writer takes the lock over")
    .expect("update");
    assert_eq!(newer.version, ann.version + 1);

    hook.resume.notify_one();
    let outcome = tokio::time::timeout(PATIENCE, stale)
        .await
        .expect("the acknowledgement ends")
        .expect("task");
    let owed = b.owed_change(&entity).await.expect("owed");
    assert_eq!(
        owed.as_ref().map(|o| o.version),
        Some(newer.version),
        "the newer write must stay owed (stale acknowledgement: {outcome:?})"
    );
    let err = outcome.expect_err("a fenced acknowledgement reports that it lost its lock");
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err}"
    );
}

/// A placement frozen holding the product's lock, before its reservation; a second writer
/// takes the lock over and places orders; the first resumes. Its reservation is fenced (not
/// taken on top of the newer holder's), it fails retryable, and stock plus the placed
/// quantities is the initial stock. Without the fence the stale reservation was written after
/// its lock was gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_frozen_past_its_lease_is_fenced_and_stock_stays_exact() {
    let (hook, frozen) =
        Freeze::new(|p| matches!(p, LockPoint::Writing { key } if key.starts_with("product:")));
    let Some((a, b)) = two_writers("fence_stock", hook.clone()).await else {
        return;
    };
    const INITIAL: i64 = 5;
    let p = common::product(&b, INITIAL).await;
    let ann = b
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let one = move || NewOrder {
        user: ann.id,
        items: vec![NewOrderItem {
            product: p.id,
            quantity: 1,
        }],
        shipping: common::shipping(),
    };

    let stale = {
        let a = a.clone();
        tokio::spawn(async move { a.place_order(one()).await })
    };
    tokio::time::timeout(PATIENCE, frozen)
        .await
        .expect("the placement reaches its reservation")
        .expect("hook alive");
    for _ in 0..3 {
        tokio::time::timeout(PATIENCE, b.place_order(one()))
            .await
            .expect("the second writer takes the lock over")
            .expect("order");
    }

    hook.resume.notify_one();
    let outcome = tokio::time::timeout(PATIENCE, stale)
        .await
        .expect("the stale placement ends")
        .expect("task");
    let err = outcome.expect_err("a placement whose lock was taken over must not succeed");
    assert!(
        matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
        "{err}"
    );

    // The same store places orders normally afterwards (the hook froze only once).
    a.place_order(one()).await.expect("order after the freeze");
    let orders = b
        .list_orders(swiftbox_core::PageRequest::first(100))
        .await
        .expect("orders");
    let placed: i64 = orders
        .items
        .iter()
        .flat_map(|o| &o.items)
        .map(|i| i.quantity)
        .sum();
    let stock = b.get_product(&p.id).await.expect("product").stock;
    assert_eq!((placed, stock), (4, INITIAL - 4), "placed, stock");
    let d = b
        .database()
        .collection::<Document>("products")
        .find_one(mongodb::bson::doc! { "_id": p.id.to_string() })
        .await
        .expect("find")
        .expect("product");
    let markers = d.get_array("reservations").map(|r| r.len()).unwrap_or(0);
    assert_eq!(markers, 0, "no reservation left behind: {d}");
    b.database().drop().await.expect("drop");
}
