//! Figure 2: latency of an order placement through `Synced` (inline, and deferred with a worker
//! polling every 100 ms or every second) versus the plain primary store, taking turns order by
//! order so load changes hit all four alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::prelude::*;
use swiftbox_core::{GraphStore, PrimaryStore, Result};
use swiftbox_sync::{SyncConfig, Synced, WorkerConfig};

use super::{catalog, OrderMaker};
use crate::env::{Env, GraphKind, PrimaryKind};
use crate::observed::Observed;
use crate::report::{Bound, Report, Row};
use crate::stats::Samples;
use crate::BenchConfig;

type Dyn = Synced<Arc<dyn PrimaryBackend>, Arc<dyn GraphStore>>;

pub(crate) async fn run(
    env: &Env,
    report: &mut Report,
    cfg: &BenchConfig,
    primary_kind: PrimaryKind,
    graph_kind: GraphKind,
    backend: &'static str,
) -> Result<()> {
    let total = match graph_kind {
        GraphKind::Memory => cfg.write_orders.0,
        GraphKind::Neo4j => cfg.write_orders.1,
    };

    crate::progress!("fig2 {backend}: catalogs");
    let plain = env.primary(primary_kind, "writes_plain").await?;
    let inline_p = env.primary(primary_kind, "writes_inline").await?;
    let inline_g = env.graph(graph_kind, "writes_inline").await?;
    let deferred_p = env.primary(primary_kind, "writes_deferred").await?;
    let deferred_g = env.graph(graph_kind, "writes_deferred").await?;
    let batched_p = env.primary(primary_kind, "writes_batched").await?;
    let batched_g = env.graph(graph_kind, "writes_batched").await?;
    // The inline graph is observed, so the rows can say how much of the inline write is the
    // graph apply (the rest is the primary write and the acknowledgement).
    let inline_graph = Arc::new(Observed::new(inline_g.store.clone()));
    let inline: Dyn = Synced::with_config(
        inline_p.store.clone(),
        Arc::clone(&inline_graph) as Arc<dyn GraphStore>,
        SyncConfig::default(),
    );
    let deferred: Dyn = Synced::with_config(
        deferred_p.store.clone(),
        deferred_g.store.clone(),
        SyncConfig::deferred(),
    );
    let batched: Dyn = Synced::with_config(
        batched_p.store.clone(),
        batched_g.store.clone(),
        SyncConfig::deferred(),
    );
    let worker_config = WorkerConfig {
        grace: Duration::ZERO,
        idle_poll: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    // The same worker polling ten times less often: fewer, larger rounds (each round reads
    // the owed changes of every kind and acknowledges what it applied), for a longer lag.
    let batched_config = WorkerConfig {
        idle_poll: Duration::from_secs(1),
        ..worker_config.clone()
    };

    let (pu, pp) = catalog(&plain.store, "plain", cfg.catalog.0, cfg.catalog.1).await?;
    let (iu, ip) = catalog(&inline, "inline", cfg.catalog.0, cfg.catalog.1).await?;
    let (du, dp) = catalog(&deferred, "deferred", cfg.catalog.0, cfg.catalog.1).await?;
    let (bu, bp) = catalog(&batched, "batched", cfg.catalog.0, cfg.catalog.1).await?;
    deferred.worker(worker_config.clone())?.drain().await?;
    batched.worker(batched_config.clone())?.drain().await?;
    let worker = deferred.worker(worker_config.clone())?.spawn();
    let batched_worker = batched.worker(batched_config.clone())?.spawn();

    let mut makers = [
        OrderMaker::new(7, pu, pp),
        OrderMaker::new(7, iu, ip),
        OrderMaker::new(7, du, dp),
        OrderMaker::new(7, bu, bp),
    ];
    let stores: [&dyn PrimaryStore; 4] = [&plain.store, &inline, &deferred, &batched];
    let mut samples = [
        Samples::new(),
        Samples::new(),
        Samples::new(),
        Samples::new(),
    ];
    let mut lines = [0u64; 4];
    // Warm-up (connections, caches, JIT of the servers), not measured.
    for (i, store) in stores.iter().enumerate() {
        for _ in 0..5 {
            let (order, n) = makers[i].order();
            store.place_order(order).await?;
            lines[i] += n as u64;
        }
    }
    crate::progress!("fig2 {backend}: {total} orders per mode, modes taking turns order by order");
    // One order per mode in turn, so a burst of load from anything else on the machine lands
    // on every mode alike (in blocks of orders per mode, a compile starting during one mode's
    // block showed up as that mode's overhead).
    for _ in 0..total {
        for (i, store) in stores.iter().enumerate() {
            let (order, n) = makers[i].order();
            let t = Instant::now();
            store.place_order(order).await?;
            samples[i].push(t.elapsed());
            lines[i] += n as u64;
        }
    }
    worker.shutdown().await?;
    batched_worker.shutdown().await?;
    deferred.worker(worker_config)?.drain().await?;
    batched.worker(batched_config)?.drain().await?;

    // What was measured must have reached the graph.
    for (name, synced, expected) in [
        ("inline", &inline, lines[1]),
        ("deferred", &deferred, lines[2]),
        ("deferred (1 s poll)", &batched, lines[3]),
    ] {
        let counts = synced.graph().counts().await?;
        let owed = synced.primary().sync_stats().await?.owed;
        report.check(
            format!("fig2 {backend}: every {name} order reached the graph"),
            counts.purchases == expected && owed == 0,
            format!(
                "expected {expected} purchases, graph has {}; {owed} still owed",
                counts.purchases
            ),
        );
    }
    let inline_metrics = inline.metrics().snapshot();
    report.check(
        format!("fig2 {backend}: inline applies all succeeded"),
        inline_metrics.inline_failed == 0 && inline_metrics.inline_deferred == 0,
        format!("{inline_metrics:?}"),
    );

    let mut applies = Samples::new();
    for call in inline_graph.apply_calls() {
        applies.push(call.took);
    }
    let inline_note = format!(
        "of which the inline graph apply: p50 {:.2} ms, p99 {:.2} ms ({} calls, warm-up \
         included); the rest is the primary write and the acknowledgement",
        applies.p50(),
        applies.p99(),
        applies.len()
    );
    let servers = graph_kind == GraphKind::Neo4j;
    let base = &samples[0];
    for (idx, mode, goal) in [
        (1usize, "inline", 2.0),
        (2, "deferred (worker running, polls every 100 ms)", 1.1),
        (3, "deferred (worker running, polls every 1 s)", 1.1),
    ] {
        let s = &samples[idx];
        for (q, v, b) in [("p50", s.p50(), base.p50()), ("p99", s.p99(), base.p99())] {
            let ratio = v / b.max(1e-9);
            let mut row = Row::new(2, "-", backend, format!("place_order {mode} {q}"), v, "ms")
                .baseline(b, "plain primary store")
                .ratio(ratio, "synced / plain")
                .samples(format!("{} / {}", s.len(), base.len()));
            if servers {
                row = row
                    .goal(format!("<= {goal}x"), ratio <= goal)
                    .bounds(None, Some(Bound::AtMost(goal)));
            }
            if idx == 1 {
                row = row.note(inline_note.clone());
            }
            report.rows.push(row);
        }
    }
    for h in [inline_g, deferred_g, batched_g] {
        env.dispose_graph(h).await?;
    }
    for h in [plain, inline_p, deferred_p, batched_p] {
        env.dispose_primary(h).await?;
    }
    Ok(())
}
