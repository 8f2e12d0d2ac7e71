//! [`SyncWorker`]: the background task that applies every change the graph still owes.
//!
//! # What a round does
//!
//! [`SyncWorker::run_once`] fetches up to [`WorkerConfig::batch_size`] owed changes of its
//! partition, longest owed first, that have been owed for at least [`WorkerConfig::grace`]
//! (so it does not race the decorator's inline apply), and applies them to the graph in one
//! call. Changes the graph applied (or already held, or holds newer) are acknowledged; changes
//! it deferred (a referenced node is missing) stay owed and count as a deferral.
//!
//! If the batch fails, the worker first asks whether the graph answers at all
//! ([`GraphStore::ping`]). If not, this is an outage: nothing is recorded against any change,
//! the round fails with the graph's (retryable) error and the loop backs off. If the graph
//! answers, the batch is split in halves (after sorting referenced kinds first) until the
//! failing changes are isolated and every other change is applied.
//!
//! # Poison or an overloaded graph
//!
//! A change that fails *alone* is judged by its error ([`Error::is_retryable`]):
//!
//! - a timeout or [`Error::Unavailable`] (the graph overloaded, a deadlock, a connection cut)
//!   is the graph's trouble, not the change's: nothing is recorded against it, it stays owed
//!   and is tried again next round ([`RoundReport::transient`]). Two such failures in a row
//!   end the round early (the graph is overloaded: the loop backs off instead of timing out on
//!   every change of the batch);
//! - any other error is this change's: it gets [`SyncLedger::record_sync_failure`], and after
//!   [`WorkerConfig::set_aside_after`] failed attempts (or
//!   [`WorkerConfig::deferred_set_aside_after`] deferrals) the primary store sets it aside as
//!   poison: it no longer blocks the queue, and [`crate::Reconciler::status`] reports it.
//!
//! # Set-aside changes are retried
//!
//! Setting a change aside stores its first retry time in the primary store
//! ([`WorkerConfig::set_aside_retry`]). After its batch, each round picks the set-aside changes
//! of its partition whose retry is due ([`SyncLedger::set_aside_changes`]) and applies each
//! alone (not in a round where a lone change timed out: the graph is overloaded then):
//! applied, it is acknowledged; failed or deferred, the next retry waits longer
//! ([`SyncLedger::record_retry_failure`]); after the last retry it stays set aside, listed by
//! [`crate::Reconciler::set_aside`], until the entity is written again or an operator releases
//! it ([`crate::Reconciler::release_set_aside`]). A retry while the graph does not answer
//! records nothing.
//!
//! # The loop
//!
//! [`SyncWorker::spawn`] runs rounds until [`WorkerHandle::shutdown`]: straight on while rounds
//! fully succeed, a short jittered pause after a round with some failures, exponential backoff
//! with jitter ([`crate::Backoff`]) while rounds make no progress (graph or primary down, all
//! failing or deferred), and [`WorkerConfig::idle_poll`] when nothing is owed. Outages of any
//! length are survived: nothing is lost because the owed changes live in the primary store.
//!
//! # Several workers
//!
//! Let them share the partitions by lease ([`SyncWorker::with_leases`],
//! [`crate::Synced::leased_worker`]; see [`crate::lease`]): each claims a fair share, a dead
//! one's share is taken over after the lease ttl, and acknowledgements are fenced. Or give each
//! worker its own [`WorkerConfig::partition`] (`Partition { index, count }`) by hand: an
//! entity belongs to exactly one partition (by a hash of its id), so workers on different
//! partitions never touch the same entity. Two workers on the *same* partition (a
//! misconfiguration, or a restart overlapping the old process) are still safe: owed changes are
//! entity states, not events, and the graph ignores a version older than the one it holds, so a
//! change applied twice or late never moves an entity backwards, and acknowledgements name the
//! version they applied. An order whose product belongs to another partition may be deferred
//! until that partition's worker has applied the product; the backoff gives it time.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_core::prelude::*;
use swiftbox_core::{
    ApplyReport, ChangeAck, EntityRef, Error, GraphChange, GraphStore, OwedChange, OwedQuery,
    Partitions, Result, SetAsideQuery,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::apply::apply_within;
use crate::config::WorkerConfig;
use crate::lease::PartitionLeases;
use crate::metrics::{Counter, SyncMetrics, SyncMetricsSnapshot};

/// What one or more rounds did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Rounds run.
    pub rounds: u64,
    /// Owed changes fetched.
    pub fetched: u64,
    /// Changes the graph applied (including ones it already held).
    pub applied: u64,
    /// Changes the graph ignored because it holds a newer version.
    pub stale: u64,
    /// Changes acknowledged to the primary store.
    pub acked: u64,
    /// Changes the graph deferred (left owed).
    pub deferred: u64,
    /// Failed attempts recorded against single changes.
    pub failed: u64,
    /// Changes set aside as poison.
    pub set_aside: u64,
    /// Changes that failed alone with a retryable error (timeout, graph overloaded) while the
    /// graph answered: left owed, counted against nothing.
    pub transient: u64,
    /// Set-aside changes retried (their outcome is in `acked` or `failed`).
    pub retried: u64,
    /// Changes left unsettled because their partition's lease was given back or taken over
    /// during the round (leased workers only; see [`crate::lease`]).
    pub fenced: u64,
}

