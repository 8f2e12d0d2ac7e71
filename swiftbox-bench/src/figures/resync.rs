//! Figure 1: rebuilding the graph with `Reconciler::resync` (batched) versus one `apply` call
//! per change. Also loads the dataset the query figures use.

use std::sync::Arc;
use std::time::Instant;

use swiftbox_core::generator::{DemoShop, ShopIds};
use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, GraphChange, GraphRecord, GraphStore, Result};
use swiftbox_sync::{Reconciler, ReconcilerConfig};

use crate::env::{Env, GraphHandle, GraphKind, PrimaryHandle, PrimaryKind};
use crate::report::{Bound, Report, Row};
use crate::{BenchConfig, Scale};

/// A dataset loaded into a primary store and resynced into a graph.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) shop: DemoShop,
    pub(crate) ids: ShopIds,
    pub(crate) primary: PrimaryHandle,
    pub(crate) graph: GraphHandle,
    pub(crate) backend: &'static str,
    pub(crate) graph_kind: GraphKind,
}

impl Prepared {
    pub(crate) async fn dispose(self, env: &Env) -> Result<()> {
        env.dispose_graph(self.graph).await?;
        env.dispose_primary(self.primary).await
    }
}

/// All records of `kind` the primary store expects, in id order.
async fn expected(
    primary: &dyn PrimaryBackend,
    kind: EntityKind,
    max: usize,
) -> Result<Vec<GraphRecord>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    while out.len() < max {
        let page = primary
            .expected_graph(kind, after.as_deref(), 1000.min(max - out.len()))
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.entity().id.clone());
        out.extend(page);
    }
    Ok(out)
}

fn purchases_of(records: &[GraphRecord]) -> u64 {
    records
        .iter()
        .map(|r| match r {
            GraphRecord::Order(o) => o.items.len() as u64,
            _ => 0,
        })
        .sum()
}

