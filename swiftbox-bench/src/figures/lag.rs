//! Figure 3: time from the primary commit to graph visibility under a sustained write load,
//! with a `SyncWorker` doing all graph work (deferred mode). Its stores, load and lag
//! measurement ([`LagStores`], [`offer`], [`Lags`]) are shared with figure 7
//! ([`super::scale`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::prelude::*;
use swiftbox_core::{GraphStore, OrderId, Partition, ProductId, Result, UserId};
use swiftbox_sync::{SyncConfig, Synced, WorkerConfig};

use super::{catalog, OrderMaker};
use crate::env::{Env, GraphHandle, GraphKind, PrimaryHandle, PrimaryKind};
use crate::observed::{ApplyCall, Observed};
use crate::report::{Bound, Report, Row};
use crate::stats::Samples;
use crate::BenchConfig;

/// The decorator the lag figures write through: deferred, its graph observed.
pub(crate) type LagSynced = Synced<Arc<dyn PrimaryBackend>, Observed<Arc<dyn GraphStore>>>;

/// A fresh primary and graph with the catalog of [`BenchConfig::catalog`] in both (written
/// through a deferred [`LagSynced`] and drained), the graph observed.
pub(crate) struct LagStores {
    pub(crate) primary: PrimaryHandle,
    graph: GraphHandle,
    pub(crate) observed: Arc<Observed<Arc<dyn GraphStore>>>,
    pub(crate) synced: LagSynced,
    pub(crate) users: Vec<UserId>,
    pub(crate) products: Vec<ProductId>,
}

/// The worker settings of the lag figures: no grace, a 10 ms idle poll, the rest default.
pub(crate) fn worker_config() -> WorkerConfig {
    WorkerConfig {
        grace: Duration::ZERO,
        idle_poll: Duration::from_millis(10),
        ..WorkerConfig::default()
    }
}

impl LagStores {
    pub(crate) async fn new(
        env: &Env,
        cfg: &BenchConfig,
        primary_kind: PrimaryKind,
        graph_kind: GraphKind,
        label: &str,
    ) -> Result<Self> {
        let primary = env.primary(primary_kind, label).await?;
        let graph = env.graph(graph_kind, label).await?;
        let observed = Arc::new(Observed::new(graph.store.clone()));
        let synced: LagSynced = Synced::from_arcs(
            Arc::new(primary.store.clone()),
            Arc::clone(&observed),
            SyncConfig::deferred(),
        );
        let (users, products) = catalog(&synced, label, cfg.catalog.0, cfg.catalog.1).await?;
        synced.worker(worker_config())?.drain().await?;
        Ok(Self {
            primary,
            graph,
            observed,
            synced,
            users,
            products,
        })
    }

    /// Deterministic orders over the catalog.
    pub(crate) fn orders(&self, seed: u64) -> OrderMaker {
        OrderMaker::new(seed, self.users.clone(), self.products.clone())
    }

    /// Removes the server-side data now.
    pub(crate) async fn dispose(self, env: &Env) -> Result<()> {
        env.dispose_graph(self.graph).await?;
        env.dispose_primary(self.primary).await
    }
}

/// The lags of the orders [`offer`] wrote, as the observed graph saw them.
pub(crate) struct Lags {
    /// From `place_order` returning to the graph's `apply` returning with the order.
    pub(crate) lag: Samples,
    /// `place_order`'s own latency.
    pub(crate) write: Samples,
    /// Orders never applied.
    pub(crate) invisible: usize,
    /// Orders applied before their write returned (lag 0).
    pub(crate) before_ack: usize,
    /// When the last of them became visible.
    pub(crate) last_visible: Option<Instant>,
}

impl Lags {
    pub(crate) fn of(written: &[Written], observed: &Observed<Arc<dyn GraphStore>>) -> Self {
        let mut lags = Lags {
            lag: Samples::new(),
            write: Samples::new(),
            invisible: 0,
            before_ack: 0,
            last_visible: None,
        };
        for (id, done, latency) in written {
            lags.write.push(*latency);
            match observed.visible_at(id) {
                Some(v) => {
                    if v < *done {
                        lags.before_ack += 1;
                    }
                    lags.lag.push(v.saturating_duration_since(*done));
                    lags.last_visible = lags.last_visible.max(Some(v));
                }
                None => lags.invisible += 1,
            }
        }
        lags
    }
}