impl RoundReport {
    /// True when the round settled something (an acknowledgement or a set-aside).
    pub fn progressed(&self) -> bool {
        self.acked > 0 || self.set_aside > 0
    }

    fn add(&mut self, other: &RoundReport) {
        self.rounds += other.rounds;
        self.fetched += other.fetched;
        self.applied += other.applied;
        self.stale += other.stale;
        self.acked += other.acked;
        self.deferred += other.deferred;
        self.failed += other.failed;
        self.set_aside += other.set_aside;
        self.transient += other.transient;
        self.retried += other.retried;
        self.fenced += other.fenced;
    }
}

const DEFERRED_MESSAGE: &str = "deferred: a node it references is not in the graph yet";

/// Most set-aside changes one round retries (each is applied alone).
const MAX_RETRIES_PER_ROUND: usize = 50;

/// Rounds look for due set-aside changes at most this often (or every round when the
/// cool-down is shorter), so an idle worker does not query for them at every poll.
const SET_ASIDE_POLL: Duration = Duration::from_secs(5);

/// Drains the changes the graph owes; see the [module docs](self).
#[derive(Debug)]
pub struct SyncWorker<P, G> {
    primary: Arc<P>,
    graph: Arc<G>,
    config: WorkerConfig,
    metrics: Arc<SyncMetrics>,
    /// When the set-aside changes were last looked at (see [`SET_ASIDE_POLL`]).
    retry_checked: parking_lot::Mutex<Option<Instant>>,
    /// Partitions claimed by lease instead of [`WorkerConfig::partition`].
    leases: Option<Arc<PartitionLeases<P>>>,
}

impl<P: PrimaryBackend, G: GraphStore> SyncWorker<P, G> {
    /// A worker with the default [`WorkerConfig`].
    pub fn new(primary: Arc<P>, graph: Arc<G>) -> Self {
        Self {
            primary,
            graph,
            config: WorkerConfig::default(),
            metrics: Arc::new(SyncMetrics::new()),
            retry_checked: parking_lot::Mutex::new(None),
            leases: None,
        }
    }

