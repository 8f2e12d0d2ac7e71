//! Orders placed at most once per user and idempotency key
//! ([`OrderStore::place_order_once`](crate::OrderStore::place_order_once)).

use std::time::Duration;

use super::support::*;
use crate::prelude::*;
use crate::{IdempotencyKey, ShippingAddress, IDEMPOTENCY_RETENTION};

fn key(k: &str) -> IdempotencyKey {
    ok(IdempotencyKey::parse(k), "idempotency key")
}

/// A retry with the same key and request returns the first order (same id, `replayed`) and
/// takes no stock; the same request with its lines in another order is the same request; the
/// same key with another request is invalid and changes nothing; keys are per user; a failed
/// placement records nothing, so its key can be retried; a purge keeps young keys and drops
/// old ones (the orders stay), after which the key places a new order.
pub async fn idempotent_orders(store: &dyn PrimaryBackend) {
    let cat = category(store, "Tea").await;
    let a = product(store, &cat, "Sencha", 1200, 10).await;
    let b = product(store, &cat, "Oolong", 900, 10).await;
    let ann = user(store, "ann").await;
    let bob = user(store, "bob").await;
    let k = key("3f0b6f1e-order-1");

    let first = ok(
        store
            .place_order_once(new_order(&ann, &[(&a, 2), (&b, 1)]), &k)
            .await,
        "first placement",
    );
    assert!(!first.replayed, "a new key places an order");
    assert_eq!(
        ok(store.get_order(&first.order.id).await, "get"),
        first.order
    );

    let again = ok(
        store
            .place_order_once(new_order(&ann, &[(&b, 1), (&a, 2)]), &k)
            .await,
        "retry",
    );
    assert!(again.replayed, "a retry is a replay");
    assert_eq!(again.order, first.order, "a retry returns the first order");
    assert_eq!(ok(store.get_product(&a.id).await, "get a").stock, 8);
    assert_eq!(ok(store.get_product(&b.id).await, "get b").stock, 9);

    let before = snapshot(store).await;
    assert_invalid(
        store
            .place_order_once(new_order(&ann, &[(&a, 3)]), &k)
            .await,
        "idempotency_key",
        "same key, other items",
    );
    let mut elsewhere = new_order(&ann, &[(&a, 2), (&b, 1)]);
    elsewhere.shipping = ShippingAddress {
        city: "Elsewhere".into(),
        ..shipping()
    };
    assert_invalid(
        store.place_order_once(elsewhere, &k).await,
        "idempotency_key",
        "same key, other address",
    );
    assert_unchanged(store, &before, "a reused key").await;

    let bobs = ok(
        store
            .place_order_once(new_order(&bob, &[(&a, 1)]), &k)
            .await,
        "another user's key",
    );
    assert!(!bobs.replayed, "keys are per user");
    assert_ne!(bobs.order.id, first.order.id);

    // A placement that fails records no key: the same key works once stock is there.
    let k2 = key("order-2");
    let short = err(
        store
            .place_order_once(new_order(&ann, &[(&a, 50)]), &k2)
            .await,
        "too many",
    );
    assert!(
        matches!(short, crate::Error::InsufficientStock { .. }),
        "{short}"
    );
    let later = ok(
        store
            .place_order_once(new_order(&ann, &[(&a, 1)]), &k2)
            .await,
        "after a failed placement",
    );
    assert!(!later.replayed);

    // Bad input is refused before the key is looked at.
    assert_invalid(
        store
            .place_order_once(new_order(&ann, &[(&a, 0)]), &key("order-3"))
            .await,
        "items[0].quantity",
        "bad quantity",
    );

    // Young keys survive a purge; old ones go and the key is free again.
    assert_eq!(
        ok(
            store.purge_idempotency_keys(IDEMPOTENCY_RETENTION).await,
            "purge young"
        ),
        0
    );
    let kept = ok(
        store
            .place_order_once(new_order(&ann, &[(&a, 2), (&b, 1)]), &k)
            .await,
        "retry after a purge of old keys",
    );
    assert!(kept.replayed);
    let purged = ok(
        store.purge_idempotency_keys(Duration::ZERO).await,
        "purge all",
    );
    assert_eq!(purged, 3, "ann's two keys and bob's");
    assert_eq!(
        ok(store.get_order(&first.order.id).await, "order after purge"),
        first.order,
        "a purge keeps the orders"
    );
    let fresh = ok(
        store
            .place_order_once(new_order(&ann, &[(&a, 3)]), &k)
            .await,
        "a purged key",
    );
    assert!(!fresh.replayed, "a purged key places a new order");
    assert_ne!(fresh.order.id, first.order.id);
}

/// 12 concurrent placements with one key (by one user, with stock for all of them) place
/// exactly one order: every call returns that order, one of them not replayed, and the stock
/// drops by its quantity once.
pub async fn concurrent_retries_place_one_order(store: &dyn PrimaryBackend) {
    let cat = category(store, "Hot").await;
    let p = product(store, &cat, "Console", 49_900, 100).await;
    let ann = user(store, "ann").await;
    let k = key("double-click");
    let results = futures::future::join_all(
        (0..12).map(|_| store.place_order_once(new_order(&ann, &[(&p, 2)]), &k)),
    )
    .await;
    let placements: Vec<_> = results
        .into_iter()
        .map(|r| ok(r, "concurrent retry"))
        .collect();
    let first = placements
        .iter()
        .find(|p| !p.replayed)
        .unwrap_or_else(|| panic!("no call placed the order: {placements:?}"));
    assert_eq!(
        placements.iter().filter(|p| !p.replayed).count(),
        1,
        "one call places the order"
    );
    for pl in &placements {
        assert_eq!(pl.order.id, first.order.id, "every call answers one order");
    }
    assert_eq!(ok(store.get_product(&p.id).await, "get").stock, 98);
    assert_eq!(all_pages(|pg| store.list_orders(pg)).await.len(), 1);
}