/// The graph's apply calls in words: how many, their size and time.
pub(crate) fn applies(calls: &[ApplyCall]) -> String {
    let mut apply = Samples::new();
    let mut changes = 0usize;
    for call in calls {
        apply.push(call.took);
        changes += call.changes;
    }
    let slowest = calls
        .iter()
        .max_by_key(|c| c.took)
        .map(|c| {
            format!(
                " (started {} UTC, {} change{})",
                c.started.format("%H:%M:%S%.3f"),
                c.changes,
                if c.changes == 1 { "" } else { "s" }
            )
        })
        .unwrap_or_default();
    format!(
        "{} apply calls during the load ({:.1} changes each), apply p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms{slowest}",
        calls.len(),
        changes as f64 / calls.len().max(1) as f64,
        apply.p50(),
        apply.p99(),
        apply.quantile_ms(1.0)
    )
}

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
    let stores = LagStores::new(env, cfg, primary_kind, graph_kind, "lag").await?;
    let (synced, observed) = (&stores.synced, &stores.observed);
    let worker_config = worker_config();
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

    // Warm-up: the same load for `lag_warmup` seconds, waited out and not counted, so a cold
    // JVM (JIT, first query plans) is not measured as sync lag.
    let mut maker = stores.orders(11);
    let warm_n = rate as usize * cfg.lag_warmup as usize;
    let mut warm_lines = 0u64;
    if warm_n > 0 {
        crate::progress!(
            "fig3 {backend}: warm-up, {rate} writes/s for {} s",
            cfg.lag_warmup
        );
        warm_lines = offer(synced, &mut maker, rate, warm_n).await?.1;
        wait_visible(observed, warm_n).await;
    }
    let calls_before = observed.apply_calls().len();

    crate::progress!("fig3 {backend}: {rate} writes/s for {seconds} s");
    let start = Instant::now();
    let (written, lines) = offer(synced, &mut maker, rate, n).await?;
    let load_secs = start.elapsed().as_secs_f64();
    wait_visible(observed, warm_n + n).await;
    for worker in workers {
        worker.shutdown().await?;
    }

    let Lags {
        lag,
        write,
        invisible,
        before_ack,
        ..
    } = Lags::of(&written, observed);
    let timeline = timeline(&written, observed, start);
    let calls = observed.apply_calls();
    let applies = applies(&calls[calls_before.min(calls.len())..]);
    let counts = synced.graph().counts().await?;
    report.check(
        format!("fig3 {backend}: every write became visible through the worker"),
        invisible == 0 && counts.purchases == warm_lines + lines,
        format!(
            "{invisible} of {n} orders never applied; graph has {} purchases, {} written",
            counts.purchases,
            warm_lines + lines
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
        format!("sync lag p99 at {rate} writes/s (deferred, {count} worker(s))"),
        lag.p99(),
        "ms",
    )
    .samples(format!("{} writes", lag.len()))
    .note(format!(
        "{load}; lag p50 {:.1} ms; from place_order returning to the worker's apply returning; \
             {before_ack} applied before the write returned (lag 0); {count} worker(s) on \
             {count} partition(s), batch {}, idle poll 10 ms; after a {} s warm-up at the same \
             rate (not counted); {applies}; {timeline}",
        lag.p50(),
        worker_config.batch_size,
        cfg.lag_warmup
    ));
    if servers {
        // The goal is about 500 writes/s: a slower load cannot meet it, whatever its lag.
        row = row.goal(
            "p99 < 100 ms at 500 writes/s",
            lag.p99() < 100.0 && rate >= 500 && achieved >= 0.95 * f64::from(rate),
        );
        // A load below 500 writes/s misses the goal whatever its lag: no bound makes it
        // unsettled.
        if rate >= 500 {
            row = row.bounds(Some(Bound::Below(100.0)), None);
        }
    }
    report.rows.push(row);
    let write_row = |what: String, value: f64| {
        Row::new(3, "-", backend, what, value, "ms")
            .samples(format!("{} writes", write.len()))
            .note(load.clone())
    };
    report.rows.push(write_row(
        format!("place_order at {rate} writes/s p50"),
        write.p50(),
    ));
    report.rows.push(write_row(
        format!("place_order at {rate} writes/s p99"),
        write.p99(),
    ));
    report.rows.push(
        Row::new(
            3,
            "-",
            backend,
            format!("achieved writes/s at {rate} offered"),
            achieved,
            "writes/s",
        )
        .samples(format!("{n} orders"))
        .note(load.clone()),
    );
    stores.dispose(env).await
}

/// Offers `n` orders at `rate` per second, open loop (write i starts at i / rate seconds,
/// whatever the earlier ones are doing); returns each order's id, when its write returned and
/// its latency, and the number of order lines written.
pub(crate) async fn offer(
    synced: &LagSynced,
    maker: &mut OrderMaker,
    rate: u32,
    n: usize,
) -> Result<(Vec<Written>, u64)> {
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
    Ok((written, lines))
}

/// An order written by [`offer`]: id, when the write returned, its latency.
pub(crate) type Written = (OrderId, Instant, Duration);

/// Waits (at most 60 s) until `n` orders are visible in the graph.
pub(crate) async fn wait_visible(observed: &Observed<Arc<dyn GraphStore>>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while observed.visible_count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Where the slow writes are in time: how many writes waited over 100 ms for the graph, in how
/// many of the load's seconds, and the worst second.
pub(crate) fn timeline(
    written: &[Written],
    observed: &Observed<Arc<dyn GraphStore>>,
    start: Instant,
) -> String {
    let mut per_second: std::collections::BTreeMap<u64, (usize, f64)> = Default::default();
    let mut slow = 0usize;
    for (id, done, _) in written {
        let Some(v) = observed.visible_at(id) else {
            continue;
        };
        let lag_ms = v.saturating_duration_since(*done).as_secs_f64() * 1e3;
        if lag_ms > 100.0 {
            slow += 1;
            let second = done.saturating_duration_since(start).as_secs();
            let entry = per_second.entry(second).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(lag_ms);
        }
    }
    let worst = per_second
        .iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0))
        .map(|(s, (k, max))| format!("; worst: second {s} with {k} (max {max:.0} ms)"))
        .unwrap_or_default();
    format!(
        "{slow} writes over 100 ms, in {} distinct second(s) of the load{worst}",
        per_second.len()
    )
}