    /// A worker with `config`; [`Error::Invalid`] when the configuration is not valid.
    pub fn with_config(primary: Arc<P>, graph: Arc<G>, config: WorkerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            ..Self::new(primary, graph)
        })
    }

    /// Counts into `metrics` (for example a decorator's, so one snapshot covers both).
    pub fn with_metrics(mut self, metrics: Arc<SyncMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Drains the partitions `leases` holds instead of [`WorkerConfig::partition`], and keeps
    /// those leases while it runs ([`SyncWorker::spawn`] ticks them, and gives them back at
    /// [`WorkerHandle::shutdown`]); see [`crate::lease`]. A worker that runs rounds by hand
    /// ([`SyncWorker::run_once`], [`SyncWorker::drain`]) must tick them itself.
    pub fn with_leases(mut self, leases: Arc<PartitionLeases<P>>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// The leases this worker drains by, if any.
    pub fn leases(&self) -> Option<&Arc<PartitionLeases<P>>> {
        self.leases.as_ref()
    }

    /// The partitions this round drains: the leased ones, or the configured one.
    fn partitions(&self) -> Partitions {
        match &self.leases {
            Some(l) => l.held(),
            None => self.config.partition.into(),
        }
    }

    /// Of `entities`, the ones this worker may settle: all of them, or with leases the ones
    /// whose partition it still holds (see [`crate::lease`]); counts the others as fenced.
    async fn fence<'a>(
        &self,
        entities: Vec<&'a EntityRef>,
        report: &mut RoundReport,
    ) -> Result<Vec<&'a EntityRef>> {
        let Some(leases) = &self.leases else {
            return Ok(entities);
        };
        if entities.is_empty() {
            return Ok(entities);
        }
        let kept = leases.confirm(&entities).await?;
        let fenced = (entities.len() - kept.len()) as u64;
        if fenced > 0 {
            report.fenced += fenced;
            self.metrics.add(Counter::Fenced, fenced);
            tracing::info!(
                fenced,
                "partitions given back or taken over during the round; their changes are left to the new holder"
            );
        }
        Ok(kept)
    }

    /// The counters this worker updates.
    pub fn metrics(&self) -> &Arc<SyncMetrics> {
        &self.metrics
    }

    /// The configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Runs one round (see the [module docs](self)). Fails when the primary store fails or the
    /// graph does not answer (retryable errors: the changes stay owed, nothing is counted
    /// against them).
    pub async fn run_once(&self) -> Result<RoundReport> {
        let span = match &self.leases {
            Some(l) => tracing::debug_span!("sync_worker.round", worker = l.worker_id()),
            None => tracing::debug_span!(
                "sync_worker.round",
                partition = self.config.partition.index,
                of = self.config.partition.count
            ),
        };
        self.round().instrument(span).await
    }

    /// Runs rounds until nothing eligible is owed, or a round neither settles nor fails
    /// anything (all that is left is deferred, waiting for a referenced entity, for example one
    /// in another partition); returns the totals. Changes that keep failing are retried round
    /// after round until set aside, without backoff. For tests and maintenance jobs; set
    /// [`WorkerConfig::grace`] to zero to include changes owed a moment ago.
    pub async fn drain(&self) -> Result<RoundReport> {
        let mut total = RoundReport::default();
        loop {
            let round = self.run_once().await?;
            total.add(&round);
            if round.fetched == 0 || !(round.progressed() || round.failed > 0) {
                return Ok(total);
            }
        }
    }

    /// Starts the worker loop on the current tokio runtime (panics outside one, like
    /// [`tokio::spawn`]). Dropping the handle also stops the loop after its current round.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let metrics = Arc::clone(&self.metrics);
        let span = match &self.leases {
            Some(l) => tracing::info_span!("sync_worker", worker = l.worker_id()),
            None => tracing::info_span!(
                "sync_worker",
                partition = self.config.partition.index,
                of = self.config.partition.count
            ),
        };
        let join = tokio::spawn(self.run(stopped).instrument(span));
        WorkerHandle {
            stop,
            join,
            metrics,
        }
    }

    async fn run(self, stopped: watch::Receiver<bool>) {
        let Some(leases) = self.leases.clone() else {
            return self.rounds(stopped).await;
        };
        // Claim a share before the first round, so it does not idle a poll away. A group
        // that records another partition count refuses this worker: it stops at once, with
        // the error in its metrics (and so in `Reconciler::status`).
        if let Err(err @ Error::Invalid { .. }) = leases.tick().await {
            tracing::error!(error = %err, worker = leases.worker_id(), "leased sync worker refused; stopping");
            self.metrics
                .error(format!("leased sync worker refused: {err}"));
            return;
        }
        // The keeper runs in this same task, so an aborted worker (a crash) stops beating too.
        let (done, done_rx) = watch::channel(false);
        let rounds = async {
            self.rounds(stopped).await;
            let _ = done.send(true);
        };
        tokio::join!(rounds, keep_leases(&leases, done_rx));
    }

    async fn rounds(&self, mut stopped: watch::Receiver<bool>) {
        tracing::info!("sync worker started");
        let mut no_progress = 0u32;
        loop {
            // A dropped handle closes the channel without sending `true`: stop then too (a
            // closed channel's `changed()` returns at once, so waiting on it would spin).
            if *stopped.borrow() || stopped.has_changed().is_err() {
                break;
            }
            let pause = match self.run_once().await {
                Ok(r) if r.fetched == 0 => {
                    no_progress = 0;
                    self.config.idle_poll
                }
                Ok(r) if r.progressed() && r.failed == 0 && r.deferred == 0 && r.transient == 0 => {
                    no_progress = 0;
                    Duration::ZERO
                }
                Ok(r) if r.progressed() => {
                    no_progress = 0;
                    self.config.backoff.delay(1)
                }
                Ok(_) => {
                    no_progress = no_progress.saturating_add(1);
                    self.metrics.add(Counter::Retries, 1);
                    let delay = self.config.backoff.delay(no_progress);
                    tracing::info!(
                        attempt = no_progress,
                        ?delay,
                        "round settled nothing; backing off"
                    );
                    delay
                }
                Err(err) => {
                    no_progress = no_progress.saturating_add(1);
                    self.metrics.add(Counter::Retries, 1);
                    self.metrics.error(err.to_string());
                    let delay = self.config.backoff.delay(no_progress);
                    tracing::warn!(error = %err, retryable = err.is_retryable(), attempt = no_progress, ?delay, "sync round failed; retrying after backoff");
                    delay
                }
            };
            if pause.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                changed = stopped.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("sync worker stopped");
    }

    async fn round(&self) -> Result<RoundReport> {
        let owed_before = if self.config.grace.is_zero() {
            None
        } else {
            let grace = chrono::Duration::from_std(self.config.grace)
                .map_err(|_| Error::invalid("grace", "too long"))?;
            // Past the calendar's start nothing is old enough yet (`-` would panic).
            Some(
                swiftbox_core::time::now()
                    .checked_sub_signed(grace)
                    .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            )
        };
        let partitions = self.partitions();
        if partitions.is_empty() {
            return Ok(RoundReport {
                rounds: 1,
                ..RoundReport::default()
            });
        }
        let query = OwedQuery {
            limit: self.config.batch_size,
            partitions,
            owed_before,
            include_set_aside: false,
        };
        let mut owed = self.primary.owed_changes(&query).await?;
        let mut report = RoundReport {
            rounds: 1,
            fetched: owed.len() as u64,
            ..RoundReport::default()
        };
        if !owed.is_empty() {
            self.metrics.add(Counter::Batches, 1);
            // Referenced kinds first, so halves of a split batch defer as little as possible.
            owed.sort_by_key(|o| o.entity.kind.rank());
            self.apply_batch(&owed, &mut report).await?;
        }
        // Not while the graph looks overloaded: a retry would only time out too.
        if report.transient == 0 {
            self.retry_set_aside(&mut report).await?;
        }
        tracing::debug!(?report, "round done");
        Ok(report)
    }

    /// Applies `owed`, splitting on failure until the failing changes are isolated; see the
    /// [module docs](self). Fails only when the graph does not answer or the primary fails.
    async fn apply_batch(&self, owed: &[OwedChange], report: &mut RoundReport) -> Result<()> {
        let mut work: Vec<Range<usize>> = Vec::with_capacity(16);
        work.push(0..owed.len());
        let mut graph_answered = false;
        // Lone changes that failed with a retryable error since the last success.
        let mut transient_streak = 0u32;
        while let Some(range) = work.pop() {
            let slice = &owed[range.clone()];
            let changes: Vec<GraphChange> = slice.iter().map(|o| o.change.clone()).collect();
            match apply_within(&*self.graph, &changes, self.config.apply_timeout).await {
                Ok(applied) => {
                    transient_streak = 0;
                    self.settle(slice, applied, report).await?;
                }
                Err(err) => {
                    // A retryable error may be an outage: then nothing is held against the
                    // changes. Asked once per round.
                    if err.is_retryable() && !graph_answered {
                        if !self.graph_answers().await {
                            tracing::warn!(error = %err, "graph does not answer; round abandoned");
                            return Err(err);
                        }
                        graph_answered = true;
                    }
                    if let [one] = slice {
                        if err.is_retryable() {
                            self.transient_failure(one, &err, report);
                            transient_streak += 1;
                            if transient_streak >= 2 {
                                tracing::warn!(error = %err, left = work.len(), "graph overloaded: lone changes keep timing out; round ended early");
                                return Ok(());
                            }
                        } else {
                            self.record_failure(
                                one,
                                &err.to_string(),
                                self.config.set_aside_after,
                                report,
                            )
                            .await?;
                        }
                    } else {
                        tracing::debug!(error = %err, size = slice.len(), "batch failed; splitting to isolate the failing changes");
                        let mid = range.start + range.len() / 2;
                        work.push(mid..range.end);
                        work.push(range.start..mid);
                    }
                }
            }
        }
        Ok(())
    }

    /// A change that failed alone with a retryable error while the graph answers: the graph's
    /// trouble (overloaded, a timeout, a deadlock), so it is left owed and counted against
    /// nothing.
    fn transient_failure(&self, owed: &OwedChange, err: &Error, report: &mut RoundReport) {
        report.transient += 1;
        self.metrics
            .error(format!("applying {}: {err}", owed.entity));
        tracing::warn!(entity = %owed.entity, version = owed.version, error = %err, "change failed with a retryable error; left owed, not counted as poison");
    }

    /// Retries, each alone, the set-aside changes of this partition whose retry is due; see
    /// the [module docs](self).
    async fn retry_set_aside(&self, report: &mut RoundReport) -> Result<()> {
        let policy = self.config.set_aside_retry;
        if policy.max_retries == 0 {
            return Ok(());
        }
        {
            let mut checked = self.retry_checked.lock();
            let every = SET_ASIDE_POLL.min(policy.cooldown);
            if checked.is_some_and(|at| at.elapsed() < every) {
                return Ok(());
            }
            *checked = Some(Instant::now());
        }
        let query = SetAsideQuery {
            limit: self.config.batch_size.min(MAX_RETRIES_PER_ROUND),
            partitions: self.partitions(),
            due_at: Some(swiftbox_core::time::now()),
        };
        if query.partitions.is_empty() {
            return Ok(());
        }
        let due = self.primary.set_aside_changes(&query).await?;
        // One look at the leases for all of them, not one per retry (a leased worker's fence
        // reads every partition record); a success is fenced again as it is acknowledged.
        let ours: HashSet<&EntityRef> = self
            .fence(due.iter().map(|o| &o.entity).collect(), report)
            .await?
            .into_iter()
            .collect();
        for o in due.iter().filter(|o| ours.contains(&o.entity)) {
            report.fetched += 1;
            report.retried += 1;
            let changes = [o.change.clone()];
            let message = match apply_within(&*self.graph, &changes, self.config.apply_timeout)
                .await
            {
                Ok(applied) if !applied.deferred.contains(&o.entity) => {
                    let acked = report.acked;
                    self.settle(std::slice::from_ref(o), applied, report)
                        .await?;
                    if report.acked > acked {
                        tracing::info!(entity = %o.entity, version = o.version, retries = o.retries, "set-aside change applied on retry");
                    }
                    continue;
                }
                Ok(_) => DEFERRED_MESSAGE.to_owned(),
                Err(err) if err.is_retryable() && !self.graph_answers().await => {
                    // An outage: no retry is held against the change; the next round finds it.
                    tracing::warn!(error = %err, "graph does not answer; set-aside retries stopped");
                    return Ok(());
                }
                Err(err) => err.to_string(),
            };
            let next =
                policy.next_retry_at(o.retries.saturating_add(1), swiftbox_core::time::now());
            let retries = self
                .primary
                .record_retry_failure(&o.entity, o.version, &message, next)
                .await?;
            self.metrics.add(Counter::Failed, 1);
            self.metrics
                .error(format!("retrying {}: {message}", o.entity));
            report.failed += 1;
            match next {
                Some(at) => {
                    tracing::warn!(entity = %o.entity, version = o.version, retries, next_retry = %at, error = %message, "set-aside change failed again; retried later")
                }
                None => {
                    tracing::error!(entity = %o.entity, version = o.version, retries, error = %message, "set-aside change failed its last retry; it waits for a release")
                }
            }
        }
        Ok(())
    }

    /// The first retry time of a change set aside now.
    fn first_retry_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.config
            .set_aside_retry
            .next_retry_at(0, swiftbox_core::time::now())
    }

    async fn graph_answers(&self) -> bool {
        matches!(
            tokio::time::timeout(self.config.apply_timeout, self.graph.ping()).await,
            Ok(Ok(()))
        )
    }

    /// Acknowledges what the graph took and records the deferrals.
    async fn settle(
        &self,
        slice: &[OwedChange],
        applied: ApplyReport,
        report: &mut RoundReport,
    ) -> Result<()> {
        let deferred: HashSet<&EntityRef> = applied.deferred.iter().collect();
        let ours: HashSet<&EntityRef> = self
            .fence(slice.iter().map(|o| &o.entity).collect(), report)
            .await?
            .into_iter()
            .collect();
        let acks: Vec<ChangeAck> = slice
            .iter()
            .filter(|o| !deferred.contains(&o.entity) && ours.contains(&o.entity))
            .map(|o| ChangeAck {
                entity: o.entity.clone(),
                version: o.version,
            })
            .collect();
        if !acks.is_empty() {
            self.primary.ack_changes(&acks).await?;
        }
        self.metrics.add(Counter::Applied, applied.applied);
        self.metrics.add(Counter::Stale, applied.stale);
        report.applied += applied.applied;
        report.stale += applied.stale;
        report.acked += acks.len() as u64;
        tracing::debug!(
            applied = applied.applied,
            stale = applied.stale,
            deferred = deferred.len(),
            "batch applied"
        );
        for o in slice
            .iter()
            .filter(|o| deferred.contains(&o.entity) && ours.contains(&o.entity))
        {
            self.metrics.add(Counter::Deferred, 1);
            report.deferred += 1;
            let record = self
                .primary
                .record_sync_failure(
                    &o.entity,
                    o.version,
                    DEFERRED_MESSAGE,
                    self.config.deferred_set_aside_after,
                    self.first_retry_at(),
                )
                .await?;
            if record.set_aside {
                self.set_aside(o, DEFERRED_MESSAGE, record.attempts, report);
            }
        }
        Ok(())
    }

    async fn record_failure(
        &self,
        owed: &OwedChange,
        message: &str,
        threshold: u32,
        report: &mut RoundReport,
    ) -> Result<()> {
        if self.fence(vec![&owed.entity], report).await?.is_empty() {
            return Ok(());
        }
        let record = self
            .primary
            .record_sync_failure(
                &owed.entity,
                owed.version,
                message,
                threshold,
                self.first_retry_at(),
            )
            .await?;
        self.metrics.add(Counter::Failed, 1);
        self.metrics
            .error(format!("applying {}: {message}", owed.entity));
        report.failed += 1;
        tracing::warn!(entity = %owed.entity, version = owed.version, attempts = record.attempts, error = message, "change failed to apply");
        if record.set_aside {
            self.set_aside(owed, message, record.attempts, report);
        }
        Ok(())
    }

    fn set_aside(&self, owed: &OwedChange, message: &str, attempts: u32, report: &mut RoundReport) {
        self.metrics.add(Counter::SetAside, 1);
        report.set_aside += 1;
        tracing::error!(entity = %owed.entity, version = owed.version, attempts, error = message, "change set aside as poison; it no longer blocks the others and is retried after a cool-down");
    }
}

