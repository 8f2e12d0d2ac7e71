//! `Synced::wait_synced`: read your writes when the inline apply did not make it.

use std::time::Duration;

use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    Currency, EntityKind, EntityRef, Error, Money, NewCategory, NewOrder, NewOrderItem, NewProduct,
    NewUser, ShippingAddress,
};
use swiftbox_sync::testing::FaultyGraph;
use swiftbox_sync::{SyncConfig, Synced};

const LONG: Duration = Duration::from_secs(30);

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

#[tokio::test]
async fn a_write_whose_inline_apply_failed_is_applied_by_wait_synced() {
    let store = Synced::new(MemoryStore::new(), FaultyGraph::new(MemoryGraph::new()));
    let faults = std::sync::Arc::clone(store.graph().faults());

    // Every inline apply fails: the writes succeed and their changes stay owed.
    faults.set_down(true);
    let ann = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .unwrap();
    let books = store
        .create_category(NewCategory::new("Books"))
        .await
        .unwrap();
    let book = store
        .create_product(NewProduct {
            name: "Dune".into(),
            description: String::new(),
            price: Money::new(1500, Currency::USD),
            images: vec![],
            category: books.id,
            stock: 5,
        })
        .await
        .unwrap();
    let order = store
        .place_order(NewOrder {
            user: ann.id,
            items: vec![NewOrderItem {
                product: book.id,
                quantity: 2,
            }],
            shipping: shipping(),
        })
        .await
        .unwrap();
    assert!(
        store.graph().purchase_history(&ann.id, 10).await.is_err(),
        "graph is down"
    );
    faults.set_down(false);
    assert!(store
        .graph()
        .purchase_history(&ann.id, 10)
        .await
        .unwrap()
        .is_empty());

    // Waiting on the order alone is enough: the graph defers it (its user and product are not
    // there yet), so wait_synced applies what it references first, then the order.
    let entity = EntityRef::new(EntityKind::Order, order.id);
    store
        .wait_synced(&entity, order.version, LONG)
        .await
        .unwrap();
    let history = store.graph().purchase_history(&ann.id, 10).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!((history[0].order_id, history[0].quantity), (order.id, 2));
    assert!(
        store
            .primary()
            .owed_change(&entity)
            .await
            .unwrap()
            .is_none(),
        "acknowledged"
    );

    // Nothing owed: returns at once.
    store
        .wait_synced(&entity, order.version, Duration::ZERO)
        .await
        .unwrap();
}

#[tokio::test]
async fn wait_synced_times_out_with_a_retryable_error_while_the_graph_is_down() {
    let store = Synced::new(MemoryStore::new(), FaultyGraph::new(MemoryGraph::new()));
    store.graph().faults().set_down(true);
    let ann = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .unwrap();
    let entity = EntityRef::new(EntityKind::User, ann.id);
    let err = store
        .wait_synced(&entity, ann.version, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    // The change is still owed, and applied once the graph is back.
    assert!(store
        .primary()
        .owed_change(&entity)
        .await
        .unwrap()
        .is_some());
    store.graph().faults().set_down(false);
    store.wait_synced(&entity, ann.version, LONG).await.unwrap();
    assert_eq!(
        store.graph().counts().await.unwrap().entities[&EntityKind::User],
        1
    );
}

#[tokio::test]
async fn deferred_mode_writes_are_visible_after_wait_synced() {
    let config = SyncConfig {
        inline: false,
        ..SyncConfig::default()
    };
    let store = Synced::with_config(MemoryStore::new(), MemoryGraph::new(), config);
    let ann = store
        .create_user(NewUser::new("ann", "ann@example.com"))
        .await
        .unwrap();
    assert!(
        store
            .graph()
            .counts()
            .await
            .unwrap()
            .entities
            .get(&EntityKind::User)
            .copied()
            .unwrap_or(0)
            == 0
    );
    store.delete_user(&ann.id).await.unwrap();
    // A delete: wait on any version; the tombstone's change is applied.
    let entity = EntityRef::new(EntityKind::User, ann.id);
    store.wait_synced(&entity, 0, LONG).await.unwrap();
    assert!(store
        .primary()
        .owed_change(&entity)
        .await
        .unwrap()
        .is_none());
}
