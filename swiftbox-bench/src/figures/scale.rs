//! Figure 7 (issue 19): sync throughput and lag with 1, 2 and 4 workers sharing the owed
//! changes by lease, at rising write rates, so the table shows where more workers stop
//! helping.
//!
//! Each cell (workers, offered rate) starts its workers afresh: each has its own
//! [`PartitionLeases`] (a lease group of the cell's own, one worker id each) and its own
//! connection to the primary store (the same store in memory), all of them applying to one
//! observed graph. Timing starts once every worker holds its share of the partitions; a short
//! load at the same rate is offered first and not counted. Writes go through a deferred
//! `Synced`, so the workers carry all the graph work; lag is measured as figure 3 measures it
//! ([`super::lag`]). A worker count climbs the rates until the primary stops achieving the
//! offered rate or the workers stop keeping up with it ([`kept_up`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::{GraphStore, Result};
use swiftbox_sync::lease::{LeaseConfig, PartitionLeases};
use swiftbox_sync::{SyncWorker, WorkerHandle};

use super::lag::{applies, offer, timeline, wait_visible, worker_config, LagStores, Lags};
use super::OrderMaker;
use crate::env::{Env, GraphKind, PrimaryKind};
use crate::report::{Report, Row, ScaleMetric};
use crate::BenchConfig;

/// How long the workers get to settle on their shares before a cell is timed anyway.
const SHARE_PATIENCE: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    env: &Env,
    report: &mut Report,
    cfg: &BenchConfig,
    rates: &[u32],
    primary_kind: PrimaryKind,
    graph_kind: GraphKind,
    backend: &'static str,
) -> Result<()> {
    crate::progress!("fig7 {backend}: catalog");
    let stores = LagStores::new(env, cfg, primary_kind, graph_kind, "scale").await?;
    let mut maker = stores.orders(19);
    for &workers in &cfg.scale_workers {
        for &rate in rates {
            let cell = Cell { workers, rate };
            if !cell
                .run(env, report, cfg, &stores, &mut maker, backend)
                .await?
            {
                crate::progress!(
                    "fig7 {backend}: {workers} worker(s) stopped keeping up at {rate}/s; \
                     no higher rate for them"
                );
                break;
            }
        }
    }
    stores.dispose(env).await
}

/// Whether a cell kept up: the primary achieved at least 90% of the offered rate, and the
/// workers made the orders visible at least at 75% of the rate the primary achieved (the
/// synced rate counts until the last order is visible, so a short load's lag tail alone
/// lowers it a little).
pub(crate) fn kept_up(offered: f64, achieved: f64, synced: f64) -> bool {
    achieved >= 0.9 * offered && synced >= 0.75 * achieved
}

/// Whether `held` (partitions per worker) is a settled split of `partitions`: all of them
/// held, each worker within one of the others.
pub(crate) fn settled(held: &[usize], partitions: usize) -> bool {
    let (lo, hi) = (held.iter().min(), held.iter().max());
    held.iter().sum::<usize>() == partitions && matches!((lo, hi), (Some(l), Some(h)) if h - l <= 1)
}

struct Cell {
    workers: u32,
    rate: u32,
}

