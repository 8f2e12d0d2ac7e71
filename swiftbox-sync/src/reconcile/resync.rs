//! [`Reconciler::resync`]: rebuild the whole graph from the primary store.

use std::future::Future;

use futures::stream::{FuturesOrdered, StreamExt};
use swiftbox_core::prelude::*;
use swiftbox_core::{ApplyReport, EntityKind, EntityRef, Error, GraphChange, GraphStore, Result};

use super::adaptive::CallSize;
use super::merge::{MergeJoin, Pair};
use super::Reconciler;
use crate::config::Backoff;

/// Where a resync got to: resume with [`Reconciler::resync`] from here. Serializable, so a job
/// can store it between runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResyncCheckpoint {
    /// The kind being rebuilt (kinds go in [`EntityKind::ALL`] order).
    pub kind: EntityKind,
    /// The last id of that kind done; `None` for the kind's start.
    pub after: Option<String>,
}

impl ResyncCheckpoint {
    /// The very beginning.
    pub fn start() -> Self {
        Self {
            kind: EntityKind::ALL[0],
            after: None,
        }
    }
}

/// Reported after every batch of a resync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResyncProgress {
    /// The kind being rebuilt.
    pub kind: EntityKind,
    /// Entities of this kind done so far in this run (expected and extra).
    pub done_in_kind: u64,
    /// Live entities of this kind in the primary store when the run started (an estimate for a
    /// progress bar: writes during the run change it).
    pub total_in_kind: u64,
    /// Kinds finished before this one, of [`EntityKind::ALL`]'s five.
    pub kinds_done: usize,
    /// Where to resume if the run stops now.
    pub checkpoint: ResyncCheckpoint,
    /// Records written so far in this run.
    pub upserted: u64,
    /// Extra records removed so far in this run.
    pub deleted: u64,
}

/// What [`Reconciler::resync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResyncReport {
    /// Records written (every live entity from the checkpoint on).
    pub upserted: u64,
    /// Extra records removed.
    pub deleted: u64,
    /// Writes the graph ignored because it holds a newer version.
    pub ignored: u64,
    /// Writes the graph deferred (a referenced node is missing); they stay owed for the worker.
    pub deferred: Vec<EntityRef>,
    /// Graph calls made (writes; a batch is split into several calls when the graph cannot
    /// write it whole in time).
    pub batches: u64,
    /// Graph calls that failed with a retryable error while the graph answered, and whose
    /// changes were written again: split in smaller calls, or after a pause when already at
    /// [`super::ReconcilerConfig::min_batch_size`].
    pub retried: u64,
    /// Whether the run loaded the graph in bulk ([`GraphStore::apply_bulk`], then one
    /// [`GraphStore::rebuild_projections`]): it does when the graph held no entity at its start,
    /// and when it resumes a checkpoint.
    pub bulk: bool,
    /// Of the run's time, how long the one [`GraphStore::rebuild_projections`] of a bulk load
    /// took (zero when the run did not load in bulk).
    pub rebuild_time: std::time::Duration,
}

