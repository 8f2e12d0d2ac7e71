//! Figure 3: time from the primary commit to graph visibility under a sustained write load,
//! with a `SyncWorker` doing all graph work (deferred mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::{GraphStore, Partition, PrimaryStore, Result};
use swiftbox_sync::{SyncConfig, Synced, WorkerConfig};

use super::{catalog, OrderMaker};
use crate::env::{Env, GraphKind, PrimaryKind};
use crate::observed::Observed;
use crate::report::{Report, Row};
use crate::stats::Samples;
use crate::BenchConfig;

pub(crate) async fn run(
    env: &Env,
    report: &mut Report,
    cfg: &BenchConfig,
    (rate, seconds): (u32, u32),
    primary_kind: PrimaryKind,
    graph_kind: GraphKind,
    backend: &'static str,
) -> Result<()> {
    let n = (rate as usize * seconds as usize).max(1);
    crate::progress!("fig3 {backend}: catalog");
    let primary = env.primary(primary_kind, "lag").await?;
    let graph = env.graph(graph_kind, "lag").await?;
    let observed = Arc::new(Observed::new(graph.store.clone()));
    let synced: Synced<Arc<dyn PrimaryStore>, Observed<Arc<dyn GraphStore>>> = Synced::from_arcs(
        Arc::new(primary.store.clone()),
        Arc::clone(&observed),
        SyncConfig::deferred(),
    );
    let worker_config = WorkerConfig {
        grace: Duration::ZERO,
        idle_poll: Duration::from_millis(10),
        ..WorkerConfig::default()
    };
    let (users, products) = catalog(&synced, "lag", cfg.catalog.0, cfg.catalog.1).await?;
    synced.worker(worker_config.clone())?.drain().await?;
    // One worker per partition: each drains only its share of entity ids, so their applies
    // overlap without ever touching the same entity (see `swiftbox_sync::worker`).
    let count = cfg.lag_workers.max(1);
    let mut workers = Vec::with_capacity(count as usize);
    for index in 0..count {
        let config = WorkerConfig {
            partition: Partition { index, count },
            ..worker_config.clone()
        };
        workers.push(synced.worker(config)?.spawn());
    }

    // Open loop: write i starts at i / rate seconds, whatever the earlier ones are doing.
    crate::progress!("fig3 {backend}: {rate} writes/s for {seconds} s");
    let mut maker = OrderMaker::new(11, users, products);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lines = 0u64;
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(due.into()).await;
        let (order, k) = maker.order();
        lines += k as u64;
        let s = synced.clone();
        tasks.spawn(async move {
            let t = Instant::now();
            let placed = s.place_order(order).await?;
            let done = Instant::now();
            Ok::<_, swiftbox_core::Error>((placed.id, done, done - t))
        });
    }
    let mut written = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| swiftbox_core::Error::backend("bench", e.to_string()))?;
        written.push(result?);
    }
    let load_secs = start.elapsed().as_secs_f64();
    // Wait (bounded) until the worker has made every write visible.
    let deadline = Instant::now() + Duration::from_secs(60);
    while observed.visible_count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for worker in workers {
        worker.shutdown().await?;
    }

    let mut lag = Samples::new();
    let mut write = Samples::new();
    let mut invisible = 0usize;
    let mut before_ack = 0usize;
    for (id, done, latency) in &written {
        write.push(*latency);
        match observed.visible_at(id) {
            Some(v) => {
                if v < *done {
                    before_ack += 1;
                }
                lag.push(v.saturating_duration_since(*done));
            }
            None => invisible += 1,
        }
    }
    let counts = synced.graph().counts().await?;
    report.check(
        format!("fig3 {backend}: every write became visible through the worker"),
        invisible == 0 && counts.purchases == lines,
        format!(
            "{invisible} of {n} orders never applied; graph has {} purchases, {lines} written",
            counts.purchases
        ),
    );
    let achieved = n as f64 / load_secs;
    let load =
        format!("{rate} writes/s offered for {seconds} s ({n} orders), {achieved:.0}/s achieved");
    let servers = graph_kind == GraphKind::Neo4j;
    let mut row = Row::new(
        3,
        "-",
        backend,
        format!("sync lag p99 (deferred, {count} worker(s))"),
        lag.p99(),
        "ms",
    )
    .samples(format!("{} writes", lag.len()))
    .note(format!(
        "{load}; lag p50 {:.1} ms; from place_order returning to the worker's apply returning; \
             {before_ack} applied before the write returned (lag 0); {count} worker(s) on \
             {count} partition(s), batch {}, idle poll 10 ms",
        lag.p50(),
        worker_config.batch_size
    ));
    if servers {
        // The goal is about 500 writes/s: a slower load cannot meet it, whatever its lag.
        row = row.goal(
            "p99 < 100 ms at 500 writes/s",
            lag.p99() < 100.0 && rate >= 500 && achieved >= 0.95 * f64::from(rate),
        );
    }
    report.rows.push(row);
    report.rows.push(
        Row::new(
            3,
            "-",
            backend,
            "place_order under that load p50",
            write.p50(),
            "ms",
        )
        .samples(format!("{} writes", write.len()))
        .note(format!("p99 {:.2} ms; {load}", write.p99())),
    );
    env.dispose_graph(graph).await?;
    env.dispose_primary(primary).await?;
    Ok(())
}