impl Cell {
    /// Runs the cell and reports it; `false` when it did not keep up.
    async fn run(
        &self,
        env: &Env,
        report: &mut Report,
        cfg: &BenchConfig,
        stores: &LagStores,
        maker: &mut OrderMaker,
        backend: &'static str,
    ) -> Result<bool> {
        let (workers, rate) = (self.workers, self.rate);
        let (seconds, warm_seconds) = cfg.scale_load;
        let observed = &stores.observed;
        let mut leases = Vec::with_capacity(workers as usize);
        let mut handles: Vec<WorkerHandle> = Vec::with_capacity(workers as usize);
        for i in 0..workers {
            let connection = env.reconnect(&stores.primary).await?;
            let lease = Arc::new(PartitionLeases::new(
                Arc::new(connection.store.clone()),
                LeaseConfig {
                    ttl: cfg.scale_lease_ttl,
                    group: format!("scale-{workers}w-{rate}"),
                    worker_id: Some(format!("w{i}")),
                    ..LeaseConfig::default()
                },
            )?);
            let worker = SyncWorker::with_config(
                Arc::new(connection.store),
                Arc::clone(observed),
                worker_config(),
            )?
            .with_leases(Arc::clone(&lease));
            leases.push(lease);
            handles.push(worker.spawn());
        }
        let partitions = LeaseConfig::default().partitions as usize;
        let share_wait = Instant::now();
        let held = |leases: &[Arc<PartitionLeases<_>>]| {
            leases
                .iter()
                .map(|l| l.held().indexes().len())
                .collect::<Vec<_>>()
        };
        while !settled(&held(&leases), partitions) && share_wait.elapsed() < SHARE_PATIENCE {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let shares = held(&leases);
        let share_wait = share_wait.elapsed().as_secs_f64();
        report.check(
            format!(
                "fig7 {backend}: {workers} worker(s) at {rate}/s held their shares before timing"
            ),
            settled(&shares, partitions),
            format!("partitions held per worker after {share_wait:.1} s: {shares:?}"),
        );

        let visible_before = observed.visible_count();
        let warm_n = rate as usize * warm_seconds as usize;
        let mut warm_lines = 0u64;
        if warm_n > 0 {
            warm_lines = offer(&stores.synced, maker, rate, warm_n).await?.1;
            wait_visible(observed, visible_before + warm_n).await;
        }
        let purchases_before = stores.synced.graph().counts().await?.purchases;
        let applied_before: Vec<u64> = handles.iter().map(|h| h.metrics().applied).collect();
        let calls_before = observed.apply_calls().len();

        let n = (rate as usize * seconds as usize).max(1);
        crate::progress!("fig7 {backend}: {workers} worker(s), {rate} writes/s for {seconds} s");
        let start = Instant::now();
        let (written, lines) = offer(&stores.synced, maker, rate, n).await?;
        let load_secs = start.elapsed().as_secs_f64();
        wait_visible(observed, visible_before + warm_n + n).await;
        let applied: Vec<u64> = handles
            .iter()
            .zip(&applied_before)
            .map(|(h, before)| h.metrics().applied.saturating_sub(*before))
            .collect();
        for handle in handles {
            handle.shutdown().await?;
        }

        let lags = Lags::of(&written, observed);
        let calls = observed.apply_calls();
        let applies = applies(&calls[calls_before.min(calls.len())..]);
        let timeline = timeline(&written, observed, start);
        let purchases = stores.synced.graph().counts().await?.purchases;
        report.check(
            format!("fig7 {backend}: {workers} worker(s) at {rate}/s: every write became visible"),
            lags.invisible == 0 && purchases == purchases_before + lines,
            format!(
                "{} of {n} orders never applied; graph has {} purchases more, {lines} written \
                 (and {warm_lines} in the warm-up)",
                lags.invisible,
                purchases.saturating_sub(purchases_before)
            ),
        );
        let achieved = n as f64 / load_secs;
        // Until the last order is visible: the rate the workers made the load visible at.
        let synced_secs = lags.last_visible.map_or(f64::NAN, |t| {
            t.saturating_duration_since(start).as_secs_f64()
        });
        let synced = n as f64 / synced_secs;
        let drained_after = synced_secs - load_secs;
        let row = |what: &str, value: f64, unit: &str, metric: ScaleMetric| {
            Row::new(
                7,
                "-",
                backend,
                format!("{what}, {workers} worker(s) at {rate} writes/s offered"),
                value,
                unit,
            )
            .cell(workers, rate, metric)
            .samples(format!("{n} writes"))
        };
        report.rows.push(
            row("synced orders/s", synced, "orders/s", ScaleMetric::Synced).note(format!(
                "{rate}/s offered for {seconds} s, {achieved:.0}/s achieved; the last order \
                 visible {drained_after:.2} s after the load ended; {lines} purchases; \
                 changes applied per worker {applied:?} (partitions {shares:?}, settled in \
                 {share_wait:.1} s, lease ttl {:.1} s, own primary connection each); after a \
                 {warm_seconds} s warm-up at the same rate (not counted); lag p50 {:.1} ms, p99 \
                 {:.1} ms, {} applied before the write returned; {applies}; {timeline}",
                cfg.scale_lease_ttl.as_secs_f64(),
                lags.lag.p50(),
                lags.lag.p99(),
                lags.before_ack,
            )),
        );
        report.rows.push(row(
            "writes achieved",
            achieved,
            "writes/s",
            ScaleMetric::Achieved,
        ));
        report.rows.push(row(
            "graph purchases/s",
            lines as f64 / synced_secs,
            "purchases/s",
            ScaleMetric::Purchases,
        ));
        report.rows.push(row(
            "sync lag p50",
            lags.lag.p50(),
            "ms",
            ScaleMetric::LagP50,
        ));
        report.rows.push(row(
            "sync lag p99",
            lags.lag.p99(),
            "ms",
            ScaleMetric::LagP99,
        ));
        Ok(kept_up(f64::from(rate), achieved, synced))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_keeps_up_while_the_primary_and_the_workers_follow_the_offered_rate() {
        assert!(kept_up(1000.0, 990.0, 900.0));
        // The primary falls behind the offered rate.
        assert!(!kept_up(1000.0, 700.0, 700.0));
        // The workers fall behind the primary.
        assert!(!kept_up(1000.0, 1000.0, 600.0));
        // A lag tail after a short load is not falling behind.
        assert!(kept_up(100.0, 100.0, 80.0));
    }

    #[test]
    fn a_split_is_settled_when_every_partition_is_held_and_the_shares_are_even() {
        assert!(settled(&[64], 64));
        assert!(settled(&[16, 16, 16, 16], 64));
        assert!(settled(&[22, 21, 21], 64));
        assert!(!settled(&[64, 0], 64));
        assert!(!settled(&[32, 31], 64));
        assert!(!settled(&[40, 24], 64));
        assert!(!settled(&[], 64));
    }
}