impl<P: PrimaryBackend, G: GraphStore> Reconciler<P, G> {
    /// Rebuilds the graph from the primary store: for every kind (referenced kinds first), every
    /// live entity's expected record is written and every graph record the primary store does
    /// not expect (checked again against the primary store, so a write acknowledged during the
    /// run is kept) is removed, [`super::ReconcilerConfig::batch_size`] at a time. Written
    /// versions are acknowledged, so the owed changes they settle leave the queue. Views are
    /// left alone (they live only in the graph), except those of removed users and products.
    ///
    /// A graph call that fails with a retryable error while the graph answers (an apply that
    /// timed out on a cold server, a deadlock) is split and written again in smaller calls,
    /// down to [`super::ReconcilerConfig::min_batch_size`], and the call size grows back after
    /// successes; so a big resync on a cold graph completes rather than failing for its batch
    /// size.
    ///
    /// A graph that holds no entity when the run starts is loaded in bulk
    /// ([`GraphStore::apply_bulk`]: the graph's projections, such as popularity counters and
    /// trend buckets, are not kept row by row) and its projections are rebuilt once at the end
    /// ([`GraphStore::rebuild_projections`]); so is a run that resumes a checkpoint. Popular,
    /// trending and recommendation queries read stale projections until that rebuild.
    ///
    /// `from` resumes an interrupted run (`None` starts over). After every batch `progress` gets
    /// a [`ResyncProgress`] whose checkpoint is where to resume; keep the last one: if this
    /// returns an error (the graph or primary store failed), run again from it. Resuming is safe
    /// even from an older checkpoint: every write is idempotent and version-guarded.
    #[tracing::instrument(name = "reconciler.resync", skip_all)]
    pub async fn resync(
        &self,
        from: Option<ResyncCheckpoint>,
        mut progress: impl FnMut(&ResyncProgress) + Send,
    ) -> Result<ResyncReport> {
        let from = from.unwrap_or_else(ResyncCheckpoint::start);
        let first = from.kind.rank();
        if first >= EntityKind::ALL.len() {
            return Err(Error::invalid("checkpoint.kind", "unknown kind"));
        }
        let totals = self.primary.sync_stats().await?.entities;
        // A graph with nothing in it (a first resync, a lost graph) is loaded in bulk, its
        // projections rebuilt once at the end rather than row by row; a resumed run too, since
        // the run it resumes may have been one (a rebuild is exact either way).
        let bulk = from != ResyncCheckpoint::start()
            || self
                .graph
                .counts()
                .await?
                .entities
                .values()
                .all(|n| *n == 0);
        let mut report = ResyncReport {
            bulk,
            ..ResyncReport::default()
        };
        for (kinds_done, kind) in EntityKind::ALL.into_iter().enumerate().skip(first) {
            let after = if kinds_done == first {
                from.after.clone()
            } else {
                None
            };
            // Per kind: a kind's changes cost the graph differently from another's.
            let size = CallSize::new(self.config.min_batch_size, self.config.batch_size);
            let mut join = MergeJoin::new(
                &*self.primary,
                &*self.graph,
                kind,
                after,
                self.config.batch_size,
            );
            let mut state = ResyncProgress {
                kind,
                done_in_kind: 0,
                total_in_kind: totals.get(&kind).copied().unwrap_or(0),
                kinds_done,
                checkpoint: ResyncCheckpoint { kind, after: None },
                upserted: report.upserted,
                deleted: report.deleted,
            };
            tracing::info!(
                kind = kind.as_str(),
                total = state.total_in_kind,
                "resync of kind started"
            );
            // Batches of this kind being written (at most `batches_in_flight`), oldest first;
            // the next batch is read from both sides while they are. All of them finish before
            // the next kind starts, so a kind's references (earlier kinds) are written before
            // any of its batches.
            let mut in_flight = FuturesOrdered::new();
            loop {
                let read = self.next_batch(&mut join);
                tokio::pin!(read);
                let read = loop {
                    tokio::select! {
                        // Finished batches first, so progress is never held back by a read.
                        biased;
                        Some(written) = in_flight.next(), if !in_flight.is_empty() => {
                            settle(written, &mut in_flight, &mut report, &mut state, &mut progress)
                                .await?;
                        }
                        read = &mut read => break read,
                    }
                };
                let (changes, last, end) = match read {
                    Ok(read) => read,
                    Err(err) => {
                        finish_quietly(&mut in_flight).await;
                        return Err(err);
                    }
                };
                let mut pending = (!changes.is_empty()).then_some((changes, last));
                loop {
                    if in_flight.len() < self.config.batches_in_flight {
                        if let Some((changes, last)) = pending.take() {
                            in_flight.push_back(self.write_batch(changes, last, &size, bulk));
                        }
                    }
                    // Read on once the batch is on its way; at the end of the kind, only once
                    // every batch of it is written.
                    if pending.is_none() && (!end || in_flight.is_empty()) {
                        break;
                    }
                    if let Some(written) = in_flight.next().await {
                        settle(
                            written,
                            &mut in_flight,
                            &mut report,
                            &mut state,
                            &mut progress,
                        )
                        .await?;
                    }
                }
                if end {
                    break;
                }
            }
            if state.done_in_kind == 0 {
                progress(&state);
            }
        }
        if bulk {
            tracing::info!("resync written in bulk; rebuilding the graph's projections");
            let started = std::time::Instant::now();
            self.graph.rebuild_projections().await?;
            report.rebuild_time = started.elapsed();
        }
        tracing::info!(
            upserted = report.upserted,
            deleted = report.deleted,
            deferred = report.deferred.len(),
            bulk,
            "resync done"
        );
        Ok(report)
    }