async fn tick_leases<L: swiftbox_core::LeaseLedger>(leases: &PartitionLeases<L>) {
    if let Err(err) = leases.tick().await {
        // The leases lapse on their own while this fails; rounds then drain nothing.
        tracing::warn!(error = %err, worker = leases.worker_id(), "partition lease tick failed");
    }
}

/// Ticks `leases` every [`LeaseConfig::tick_every`](crate::lease::LeaseConfig::tick_every)
/// until `done`, then gives them back.
async fn keep_leases<L: swiftbox_core::LeaseLedger>(
    leases: &PartitionLeases<L>,
    mut done: watch::Receiver<bool>,
) {
    // A fixed period, whatever a tick takes (a slow tick must not push the next heartbeat
    // further towards the ttl).
    let mut every = tokio::time::interval(leases.config().tick_every());
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await; // the first tick of `interval` is immediate; the worker just ticked
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = done.changed() => break,
        }
        tick_leases(leases).await;
    }
    if let Err(err) = leases.leave().await {
        tracing::warn!(error = %err, "giving the partition leases back failed; they expire");
    }
}

/// A running [`SyncWorker`]: stop it with [`WorkerHandle::shutdown`].
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
    metrics: Arc<SyncMetrics>,
}

impl WorkerHandle {
    /// Asks the worker to stop and waits until it has: the current round (at most one graph
    /// apply, bounded by [`WorkerConfig::apply_timeout`]) finishes first, so no acknowledgement
    /// is cut in half. [`Error::Backend`] if the task panicked.
    pub async fn shutdown(self) -> Result<()> {
        // An error only means the loop already ended (its receiver is gone).
        let _ = self.stop.send(true);
        self.join
            .await
            .map_err(|e| Error::backend("sync-worker", e))
    }

