//! Counters a user can export ([`SyncMetrics`], read with [`SyncMetrics::snapshot`]), and the
//! same numbers, with latencies and progress, through the [`metrics`] facade: install any
//! `metrics` recorder (for Prometheus, `metrics-exporter-prometheus`) and they arrive; install
//! none and they cost nothing. What sync emits:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `swiftbox_sync_inline_applied_total` | counter | | writes whose change the decorator applied to the graph inline |
//! | `swiftbox_sync_inline_deferred_total` | counter | | inline applies the graph deferred, left to the worker |
//! | `swiftbox_sync_inline_failed_total` | counter | | inline applies that failed or timed out (the change stayed owed) |
//! | `swiftbox_sync_applied_total` | counter | | changes a worker applied |
//! | `swiftbox_sync_stale_total` | counter | | changes the graph ignored as older than what it holds |
//! | `swiftbox_sync_deferred_total` | counter | | changes a worker saw deferred |
//! | `swiftbox_sync_failed_total` | counter | | failed attempts recorded against single changes |
//! | `swiftbox_sync_set_aside_total` | counter | | changes set aside as poison |
//! | `swiftbox_sync_retries_total` | counter | | worker rounds backed off and retried |
//! | `swiftbox_sync_batches_total` | counter | | batches a worker fetched |
//! | `swiftbox_sync_fenced_total` | counter | | changes a leased worker left unsettled because their partition changed hands during the round ([`crate::lease`]) |
//! | `swiftbox_sync_errors_total` | counter | | errors the decorator or a worker recorded (the last one is in the snapshot) |
//! | `swiftbox_sync_apply_duration_seconds` | histogram | `outcome` (`ok`, `error`, `timeout`) | each graph apply sync made: decorator, worker, repair, resync |
//! | `swiftbox_sync_apply_changes` | histogram | | changes per graph apply |
//! | `swiftbox_resync_entities_written` | gauge | `kind` | entities of the kind written so far by the running (or last) resync |
//! | `swiftbox_resync_entities_expected` | gauge | `kind` | live entities of the kind in the primary store when the resync reached it |
//! | `swiftbox_neighbour_lists_refreshed_total` | counter | | neighbour lists a `NeighbourRefresher` recomputed |
//! | `swiftbox_neighbour_lists_marked` | gauge | | products still marked after a refresher's latest call |
//!
//! Owed changes and their oldest age live in the primary store (`SyncLedger::sync_stats`),
//! which sync does not poll on its own; read them when you export (the example service does,
//! at every scrape).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Sync counters shared by a [`crate::Synced`] decorator and the workers it creates. All
/// counters only go up; export them as monotonic counters (Prometheus `*_total`).
#[derive(Debug, Default)]
pub struct SyncMetrics {
    inline_applied: AtomicU64,
    inline_deferred: AtomicU64,
    inline_failed: AtomicU64,
    applied: AtomicU64,
    stale: AtomicU64,
    deferred: AtomicU64,
    failed: AtomicU64,
    set_aside: AtomicU64,
    retries: AtomicU64,
    batches: AtomicU64,
    fenced: AtomicU64,
    last_error: Mutex<Option<(DateTime<Utc>, String)>>,
}

/// A point-in-time copy of [`SyncMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncMetricsSnapshot {
    /// Writes whose change the decorator applied to the graph and acknowledged inline.
    pub inline_applied: u64,
    /// Inline applies the graph deferred (a referenced node was missing); left to the worker.
    pub inline_deferred: u64,
    /// Inline applies that failed or timed out; the write succeeded and the change stayed owed.
    pub inline_failed: u64,
    /// Changes the worker applied (including ones the graph already held).
    pub applied: u64,
    /// Changes the graph ignored as older than what it holds.
    pub stale: u64,
    /// Changes the worker saw deferred (a referenced node was missing).
    pub deferred: u64,
    /// Failed attempts the worker recorded against single changes.
    pub failed: u64,
    /// Changes set aside as poison.
    pub set_aside: u64,
    /// Rounds the worker backed off and retried after an outage or a round without progress.
    pub retries: u64,
    /// Batches the worker fetched.
    pub batches: u64,
    /// Changes a leased worker left unsettled because their partition changed hands during
    /// the round (see [`crate::lease`]).
    pub fenced: u64,
    /// The most recent error seen by the decorator or a worker, with its time.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    InlineApplied,
    InlineDeferred,
    InlineFailed,
    Applied,
    Stale,
    Deferred,
    Failed,
    SetAside,
    Retries,
    Batches,
    Fenced,
}

