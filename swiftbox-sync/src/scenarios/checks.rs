//! The checks every scenario ends with: no drift and each purchase counted once, and the exact
//! drift and repair of the tampering scenarios.

use std::collections::HashSet;
use std::sync::Arc;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    EntityKind, EntityRef, GraphChange, GraphRecord, GraphStore, PageRequest, ProductId,
    ProductQuery, UserId,
};

use super::must;
use crate::testing::FaultyGraph;
use crate::{DriftReport, Reconciler, StaleReason};

/// Purchases the graph should hold, computed from the primary store's orders directly (not
/// through `expected_graph`): one per item of a live product in an order of a live user.
pub async fn expected_purchases<P: PrimaryBackend>(p: &P) -> u64 {
    let mut live_users = HashSet::new();
    let mut page = PageRequest::first(1000);
    loop {
        let users = must(p.list_users(page.clone()).await, "list users");
        live_users.extend(users.items.iter().map(|u| u.id));
        match users.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    let mut live_products = HashSet::new();
    let mut page = PageRequest::first(1000);
    loop {
        let products = must(
            p.list_products(ProductQuery {
                category: None,
                page: page.clone(),
            })
            .await,
            "list products",
        );
        live_products.extend(products.items.iter().map(|p| p.id));
        match products.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    let mut purchases = 0;
    let mut page = PageRequest::first(1000);
    loop {
        let orders = must(p.list_orders(page.clone()).await, "list orders");
        for o in orders.items.iter().filter(|o| live_users.contains(&o.user)) {
            purchases += o
                .items
                .iter()
                .filter(|i| live_products.contains(&i.product))
                .count() as u64;
        }
        match orders.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    purchases
}

/// Asserts zero drift and that the graph counts each purchase exactly once.
pub async fn assert_in_sync<P: PrimaryBackend, G: GraphStore>(primary: &Arc<P>, graph: &Arc<G>) {
    let reconciler = Reconciler::new(Arc::clone(primary), Arc::clone(graph));
    let drift = must(reconciler.check().await, "check");
    assert!(drift.is_clean(), "drift after catching up:\n{drift}");
    let counts = must(graph.counts().await, "graph counts");
    let expected = expected_purchases(&**primary).await;
    assert_eq!(
        counts.purchases, expected,
        "PURCHASED relationships in the graph vs order items of live users and products"
    );
}

/// Asserts that `drift` names exactly the three tamperings of the tampering scenarios: the
/// product `deleted` missing, the user `foreign` extra, the user `edited` stale in content.
pub fn assert_tamper_drift(
    drift: &DriftReport,
    deleted: ProductId,
    foreign: UserId,
    edited: UserId,
) {
    let missing: Vec<EntityRef> = drift.missing.iter().map(GraphRecord::entity).collect();
    let extra: Vec<EntityRef> = drift.extra.iter().map(GraphRecord::entity).collect();
    let stale: Vec<(EntityRef, StaleReason)> = drift
        .stale
        .iter()
        .map(|s| (s.expected.entity(), s.reason))
        .collect();
    assert_eq!(
        missing,
        vec![EntityRef::new(EntityKind::Product, deleted)],
        "{drift}"
    );
    assert_eq!(
        extra,
        vec![EntityRef::new(EntityKind::User, foreign)],
        "{drift}"
    );
    assert_eq!(
        stale,
        vec![(
            EntityRef::new(EntityKind::User, edited),
            StaleReason::Content
        )],
        "{drift}"
    );
    assert_eq!(drift.drift_total, 3, "{drift}");
}

/// Repairs the drift of the tampering scenarios and asserts that the repair wrote exactly the
/// drifted entities (two upserts, one delete) and nothing else.
pub async fn assert_repairs_exactly<P: PrimaryBackend, G: GraphStore>(
    reconciler: &Reconciler<P, FaultyGraph<G>>,
    graph: &FaultyGraph<G>,
    drift: &DriftReport,
) {
    graph.faults().set_recording(true);
    let repaired = must(reconciler.repair(drift).await, "repair");
    graph.faults().set_recording(false);
    assert_eq!(
        (repaired.upserted, repaired.deleted),
        (2, 1),
        "{repaired:?}"
    );
    let touched: HashSet<EntityRef> = graph
        .faults()
        .take_recorded()
        .iter()
        .map(GraphChange::entity)
        .collect();
    let expected: HashSet<EntityRef> = drift.entities().into_iter().collect();
    assert_eq!(
        touched, expected,
        "repair writes exactly the drifted entities"
    );
}