    /// The next batch of `join`'s kind (up to [`super::ReconcilerConfig::batch_size`] changes),
    /// the last id it covers (where to resume once it is written), and whether the kind is
    /// done.
    async fn next_batch(
        &self,
        join: &mut MergeJoin<'_, P, G>,
    ) -> Result<(Vec<GraphChange>, Option<String>, bool)> {
        let mut batch = Vec::with_capacity(self.config.batch_size);
        let mut last_id = None;
        while batch.len() < self.config.batch_size {
            let Some((id, pair)) = join.next().await? else {
                return Ok((batch, last_id, true));
            };
            match pair {
                Pair::Both { expected, .. } | Pair::Missing(expected) => {
                    batch.push(GraphChange::Upsert(expected));
                }
                // Only if still extra: the primary page may predate a write the graph got (and
                // acknowledged) before its page was read.
                Pair::Extra(found) => {
                    if self.still_drift(&found).await? {
                        batch.push(GraphChange::Delete {
                            entity: found.entity(),
                            version: found.version(),
                        });
                    }
                }
            }
            last_id = Some(id);
        }
        Ok((batch, last_id, false))
    }

    /// Writes one batch (and acknowledges what it settled), keeping the batch for
    /// [`settle`].
    async fn write_batch(
        &self,
        changes: Vec<GraphChange>,
        last: Option<String>,
        size: &CallSize,
        bulk: bool,
    ) -> Written {
        let result = self.write_in_calls(&changes, size, bulk).await;
        (changes, last, result)
    }

    /// Writes `changes` and acknowledges them, in graph calls of `size`'s current size,
    /// adapting it: a call that fails with a retryable error while the graph answers a ping
    /// shrinks the size and its changes go again in smaller calls; at the floor the call is
    /// made again after a pause, [`super::ReconcilerConfig::retries_at_min`] times at most.
    /// A graph that does not answer, an error at the floor after the last retry, and any
    /// error that is not retryable (or of the primary store) end the batch with that error.
    async fn write_in_calls(
        &self,
        changes: &[GraphChange],
        size: &CallSize,
        bulk: bool,
    ) -> Result<Wrote> {
        let mut wrote = Wrote::default();
        let mut rest = changes;
        let mut failures_at_floor = 0;
        while !rest.is_empty() {
            let n = size.get().min(rest.len());
            let (call, tail) = rest.split_at(n);
            wrote.calls += 1;
            let err = match self.write_as(call, bulk).await {
                Ok(applied) => {
                    wrote.acked += self.ack_written(call, &applied).await?;
                    wrote.applied.applied += applied.applied;
                    wrote.applied.stale += applied.stale;
                    wrote.applied.deferred.extend(applied.deferred);
                    size.grow(n);
                    failures_at_floor = 0;
                    rest = tail;
                    continue;
                }
                Err(err) if err.is_retryable() => err,
                Err(err) => return Err(err),
            };
            if !self.graph_answers().await {
                return Err(err);
            }
            wrote.retried += 1;
            if size.at_floor(n) {
                failures_at_floor += 1;
                if failures_at_floor > self.config.retries_at_min {
                    return Err(err);
                }
                tracing::warn!(changes = n, error = %err, attempt = failures_at_floor, "resync call failed at the smallest size; trying it again");
                tokio::time::sleep(Backoff::default().delay(failures_at_floor)).await;
            } else {
                size.shrink(n);
                tracing::warn!(changes = n, error = %err, next = size.get(), "resync call failed while the graph answers; splitting it");
            }
        }
        Ok(wrote)
    }

    /// Whether the graph answers a ping within the apply timeout, or [`PING_TIMEOUT`] if that is
    /// longer (a ping on a busy server may need a new connection): a failed call on a graph that
    /// answers is worth retrying smaller; on one that does not, the run stops (an outage).
    async fn graph_answers(&self) -> bool {
        let bound = self.config.apply_timeout.max(PING_TIMEOUT);
        matches!(
            tokio::time::timeout(bound, self.graph.ping()).await,
            Ok(Ok(()))
        )
    }
}

/// The shortest wait for the ping that tells an outage from a call too big or too unlucky.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What writing one batch gave, over all its graph calls.
#[derive(Debug, Default)]
struct Wrote {
    /// The graph's reports, summed.
    applied: ApplyReport,
    /// Upserts acknowledged.
    acked: u64,
    /// Graph calls made.
    calls: u64,
    /// Calls that failed and whose changes went again.
    retried: u64,
}

/// A batch as written: its changes, the last id it covers, and what writing it gave.
type Written = (Vec<GraphChange>, Option<String>, Result<Wrote>);

