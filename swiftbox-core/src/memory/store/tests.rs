//! Unit tests of what only the memory store can show: clones share state and the lock makes
//! orders atomic across real threads. Everything else is in the conformance suite
//! (`tests/memory_primary.rs`).

use super::*;
use crate::money::{Currency, Money};

fn shipping() -> ShippingAddress {
    ShippingAddress {
        name: "Ann".into(),
        line1: "1 Main St".into(),
        line2: None,
        city: "Springfield".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_on_many_threads_never_oversell_and_clones_share_state() {
    let store = MemoryStore::new();
    let cat = store
        .create_category(NewCategory::new("Tools"))
        .await
        .unwrap();
    let product = store
        .create_product(NewProduct {
            name: "Hammer".into(),
            description: String::new(),
            price: Money::new(1500, Currency::USD),
            images: vec![],
            category: cat.id,
            stock: 25,
        })
        .await
        .unwrap();
    let user = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .place_order(NewOrder {
                        user: user.id,
                        items: vec![NewOrderItem {
                            product: product.id,
                            quantity: 1,
                        }],
                        shipping: shipping(),
                    })
                    .await
            })
        })
        .collect();
    let mut placed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => placed += 1,
            Err(Error::InsufficientStock { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(placed, 25);
    assert_eq!(store.get_product(&product.id).await.unwrap().stock, 0);
    let stats = store.sync_stats().await.unwrap();
    assert_eq!(stats.entities[&EntityKind::Order], 25);
}

#[tokio::test]
async fn failure_messages_are_bounded() {
    let store = MemoryStore::new();
    let cat = store.create_category(NewCategory::new("A")).await.unwrap();
    let e = EntityRef::new(EntityKind::Category, cat.id);
    let long = "x".repeat(10_000);
    store
        .record_sync_failure(&e, cat.version, &long, 5, None)
        .await
        .unwrap();
    let owed = store.owed_change(&e).await.unwrap().unwrap();
    assert_eq!(
        owed.last_error.map(|s| s.chars().count()),
        Some(state::MAX_ERROR_CHARS)
    );
}
