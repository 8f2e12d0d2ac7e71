//! The stock-reservation recovery as the example API runs it: a `ReservationRecovery` task
//! over `Synced<MongoStore, Neo4jGraph>` gives back, at its first pass and at later ones, the
//! stock that placements cut short left reserved (a client that disconnected mid-order, its
//! handler future dropped), so stock plus placed quantities is the initial stock again.

use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    Currency, Money, NewCategory, NewOrder, NewOrderItem, NewProduct, NewUser, PageRequest, Product,
};
use swiftbox_sync::maintenance::{MaintenanceConfig, ReservationRecovery};
use swiftbox_sync::{SyncConfig, Synced};

use crate::common::{self, must};

/// Generous bound on a wait; never a correctness condition.
const PATIENCE: Duration = Duration::from_secs(120);
const INITIAL: i64 = 30;

/// Stock plus the quantities of every order that exists, for `product`.
async fn accounted(store: &impl OrderStore, catalog: &impl CatalogStore, product: &Product) -> i64 {
    let orders = must(store.list_orders(PageRequest::first(1000)).await, "orders");
    let placed: i64 = orders
        .items
        .iter()
        .flat_map(|o| &o.items)
        .filter(|i| i.product == product.id)
        .map(|i| i.quantity)
        .sum();
    must(catalog.get_product(&product.id).await, "product").stock + placed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_task_gives_back_what_cut_off_placements_reserved() {
    let Some(env) = common::env("maintenance").await else {
        return;
    };
    let store = Arc::new(Synced::from_arcs(
        Arc::new(env.mongo),
        Arc::new(env.graph),
        SyncConfig::default(),
    ));
    let cat = must(
        store.create_category(NewCategory::new("Tea")).await,
        "category",
    );
    let tea = must(
        store
            .create_product(NewProduct {
                name: "Sencha".into(),
                description: String::new(),
                price: Money::new(900, Currency::EUR),
                images: vec![],
                category: cat.id,
                stock: INITIAL,
            })
            .await,
        "product",
    );
    let ann = must(
        store
            .create_user(NewUser::new("ann", "ann@example.com"))
            .await,
        "user",
    );
    let order = || NewOrder {
        user: ann.id,
        items: vec![NewOrderItem {
            product: tea.id,
            quantity: 1,
        }],
        shipping: common::shipping(),
    };
    // Cut placements at every point from nothing to a whole placement (timed once): some
    // leave stock reserved and no order.
    let started = std::time::Instant::now();
    must(store.place_order(order()).await, "a whole placement");
    let full = started.elapsed();
    for i in 0..20_u32 {
        let _ = tokio::time::timeout(full * i / 20, store.place_order(order())).await;
    }

    let config = MaintenanceConfig {
        interval: Duration::from_millis(200),
        stale_after: Duration::ZERO,
    };
    let mut task = must(
        ReservationRecovery::new(Arc::clone(&store), config),
        "recovery task",
    )
    .spawn();
    // The pass at start, and later ones for requests of cut-off calls still on their way.
    let mut passes = 1;
    loop {
        must(
            tokio::time::timeout(PATIENCE, task.wait_for_passes(passes)).await,
            "recovery passes",
        );
        if accounted(&*store, &*store, &tea).await == INITIAL || passes >= 100 {
            break;
        }
        passes += 1;
    }
    assert_eq!(
        accounted(&*store, &*store, &tea).await,
        INITIAL,
        "{:?}",
        task.stats()
    );
    let stats = task.stats();
    assert_eq!(stats.last_error, None);
    must(task.shutdown().await, "shutdown");
}
