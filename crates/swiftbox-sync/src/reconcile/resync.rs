//! [`Reconciler::resync`]: rebuild the whole graph from the primary store.

use std::future::Future;

use futures::stream::{FuturesOrdered, StreamExt};
use swiftbox_core::{
    ApplyReport, EntityKind, EntityRef, Error, GraphChange, GraphStore, PrimaryStore, Result,
};

use super::merge::{MergeJoin, Pair};
use super::Reconciler;
use crate::apply::kind_rank;

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
    /// Graph calls made.
    pub batches: u64,
}

impl<P: PrimaryStore, G: GraphStore> Reconciler<P, G> {
    /// Rebuilds the graph from the primary store: for every kind (referenced kinds first), every
    /// live entity's expected record is written and every graph record the primary store does
    /// not expect (checked again against the primary store, so a write acknowledged during the
    /// run is kept) is removed, [`super::ReconcilerConfig::batch_size`] at a time. Written
    /// versions are acknowledged, so the owed changes they settle leave the queue. Views are
    /// left alone (they live only in the graph), except those of removed users and products.
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
        let first = kind_rank(from.kind);
        if first >= EntityKind::ALL.len() {
            return Err(Error::invalid("checkpoint.kind", "unknown kind"));
        }
        let totals = self.primary.sync_stats().await?.entities;
        let mut report = ResyncReport::default();
        for (kinds_done, kind) in EntityKind::ALL.into_iter().enumerate().skip(first) {
            let after = if kinds_done == first {
                from.after.clone()
            } else {
                None
            };
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
                            self.settle(written, &mut in_flight, &mut report, &mut state, &mut progress)
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
                            in_flight.push_back(self.write_batch(changes, last));
                        }
                    }
                    // Read on once the batch is on its way; at the end of the kind, only once
                    // every batch of it is written.
                    if pending.is_none() && (!end || in_flight.is_empty()) {
                        break;
                    }
                    if let Some(written) = in_flight.next().await {
                        self.settle(
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
        tracing::info!(
            upserted = report.upserted,
            deleted = report.deleted,
            deferred = report.deferred.len(),
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
    /// [`Self::settle`].
    async fn write_batch(&self, changes: Vec<GraphChange>, last: Option<String>) -> Written {
        let result = self.write_and_ack(&changes).await;
        (changes, last, result)
    }

    /// Accounts for the oldest batch in flight once it is written, and reports progress. A
    /// batch that failed with [`Error::Unavailable`] while others were in flight (concurrent
    /// batches share product nodes, so Neo4j may abort one as a deadlock) is applied again
    /// alone, after the others finished: writes are idempotent and version-guarded. Any other
    /// failure ends the run once the batches in flight have finished (unreported: the
    /// checkpoint stays behind the failed batch).
    async fn settle<F: Future<Output = Written>>(
        &self,
        (changes, last, result): Written,
        in_flight: &mut FuturesOrdered<F>,
        report: &mut ResyncReport,
        state: &mut ResyncProgress,
        progress: &mut (impl FnMut(&ResyncProgress) + Send),
    ) -> Result<()> {
        let result = match result {
            Err(Error::Unavailable { .. }) if self.config.batches_in_flight > 1 => {
                let mut later = Vec::with_capacity(in_flight.len());
                while let Some(written) = in_flight.next().await {
                    later.push(written);
                }
                let pending = std::iter::once((changes, last, result)).chain(later);
                for (changes, last, result) in pending {
                    let written = match result {
                        Err(Error::Unavailable { .. }) => {
                            tracing::warn!(
                                kind = state.kind.as_str(),
                                "concurrent resync batch failed; applying it again alone"
                            );
                            self.write_and_ack(&changes).await?
                        }
                        other => other?,
                    };
                    record(&changes, last, written, report, state, progress);
                }
                return Ok(());
            }
            Err(err) => {
                finish_quietly(in_flight).await;
                return Err(err);
            }
            Ok(written) => written,
        };
        record(&changes, last, result, report, state, progress);
        Ok(())
    }
}

/// A batch as written: its changes, the last id it covers, and what writing it gave.
type Written = (Vec<GraphChange>, Option<String>, Result<(ApplyReport, u64)>);

/// Lets the batches in flight finish (so no write of a failed run goes on after it returns),
/// ignoring how they went: the run reports none of them.
async fn finish_quietly<F: Future<Output = Written>>(in_flight: &mut FuturesOrdered<F>) {
    while in_flight.next().await.is_some() {}
}

/// Accounts for one written batch and reports progress, with the checkpoint after it.
fn record(
    changes: &[GraphChange],
    last: Option<String>,
    written: (ApplyReport, u64),
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
    progress(state);
}

/// Adds one applied batch to the run's report.
fn account(batch: &[GraphChange], (applied, acked): (ApplyReport, u64), report: &mut ResyncReport) {
    report.batches += 1;
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

    /// A concurrent batch failing with `Unavailable` (what a Neo4j deadlock between two
    /// batches gives) is applied again alone and the run completes with a clean graph. Every
    /// call of the run is failed once in turn; a failure of a lone call (a read, or a batch not
    /// in a group) may still end the run with the error, but never with drift.
    #[tokio::test]
    async fn a_failed_concurrent_batch_is_applied_again_alone() {
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