/// Accounts for the oldest batch in flight once it is written, and reports progress. A batch
/// that failed (its calls were already retried as far as [`Reconciler::write_in_calls`] goes)
/// ends the run once the batches in flight have finished (unreported: the checkpoint stays
/// behind the failed batch).
async fn settle<F: Future<Output = Written>>(
    (changes, last, result): Written,
    in_flight: &mut FuturesOrdered<F>,
    report: &mut ResyncReport,
    state: &mut ResyncProgress,
    progress: &mut (impl FnMut(&ResyncProgress) + Send),
) -> Result<()> {
    match result {
        Ok(wrote) => {
            record(&changes, last, wrote, report, state, progress);
            Ok(())
        }
        Err(err) => {
            finish_quietly(in_flight).await;
            Err(err)
        }
    }
}

/// Lets the batches in flight finish (so no write of a failed run goes on after it returns),
/// ignoring how they went: the run reports none of them.
async fn finish_quietly<F: Future<Output = Written>>(in_flight: &mut FuturesOrdered<F>) {
    while in_flight.next().await.is_some() {}
}

/// Accounts for one written batch and reports progress, with the checkpoint after it.
fn record(
    changes: &[GraphChange],
    last: Option<String>,
    written: Wrote,
    report: &mut ResyncReport,
    state: &mut ResyncProgress,
    progress: &mut impl FnMut(&ResyncProgress),
) {
    account(changes, written, report);
    state.done_in_kind += changes.len() as u64;
    state.checkpoint.after = last;
    state.upserted = report.upserted;
    state.deleted = report.deleted;
    tracing::info!(
        kind = state.kind.as_str(),
        done = state.done_in_kind,
        total = state.total_in_kind,
        "resync progress"
    );
    let kind = state.kind.as_str();
    metrics::gauge!("swiftbox_resync_entities_written", "kind" => kind)
        .set(state.done_in_kind as f64);
    metrics::gauge!("swiftbox_resync_entities_expected", "kind" => kind)
        .set(state.total_in_kind as f64);
    progress(state);
}