pub(crate) async fn run(
    env: &Env,
    report: &mut Report,
    cfg: &BenchConfig,
    scale: Scale,
    primary_kind: PrimaryKind,
    graph_kind: GraphKind,
    backend: &'static str,
) -> Result<Prepared> {
    let spec = scale.spec();
    let shop = DemoShop::generate(&spec);
    let (orders, purchases) = (shop.orders().len(), shop.purchases());
    let dataset = format!(
        "{}: {} users, {} categories, {} products, {orders} orders, {purchases} purchases (seed {})",
        scale.name(),
        spec.users,
        spec.categories,
        spec.products,
        spec.seed
    );
    if !report.meta.datasets.contains(&dataset) {
        report.meta.datasets.push(dataset);
    }
    let tag = format!("{}_{}", scale.name(), backend);

    // Load through the primary store's API (what a real system holds).
    crate::progress!("fig1 {tag}: loading {orders} orders with load_into");
    let primary = env.primary(primary_kind, &format!("{tag}_resync")).await?;
    let t = Instant::now();
    let loaded = shop.load_into(&*primary.store).await?;
    let load_secs = t.elapsed().as_secs_f64();
    report.rows.push(
        Row::new(
            1,
            scale.name(),
            backend,
            "load_into (primary API, 16 in flight)",
            orders as f64 / load_secs,
            "orders/s",
        )
        .samples(format!("{orders} orders"))
        .note(format!("{load_secs:.1} s; setup, not a goal")),
    );

    // Batched: the reconciler's resync into an empty graph.
    let graph = env.graph(graph_kind, &format!("{tag}_resync")).await?;
    let reconciler = Reconciler::new(
        Arc::new(primary.store.clone()),
        Arc::new(graph.store.clone()),
    )
    .with_config(ReconcilerConfig {
        batch_size: cfg.resync_batch,
        batches_in_flight: cfg.resync_in_flight,
        ..ReconcilerConfig::default()
    })?;
    let batch = reconciler.config().batch_size;
    let in_flight = reconciler.config().batches_in_flight;
    crate::progress!("fig1 {tag}: loaded in {load_secs:.1} s; resync");
    let t = Instant::now();
    let resynced = reconciler.resync(None, |_| {}).await?;
    let resync_secs = t.elapsed().as_secs_f64();
    let counts = graph.store.counts().await?;
    let owed = primary.store.sync_stats().await?.owed;
    let count = |k: EntityKind| counts.entities.get(&k).copied().unwrap_or(0);
    report.check(
        format!("fig1 {tag}: resync wrote every entity, nothing deferred"),
        resynced.deferred.is_empty()
            && counts.purchases == purchases as u64
            && count(EntityKind::User) == spec.users as u64
            && count(EntityKind::Product) == spec.products as u64
            && count(EntityKind::Category) == shop.categories().len() as u64
            && count(EntityKind::Order) == orders as u64,
        format!(
            "expected {purchases} purchases, {} users, {} products, {orders} orders; graph has {counts:?}; deferred {}",
            spec.users,
            spec.products,
            resynced.deferred.len()
        ),
    );
    report.check(
        format!("fig1 {tag}: resync acknowledged every owed change"),
        owed == 0,
        format!("{owed} changes still owed after resync"),
    );
    let batched_rate = purchases as f64 / resync_secs;

    // One call per change: nodes in big batches (untimed), then orders one `apply` each.
    let single_n = match graph_kind {
        GraphKind::Memory => cfg.single_apply_orders.0,
        GraphKind::Neo4j => cfg.single_apply_orders.1,
    }
    .min(orders);
    crate::progress!(
        "fig1 {tag}: resync took {resync_secs:.1} s; one apply per change for {single_n} orders"
    );
    let single_graph = env.graph(graph_kind, &format!("{tag}_single")).await?;
    for kind in [EntityKind::Category, EntityKind::User, EntityKind::Product] {
        let records = expected(&*primary.store, kind, usize::MAX).await?;
        for chunk in records.chunks(1000) {
            let changes: Vec<GraphChange> =
                chunk.iter().cloned().map(GraphChange::Upsert).collect();
            single_graph.store.apply(&changes).await?;
        }
    }
    let order_records = expected(&*primary.store, EntityKind::Order, single_n).await?;
    let single_purchases = purchases_of(&order_records);
    let changes: Vec<GraphChange> = order_records.into_iter().map(GraphChange::Upsert).collect();
    let t = Instant::now();
    let mut deferred = 0usize;
    for change in &changes {
        deferred += single_graph
            .store
            .apply(std::slice::from_ref(change))
            .await?
            .deferred
            .len();
    }
    let single_secs = t.elapsed().as_secs_f64();
    let single_counts = single_graph.store.counts().await?;
    report.check(
        format!("fig1 {tag}: one-call-per-change baseline applied its {single_n} orders"),
        deferred == 0 && single_counts.purchases == single_purchases,
        format!(
            "expected {single_purchases} purchases, graph has {}; {deferred} deferred",
            single_counts.purchases
        ),
    );
    env.dispose_graph(single_graph).await?;
    let single_rate = single_purchases as f64 / single_secs;
    let per_change_ms = single_secs * 1e3 / single_n.max(1) as f64;
    let ratio = batched_rate / single_rate;
    let mut row = Row::new(
        1,
        scale.name(),
        backend,
        format!("resync (batch {batch}, {in_flight} in flight) purchases/s"),
        batched_rate,
        "purchases/s",
    )
    .baseline(single_rate, "1 apply call per order")
    .ratio(ratio, "resync / per-change")
    .samples(format!("{purchases} / {single_purchases} purchases"))
    .note(format!(
        "resync {resync_secs:.2} s incl. reading the primary and writing nodes, {} graph apply calls{}; \
         per-change {per_change_ms:.3} ms/order measured on the first {single_n} of {orders} orders \
         (by id), so all orders would take about {:.1} s (extrapolated)",
        resynced.batches,
        if resynced.bulk {
            format!(
                ", loaded in bulk, of which rebuilding the projections once at the end {:.2} s",
                resynced.rebuild_time.as_secs_f64()
            )
        } else {
            String::new()
        },
        per_change_ms * orders as f64 / 1e3
    ));
    if graph_kind == GraphKind::Neo4j {
        row = row
            .goal(
                ">= 20x and >= 30,000 purchases/s",
                ratio >= 20.0 && batched_rate >= 30_000.0,
            )
            .bounds(Some(Bound::AtLeast(30_000.0)), Some(Bound::AtLeast(20.0)));
    }
    report.rows.push(row);

    // The neighbour lists recommendations read: every purchased product is marked by the
    // resync; what a `NeighbourRefresher` would do next, timed on its own.
    crate::progress!("fig1 {tag}: computing the neighbour lists");
    let (lists, secs) = super::neighbour_lists(graph.store.clone()).await?;
    report.rows.push(
        Row::new(
            1,
            scale.name(),
            backend,
            "neighbour lists after the resync, products/s",
            lists as f64 / secs.max(1e-9),
            "products/s",
        )
        .samples(format!(
            "{lists} products in {secs:.2} s, {} per call",
            super::LIST_BATCH
        )),
    );

    Ok(Prepared {
        shop,
        ids: loaded.ids,
        primary,
        graph,
        backend,
        graph_kind,
    })
}