    /// Stops the worker at once, as a crash of its process would: a round in flight is cut
    /// wherever it is (an apply the graph committed may go unacknowledged). Nothing is lost:
    /// what was not acknowledged stays owed, and applying it again is harmless. Prefer
    /// [`WorkerHandle::shutdown`]; this is for tests of that guarantee and for a process that
    /// must stop now.
    pub fn abort(self) {
        self.join.abort();
    }

    /// The worker's counters now.
    pub fn metrics(&self) -> SyncMetricsSnapshot {
        self.metrics.snapshot()
    }

    /// True once the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mocks::{MockWorkerCalls, Scripted};
    use mockall::Sequence;
    use swiftbox_core::memory::MemoryStore;
    use swiftbox_core::{EntityKind, NewCategory};

    fn unavailable() -> Error {
        Error::unavailable("mock", "connection refused")
    }

    fn applied_all(changes: &[GraphChange]) -> Result<ApplyReport> {
        Ok(ApplyReport {
            applied: changes.len() as u64,
            ..ApplyReport::default()
        })
    }

    /// A scripted sequence: an outage (apply and ping fail), then a batch failure the graph
    /// answers around (one change refused, isolated by splitting), then recovery.
    #[tokio::test]
    async fn outage_is_not_held_against_changes_and_a_refused_change_is_isolated() {
        let primary = Arc::new(MemoryStore::new());
        let a = primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        let b = primary
            .create_category(NewCategory::new("B"))
            .await
            .unwrap();
        let a_ref = EntityRef::new(EntityKind::Category, a.id);
        let b_ref = EntityRef::new(EntityKind::Category, b.id);

        let mut graph = MockWorkerCalls::new();
        let mut seq = Sequence::new();
        // Round 1: outage.
        graph
            .expect_apply()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(unavailable()));
        graph
            .expect_ping()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|| Err(unavailable()));
        // Round 2: the graph answers, but refuses A; the batch is split and B goes through.
        let a_in = a_ref.clone();
        graph
            .expect_apply()
            .withf(|c| c.len() == 2)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(Error::backend("mock", "constraint violated")));
        let a_first = a_ref.clone();
        graph
            .expect_apply()
            .withf(move |c| c.len() == 1 && c[0].entity() == a_first)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(Error::backend("mock", "constraint violated")));
        graph
            .expect_apply()
            .withf(move |c| c.len() == 1 && c[0].entity() != a_in)
            .times(1)
            .in_sequence(&mut seq)
            .returning(applied_all);
        // Round 3: A applies.
        graph
            .expect_apply()
            .times(1)
            .in_sequence(&mut seq)
            .returning(applied_all);

        let config = WorkerConfig {
            grace: Duration::ZERO,
            ..WorkerConfig::default()
        };
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::new(Scripted(graph)), config)
                .unwrap();

        let err = worker.run_once().await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert_eq!(owed.attempts, 0, "an outage is not held against the change");

        let round = worker.run_once().await.unwrap();
        assert_eq!((round.fetched, round.acked, round.failed), (2, 1, 1));
        assert!(primary.owed_change(&b_ref).await.unwrap().is_none());
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert_eq!(owed.attempts, 1);
        assert!(owed.last_error.unwrap().contains("constraint violated"));

        let round = worker.run_once().await.unwrap();
        assert_eq!((round.fetched, round.acked), (1, 1));
        assert_eq!(primary.sync_stats().await.unwrap().owed, 0);
        let m = worker.metrics().snapshot();
        assert_eq!((m.applied, m.failed, m.batches), (2, 1, 3));
    }

    /// Dropping the handle (without `shutdown`) stops the loop too, as `spawn` documents: the
    /// task ends and lets go of the stores, instead of running rounds back to back forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_handle_stops_the_loop() {
        let primary = Arc::new(MemoryStore::new());
        let graph = Arc::new(swiftbox_core::memory::MemoryGraph::new());
        let config = WorkerConfig {
            idle_poll: Duration::from_secs(3600),
            ..WorkerConfig::default()
        };
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::clone(&graph), config).unwrap();
        let handle = worker.spawn();
        drop(handle);
        // The task holds the other references; they go when it ends. The bound only keeps a
        // regression from hanging the suite.
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            while Arc::strong_count(&primary) > 1 || Arc::strong_count(&graph) > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "the worker loop kept running after its handle was dropped"
        );
    }

    /// A grace longer than the calendar (chrono's dates end ~262,000 years out) means nothing
    /// is old enough yet; it must not panic the worker task.
    #[tokio::test]
    async fn a_grace_beyond_the_calendar_picks_nothing_and_does_not_panic() {
        let primary = Arc::new(MemoryStore::new());
        primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        let config = WorkerConfig {
            grace: Duration::from_secs(1_000_000 * 366 * 86_400),
            ..WorkerConfig::default()
        };
        let graph = Arc::new(swiftbox_core::memory::MemoryGraph::new());
        let worker = SyncWorker::with_config(Arc::clone(&primary), graph, config).unwrap();
        let round = worker.run_once().await.unwrap();
        assert_eq!(round.fetched, 0);
        assert_eq!(primary.sync_stats().await.unwrap().owed, 1);
    }

    /// An overloaded graph (every apply times out while `ping` answers) is the graph's fault,
    /// not the changes': nothing is counted against them, nothing is set aside, and once the
    /// graph keeps up again they all apply. The apply hangs until released, so the timeout
    /// fires however slow the machine is.
    #[tokio::test]
    async fn applies_that_time_out_while_the_graph_answers_are_not_poison() {
        let primary = Arc::new(MemoryStore::new());
        let a = primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        primary
            .create_category(NewCategory::new("B"))
            .await
            .unwrap();
        let a_ref = EntityRef::new(EntityKind::Category, a.id);
        let graph = Arc::new(crate::testing::FaultyGraph::new(
            swiftbox_core::memory::MemoryGraph::new(),
        ));
        let config = WorkerConfig {
            grace: Duration::ZERO,
            apply_timeout: Duration::from_millis(50),
            set_aside_after: 2,
            ..WorkerConfig::default()
        };
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::clone(&graph), config).unwrap();

        graph.faults().set_hang(true);
        for _ in 0..3 {
            worker.run_once().await.unwrap();
        }
        let stats = primary.sync_stats().await.unwrap();
        assert_eq!((stats.owed, stats.set_aside), (2, 0), "{stats:?}");
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert_eq!((owed.attempts, owed.set_aside), (0, false));

        // A change the graph refuses alone with a retryable error is not poison either.
        graph.faults().set_hang(false);
        graph.faults().poison_retryable(a_ref.clone());
        let total = worker.drain().await.unwrap();
        assert_eq!((total.acked, total.set_aside), (1, 0), "{total:?}");
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert_eq!((owed.attempts, owed.set_aside), (0, false));

        graph.faults().cure(&a_ref);
        let total = worker.drain().await.unwrap();
        assert_eq!(total.acked, 1, "{total:?}");
        assert_eq!(primary.sync_stats().await.unwrap().owed, 0);
    }

    type Faulty = crate::testing::FaultyGraph<swiftbox_core::memory::MemoryGraph>;

    fn faulty_worker(
        config: WorkerConfig,
    ) -> (
        Arc<MemoryStore>,
        Arc<Faulty>,
        SyncWorker<MemoryStore, Faulty>,
    ) {
        let primary = Arc::new(MemoryStore::new());
        let graph = Arc::new(crate::testing::FaultyGraph::new(
            swiftbox_core::memory::MemoryGraph::new(),
        ));
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::clone(&graph), config).unwrap();
        (primary, graph, worker)
    }

    /// A poison change set aside is retried after its cool-down, alone, and applied once the
    /// graph takes it: no release needed. Correctness does not rest on the sleep: the loop
    /// polls until the change is applied (bounded), and checks it was not before its time.
    #[tokio::test]
    async fn a_set_aside_change_is_applied_after_its_cooldown_once_the_graph_takes_it() {
        let (primary, graph, worker) = faulty_worker(WorkerConfig {
            grace: Duration::ZERO,
            set_aside_after: 1,
            set_aside_retry: crate::SetAsideRetry {
                cooldown: Duration::from_millis(100),
                factor: 2,
                max_retries: 5,
            },
            ..WorkerConfig::default()
        });
        let a = primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        let a_ref = EntityRef::new(EntityKind::Category, a.id);
        graph.faults().poison(a_ref.clone());
        let round = worker.run_once().await.unwrap();
        assert_eq!(round.set_aside, 1, "{round:?}");
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert!(owed.set_aside);
        let first_retry = owed.retry_at.expect("a retry is scheduled");

        graph.faults().cure(&a_ref);
        let applied = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let round = worker.run_once().await.unwrap();
                if round.acked > 0 {
                    return swiftbox_core::time::now();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the set-aside change was never retried");
        assert!(applied >= first_retry, "retried before its cool-down");
        assert!(primary.owed_change(&a_ref).await.unwrap().is_none());
        assert_eq!(
            graph.counts().await.unwrap().entities[&EntityKind::Category],
            1
        );
    }

    /// Each failed retry counts and pushes the next one back; after the last, the change stays
    /// set aside (listed, never due) until an operator releases it.
    #[tokio::test]
    async fn set_aside_retries_run_out_and_the_change_waits_for_a_release() {
        let (primary, graph, worker) = faulty_worker(WorkerConfig {
            grace: Duration::ZERO,
            set_aside_after: 1,
            set_aside_retry: crate::SetAsideRetry {
                cooldown: Duration::ZERO,
                factor: 2,
                max_retries: 2,
            },
            ..WorkerConfig::default()
        });
        let a = primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        let a_ref = EntityRef::new(EntityKind::Category, a.id);
        graph.faults().poison(a_ref.clone());
        // Set aside, then both retries (due at once: no cool-down), then nothing is due.
        let total = worker.drain().await.unwrap();
        assert_eq!(
            (total.set_aside, total.retried, total.failed, total.acked),
            (1, 2, 3, 0),
            "{total:?}"
        );
        let owed = primary.owed_change(&a_ref).await.unwrap().unwrap();
        assert_eq!(
            (owed.set_aside, owed.retries, owed.retry_at),
            (true, 2, None)
        );
        assert!(owed.last_error.unwrap().contains("poisoned"));

        graph.faults().cure(&a_ref);
        let round = worker.run_once().await.unwrap();
        assert_eq!((round.retried, round.acked), (0, 0), "retries are over");
        let store = crate::Synced::from_arcs(
            Arc::clone(&primary),
            Arc::clone(&graph),
            crate::SyncConfig::deferred(),
        );
        let reconciler = store.reconciler();
        let listed = reconciler.set_aside(10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].entity.clone(), listed[0].retries),
            (a_ref.clone(), 2)
        );
        let status = reconciler.status().await.unwrap();
        assert_eq!(status.primary.set_aside, 1);
        assert!(status.oldest_set_aside_age.is_some(), "{status}");
        assert!(status.to_string().contains("oldest set aside"), "{status}");

        assert_eq!(reconciler.release_set_aside(Some(&a_ref)).await.unwrap(), 1);
        let round = worker.run_once().await.unwrap();
        assert_eq!(round.acked, 1, "{round:?}");
        assert_eq!(primary.sync_stats().await.unwrap().owed, 0);
        assert!(reconciler.set_aside(10).await.unwrap().is_empty());
    }

    /// A change refused every time is set aside after `set_aside_after` attempts.
    #[tokio::test]
    async fn a_change_refused_every_time_is_set_aside() {
        let primary = Arc::new(MemoryStore::new());
        let a = primary
            .create_category(NewCategory::new("A"))
            .await
            .unwrap();
        let mut graph = MockWorkerCalls::new();
        graph
            .expect_apply()
            .times(3)
            .returning(|_| Err(Error::backend("mock", "refused")));
        let config = WorkerConfig {
            grace: Duration::ZERO,
            set_aside_after: 3,
            ..WorkerConfig::default()
        };
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::new(Scripted(graph)), config)
                .unwrap();
        let total = worker.drain().await.unwrap();
        assert_eq!((total.failed, total.set_aside), (3, 1));
        let stats = primary.sync_stats().await.unwrap();
        assert_eq!((stats.owed, stats.set_aside), (1, 1));
        let owed = primary
            .owed_change(&EntityRef::new(EntityKind::Category, a.id))
            .await
            .unwrap()
            .unwrap();
        assert!(owed.set_aside);
    }

    /// A partition taken over between a leased worker's fetch and its acknowledgement: the
    /// worker applies the change (harmless) but leaves it owed for the new holder.
    #[tokio::test(start_paused = true)]
    async fn a_leased_worker_does_not_settle_a_partition_taken_over_mid_round() {
        use crate::lease::{LeaseConfig, PartitionLeases};
        use swiftbox_core::memory::MemoryGraph;
        use swiftbox_core::LeaseLedger;

        let primary = Arc::new(MemoryStore::new());
        let leases = Arc::new(
            PartitionLeases::new(
                Arc::clone(&primary),
                LeaseConfig {
                    worker_id: Some("a".into()),
                    ..LeaseConfig::default()
                },
            )
            .unwrap(),
        );
        leases.tick().await.unwrap(); // alone: all 64 partitions
        let books = primary
            .create_category(NewCategory::new("Books"))
            .await
            .unwrap();
        let entity = EntityRef::new(EntityKind::Category, books.id.to_string());
        // Another worker takes the category's partition over; `a` has not noticed yet.
        let key = format!("sync/part/{:04}", leases.partition_of(&entity));
        let current = primary.lease_records(&key).await.unwrap().pop().unwrap();
        let taken = swiftbox_core::LeaseRecord {
            owner: Some("b".into()),
            token: current.token + 1,
            beat: 0,
            ..current.clone()
        };
        assert!(primary.swap_lease(Some(&current), &taken).await.unwrap());
        assert!(leases.held().contains(&entity.id));

        let config = WorkerConfig {
            grace: Duration::ZERO,
            ..WorkerConfig::default()
        };
        let worker =
            SyncWorker::with_config(Arc::clone(&primary), Arc::new(MemoryGraph::new()), config)
                .unwrap()
                .with_leases(leases);
        let report = worker.run_once().await.unwrap();
        assert_eq!(
            (report.fetched, report.fenced, report.acked),
            (1, 1, 0),
            "{report:?}"
        );
        assert_eq!(
            worker.metrics().snapshot().fenced,
            1,
            "counted in the metrics"
        );
        assert!(
            primary.owed_change(&entity).await.unwrap().is_some(),
            "left owed for the new holder"
        );
    }

    /// A leased worker whose group records another partition count stops at once and says why.
    #[tokio::test(start_paused = true)]
    async fn a_leased_worker_of_another_partition_count_stops_and_says_why() {
        use crate::lease::{LeaseConfig, PartitionLeases};
        use swiftbox_core::memory::MemoryGraph;

        let primary = Arc::new(MemoryStore::new());
        let lease = |partitions: u32, id: &str| {
            Arc::new(
                PartitionLeases::new(
                    Arc::clone(&primary),
                    LeaseConfig {
                        partitions,
                        worker_id: Some(id.into()),
                        ..LeaseConfig::default()
                    },
                )
                .unwrap(),
            )
        };
        lease(16, "first").tick().await.unwrap();
        let handle = SyncWorker::new(Arc::clone(&primary), Arc::new(MemoryGraph::new()))
            .with_leases(lease(64, "second"))
            .spawn();
        tokio::time::timeout(Duration::from_secs(60), async {
            while !handle.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the worker stopped");
        let error = handle
            .metrics()
            .last_error
            .map(|(_, e)| e)
            .unwrap_or_default();
        assert!(error.contains("partitions=16"), "{error}");
    }
}
