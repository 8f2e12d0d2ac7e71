//! A server outage mid-run: calls fail with the retryable `Unavailable` kind while the server
//! is down, and the same `MongoStore` (no reconnect, no new store) works again once it is
//! back, with nothing lost.
//!
//! It kills and restarts a *private* FerretDB ([`PrivateFerret`]) on a port and data directory
//! of its own, so the shared test server is never disturbed. Without the launcher it is skipped
//! loudly (fails under CI).

mod common;

use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    Currency, EntityKind, EntityRef, Error, Money, NewCategory, NewOrder, NewOrderItem, NewProduct,
    NewUser, PrimaryStore,
};
use swiftbox_mongo::{MongoConfig, MongoStore};
use swiftbox_testsupport::PrivateFerret;

fn assert_unavailable<T: std::fmt::Debug>(r: swiftbox_core::Result<T>, what: &str) {
    match r {
        Err(e @ Error::Unavailable { .. }) => assert!(e.is_retryable(), "{what}: {e}"),
        other => panic!("{what}: expected unavailable while the server is down, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_gives_unavailable_then_the_same_store_recovers() {
    let Some(mut ferret) = PrivateFerret::new("mongo_outage") else {
        return;
    };
    ferret.start();

    let config = MongoConfig::builder(ferret.uri(), "outage")
        .server_selection_timeout(Duration::from_millis(1500))
        .connect_timeout(Duration::from_millis(1500))
        .operation_timeout(Duration::from_secs(10))
        .build()
        .expect("config");
    let store = MongoStore::connect_with(config).await.expect("connect");
    let ann = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .expect("user");
    let books = store
        .create_category(NewCategory::new("Books"))
        .await
        .expect("category");
    let dune = store
        .create_product(NewProduct {
            name: "Dune".into(),
            description: String::new(),
            price: Money::new(1999, Currency::USD),
            images: vec![],
            category: books.id,
            stock: 5,
        })
        .await
        .expect("product");

    ferret.kill();

    assert_unavailable(store.ping().await, "ping");
    assert_unavailable(store.get_product(&dune.id).await, "get_product");
    assert_unavailable(
        store
            .create_user(NewUser::new("bob", "bob@example.com"))
            .await,
        "create_user",
    );
    let order = NewOrder {
        user: ann.id,
        items: vec![NewOrderItem {
            product: dune.id,
            quantity: 2,
        }],
        shipping: common::shipping(),
    };
    assert_unavailable(store.place_order(order.clone()).await, "place_order");
    assert_unavailable(
        store
            .owed_changes(&swiftbox_core::OwedQuery::oldest(10))
            .await,
        "owed_changes",
    );

    ferret.start();

    // The same store, untouched: the driver reconnects by itself. Retry as a caller of a
    // retryable error would (bounded, so a broken recovery fails rather than hangs).
    let mut back = None;
    for _ in 0..60 {
        match store.get_product(&dune.id).await {
            Ok(p) => {
                back = Some(p);
                break;
            }
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("after restart: {e}"),
        }
    }
    let back = back.expect("the store never recovered after the server came back");
    assert_eq!(back.stock, 5, "nothing taken by the order that failed");
    assert_eq!(back, dune);

    let placed = store
        .place_order(order)
        .await
        .expect("order after recovery");
    assert_eq!(placed.total.minor, 2 * 1999);
    assert_eq!(store.get_product(&dune.id).await.expect("get").stock, 3);
    let bob = store
        .create_user(NewUser::new("bob", "bob@example.com"))
        .await
        .expect("a write refused during the outage succeeds now");
    let owed = store
        .owed_change(&EntityRef::new(EntityKind::User, bob.id))
        .await
        .expect("owed");
    assert!(
        owed.is_some(),
        "the write after recovery owes its graph change"
    );
}