/// Adds one applied batch to the run's report.
fn account(batch: &[GraphChange], wrote: Wrote, report: &mut ResyncReport) {
    let Wrote {
        applied,
        acked,
        calls,
        retried,
    } = wrote;
    report.batches += calls;
    report.retried += retried;
    let deletes = batch
        .iter()
        .filter(|c| matches!(c, GraphChange::Delete { .. }))
        .count() as u64;
    report.deleted += deletes;
    report.upserted += acked;
    report.ignored += applied.stale;
    report.deferred.extend(applied.deferred);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use swiftbox_core::generator::{DemoShop, ShopSpec};
    use swiftbox_core::memory::{MemoryGraph, MemoryStore};

    use super::*;
    use crate::ReconcilerConfig;

    /// Bulk is chosen for an empty graph and for a resumed run, not for a graph that holds
    /// entities; a bulk run calls `rebuild_projections` once, at the end (seen through a
    /// `FaultyGraph` that fails that call: the run fails after writing everything).
    #[tokio::test]
    async fn an_empty_graph_is_loaded_in_bulk_and_rebuilt_once() {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        // A first run counts the graph calls a bulk resync makes; in a second, on a fresh
        // graph, the last of them (the rebuild) fails.
        let counted = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
        let first = Reconciler::new(Arc::clone(&store), Arc::clone(&counted))
            .resync(None, |_| {})
            .await
            .unwrap();
        assert!(first.bulk);
        let calls = counted.faults().calls();
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        let graph = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
        let reconciler = Reconciler::new(Arc::clone(&store), Arc::clone(&graph));
        graph.faults().fail_nth_call(calls);
        let err = reconciler.resync(None, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("rebuild_projections"), "{err}");
        assert_eq!(
            store.sync_stats().await.unwrap().owed,
            0,
            "everything written first"
        );
        // The graph holds entities now: a fresh run is not bulk; a resumed one is.
        let again = reconciler.resync(None, |_| {}).await.unwrap();
        assert!(!again.bulk);
        let resumed = reconciler
            .resync(
                Some(ResyncCheckpoint {
                    kind: EntityKind::Order,
                    after: None,
                }),
                |_| {},
            )
            .await
            .unwrap();
        assert!(resumed.bulk);
    }

    /// Several batches of a kind in flight write the same graph as one at a time, settle every
    /// owed change, and report checkpoints in id order.
    #[tokio::test]
    async fn concurrent_batches_rebuild_the_whole_graph() {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        let graph = Arc::new(MemoryGraph::new());
        let reconciler = Reconciler::new(Arc::clone(&store), Arc::clone(&graph))
            .with_config(ReconcilerConfig {
                batch_size: 7,
                batches_in_flight: 3,
                ..ReconcilerConfig::default()
            })
            .unwrap();
        let mut checkpoints = Vec::new();
        let report = reconciler
            .resync(None, |p| checkpoints.push(p.checkpoint.clone()))
            .await
            .unwrap();
        assert!(report.deferred.is_empty(), "{report:?}");
        assert_eq!(store.sync_stats().await.unwrap().owed, 0);
        let drift = reconciler.check().await.unwrap();
        assert!(drift.is_clean(), "{drift}");
        for pair in checkpoints.windows(2) {
            if pair[0].kind == pair[1].kind {
                assert!(pair[0].after < pair[1].after, "{pair:?}");
            }
        }
    }

    /// A concurrent batch failing with `Unavailable` while the graph answers (what a Neo4j
    /// deadlock between two batches gives) is written again and the run completes with a
    /// clean graph. Every call of the run is failed once in turn; a failure of a read ends
    /// the run with the error, but never with drift.
    #[tokio::test]
    async fn a_failed_concurrent_batch_is_written_again() {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let config = ReconcilerConfig {
            batch_size: 7,
            batches_in_flight: 3,
            ..ReconcilerConfig::default()
        };
        let mut retried = 0;
        for k in 1..400u64 {
            let store = Arc::new(MemoryStore::new());
            shop.load_into(&*store).await.unwrap();
            let graph = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
            graph.faults().fail_nth_call(k);
            let reconciler = Reconciler::new(Arc::clone(&store), Arc::clone(&graph))
                .with_config(config.clone())
                .unwrap();
            let run = reconciler.resync(None, |_| {}).await;
            if graph.faults().injected() == 0 {
                run.unwrap();
                break; // k is past the run's last call
            }
            if run.is_ok() {
                retried += 1;
                assert_eq!(store.sync_stats().await.unwrap().owed, 0, "call {k}");
                let drift = reconciler.check().await.unwrap();
                assert!(drift.is_clean(), "call {k}: {drift}");
            }
        }
        assert!(retried > 0, "no failed call was retried");
    }

    /// The next batch is read (here: the graph's side of it, one `records` call) while the
    /// batch before it is being written, even with one batch in flight.
    #[tokio::test]
    async fn the_next_batch_is_read_while_one_is_written() {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        let graph = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
        let config = ReconcilerConfig {
            batch_size: 2,
            batches_in_flight: 1,
            ..ReconcilerConfig::default()
        };
        let reconciler = Arc::new(
            Reconciler::new(Arc::clone(&store), Arc::clone(&graph))
                .with_config(config)
                .unwrap(),
        );
        // A full graph, so every batch of the second run reads a page of graph records.
        reconciler.resync(None, |_| {}).await.unwrap();
        let faults = Arc::clone(graph.faults());
        let before = faults.calls();
        faults.set_hang(true);
        let run = tokio::spawn({
            let reconciler = Arc::clone(&reconciler);
            async move { reconciler.resync(None, |_| {}).await }
        });
        // Calls of the second run: records (first page of categories), apply (hangs), then,
        // while it hangs, records (second page).
        let read_ahead = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while faults.hung_calls() < 1 || faults.calls() < before + 3 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        let calls_while_hung = faults.calls() - before;
        faults.set_hang(false);
        let report = run.await.unwrap().unwrap();
        assert!(
            read_ahead.is_ok(),
            "{calls_while_hung} graph calls while the first apply hung"
        );
        assert_eq!(faults.hung_calls(), 1);
        assert!(report.deferred.is_empty(), "{report:?}");
        assert!(reconciler.check().await.unwrap().is_clean());
    }

    /// A graph that cannot write more than 7 changes within the apply timeout (every bigger
    /// apply hangs until the timeout gives up on it, as a cold Neo4j does with a big batch):
    /// the resync splits its batches until they fit and completes with a clean graph.
    #[tokio::test(start_paused = true)]
    async fn a_batch_that_times_out_is_split_until_it_fits() {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        let graph = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
        graph.faults().set_max_apply(Some(7));
        let reconciler = Reconciler::new(Arc::clone(&store), Arc::clone(&graph))
            .with_config(ReconcilerConfig {
                batch_size: 50,
                batches_in_flight: 2,
                apply_timeout: std::time::Duration::from_secs(1),
                ..ReconcilerConfig::default()
            })
            .unwrap();
        let report = reconciler.resync(None, |_| {}).await.unwrap();
        assert!(report.deferred.is_empty(), "{report:?}");
        assert!(graph.faults().hung_calls() > 0, "no apply timed out");
        assert!(report.retried > 0, "{report:?}");
        assert_eq!(store.sync_stats().await.unwrap().owed, 0);
        let drift = reconciler.check().await.unwrap();
        assert!(drift.is_clean(), "{drift}");
    }

    /// A resync of the tiny shop in batches of 50 on a faulty graph, with 3 retries at the
    /// floor of 1 change.
    async fn faulty_run() -> (
        Arc<MemoryStore>,
        Arc<crate::testing::FaultyGraph<MemoryGraph>>,
        Reconciler<MemoryStore, crate::testing::FaultyGraph<MemoryGraph>>,
    ) {
        let shop = DemoShop::generate(&ShopSpec::tiny());
        let store = Arc::new(MemoryStore::new());
        shop.load_into(&*store).await.unwrap();
        let graph = Arc::new(crate::testing::FaultyGraph::new(MemoryGraph::new()));
        let reconciler = Reconciler::new(Arc::clone(&store), Arc::clone(&graph))
            .with_config(ReconcilerConfig {
                batch_size: 50,
                min_batch_size: 1,
                retries_at_min: 3,
                batches_in_flight: 1,
                apply_timeout: std::time::Duration::from_secs(1),
                ..ReconcilerConfig::default()
            })
            .unwrap();
        (store, graph, reconciler)
    }

    /// The first product of the shop in `store`.
    async fn a_product(store: &MemoryStore) -> EntityRef {
        let page = store
            .list_products(swiftbox_core::ProductQuery {
                category: None,
                page: swiftbox_core::PageRequest::first(1),
            })
            .await
            .unwrap();
        EntityRef::new(EntityKind::Product, page.items[0].id)
    }

    /// A change the graph refuses for good (not retryable) ends the run with that error after
    /// the one call that carried it: it is not split or retried.
    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_is_not_retried() {
        let (store, graph, reconciler) = faulty_run().await;
        graph.faults().poison(a_product(&store).await);
        let err = reconciler.resync(None, |_| {}).await.unwrap_err();
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        assert_eq!(graph.faults().injected(), 1);
    }

    /// A change that fails with a retryable error every time while the graph answers is split
    /// down to a call of its own, tried 1 + `retries_at_min` times there, and then the run
    /// ends with the error: a bounded number of calls, never a loop.
    #[tokio::test(start_paused = true)]
    async fn a_change_that_always_fails_ends_the_run_after_its_retries() {
        let (store, graph, reconciler) = faulty_run().await;
        graph.faults().poison_retryable(a_product(&store).await);
        let err = reconciler.resync(None, |_| {}).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let failed = graph.faults().injected();
        // Halvings from 50 to 1 (at most 6), then 1 + 3 calls at the floor.
        assert!((5..=10).contains(&failed), "{failed} failed calls");
        let stats = store.sync_stats().await.unwrap();
        assert!(stats.owed > 0, "the products after it are still owed");
    }

    /// A graph that stops answering ends the run at once (resume from the checkpoint): no
    /// splitting, no retries against a graph that is down.
    #[tokio::test(start_paused = true)]
    async fn an_outage_ends_the_run_without_splitting() {
        let (_store, graph, reconciler) = faulty_run().await;
        let faults = Arc::clone(graph.faults());
        let mut reported = 0;
        let err = reconciler
            .resync(None, |_| {
                reported += 1;
                if reported == 2 {
                    faults.set_down(true);
                }
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        // The read ahead, or the apply and the ping after it.
        assert!(
            graph.faults().injected() <= 2,
            "{}",
            graph.faults().injected()
        );
    }

    #[test]
    fn min_batch_size_outside_1_to_batch_size_is_invalid() {
        for bad in [0, 101] {
            let err = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryGraph::new()))
                .with_config(ReconcilerConfig {
                    batch_size: 100,
                    min_batch_size: bad,
                    ..ReconcilerConfig::default()
                })
                .unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, .. } if field == "min_batch_size"),
                "{err}"
            );
        }
    }

    #[test]
    fn batches_in_flight_outside_1_to_8_is_invalid() {
        for bad in [0, 9] {
            let err = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryGraph::new()))
                .with_config(ReconcilerConfig {
                    batches_in_flight: bad,
                    ..ReconcilerConfig::default()
                })
                .unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, .. } if field == "batches_in_flight"),
                "{err}"
            );
        }
    }
}