impl Counter {
    /// Its name in the `metrics` facade.
    fn name(self) -> &'static str {
        match self {
            Counter::InlineApplied => "swiftbox_sync_inline_applied_total",
            Counter::InlineDeferred => "swiftbox_sync_inline_deferred_total",
            Counter::InlineFailed => "swiftbox_sync_inline_failed_total",
            Counter::Applied => "swiftbox_sync_applied_total",
            Counter::Stale => "swiftbox_sync_stale_total",
            Counter::Deferred => "swiftbox_sync_deferred_total",
            Counter::Failed => "swiftbox_sync_failed_total",
            Counter::SetAside => "swiftbox_sync_set_aside_total",
            Counter::Retries => "swiftbox_sync_retries_total",
            Counter::Batches => "swiftbox_sync_batches_total",
            Counter::Fenced => "swiftbox_sync_fenced_total",
        }
    }
}

impl SyncMetrics {
    /// Fresh counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let c = match counter {
            Counter::InlineApplied => &self.inline_applied,
            Counter::InlineDeferred => &self.inline_deferred,
            Counter::InlineFailed => &self.inline_failed,
            Counter::Applied => &self.applied,
            Counter::Stale => &self.stale,
            Counter::Deferred => &self.deferred,
            Counter::Failed => &self.failed,
            Counter::SetAside => &self.set_aside,
            Counter::Retries => &self.retries,
            Counter::Batches => &self.batches,
            Counter::Fenced => &self.fenced,
        };
        c.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(counter.name()).increment(n);
    }

    pub(crate) fn error(&self, message: String) {
        metrics::counter!("swiftbox_sync_errors_total").increment(1);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((swiftbox_core::time::now(), message));
        }
    }

    /// Copies every counter (each read atomically; the set is not one atomic snapshot).
    pub fn snapshot(&self) -> SyncMetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SyncMetricsSnapshot {
            inline_applied: get(&self.inline_applied),
            inline_deferred: get(&self.inline_deferred),
            inline_failed: get(&self.inline_failed),
            applied: get(&self.applied),
            stale: get(&self.stale),
            deferred: get(&self.deferred),
            failed: get(&self.failed),
            set_aside: get(&self.set_aside),
            retries: get(&self.retries),
            batches: get(&self.batches),
            fenced: get(&self.fenced),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    use swiftbox_core::prelude::*;
    use swiftbox_core::NewUser;

    use crate::Synced;

    /// Two synced writes through a recorder of the test's own: the inline counter and the apply
    /// histogram (one sample each, outcome `ok`) arrive through the facade, matching the snapshot.
    #[test]
    fn sync_emits_its_counters_and_apply_latencies_through_the_facade() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let snapshot = metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let store = Synced::new(MemoryStore::new(), MemoryGraph::new());
                for name in ["ada", "bob"] {
                    store
                        .create_user(NewUser::new(name, format!("{name}@example.com")))
                        .await
                        .expect("create user");
                }
                store.metrics().snapshot()
            })
        });
        assert_eq!(snapshot.inline_applied, 2);
        let emitted = snapshotter.snapshot().into_vec();
        let find = |name: &str| {
            emitted
                .iter()
                .filter(|(key, ..)| key.key().name() == name)
                .map(|(key, _, _, value)| (key.key().labels().cloned().collect::<Vec<_>>(), value))
                .collect::<Vec<_>>()
        };
        let inline = find("swiftbox_sync_inline_applied_total");
        assert!(
            matches!(inline[..], [(_, DebugValue::Counter(2))]),
            "{inline:?}"
        );
        let applies = find("swiftbox_sync_apply_duration_seconds");
        assert!(
            matches!(&applies[..], [(labels, DebugValue::Histogram(samples))]
                if samples.len() == 2
                    && labels.iter().any(|l| l.key() == "outcome" && l.value() == "ok")),
            "{applies:?}"
        );
    }
}
