//! Counters a user can export ([`SyncMetrics`], read with [`SyncMetrics::snapshot`]).

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
    /// The most recent error seen by the decorator or a worker, with its time.
    pub last_error: Option<(DateTime<Utc>, String)>,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy)]
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
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn error(&self, message: String) {
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
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}
