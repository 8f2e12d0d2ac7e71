//! What operators do to the sync, shared by the admin JSON endpoints (`/api/admin/...`) and the
//! dashboard's fragments (`/admin/`), so both run the same code:
//!
//! - [`Samples`]: a bounded ring of sync samples (owed changes, set-aside changes, the oldest
//!   owed age) for the dashboard's chart, recorded whenever an administrator reads the sync
//!   status (each dashboard poll), at most one a second, the last [`Samples::WINDOW`] kept;
//! - [`DriftSummary`] and [`RepairSummary`]: `Reconciler::check` and `Reconciler::repair` as
//!   the API answers them;
//! - [`ResyncJob`]: the one full resync that may run at a time, in a background task, with its
//!   progress; a second start while one runs is refused (409 `resync_running`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use swiftbox_core::{EntityKind, EntityRef, GraphRecord};
use swiftbox_sync::{DriftReport, RepairReport, ResyncProgress, StaleReason};
use utoipa::ToSchema;

use crate::backend::ShopBackend;
use crate::error::ApiError;
use crate::openapi::schemas;

/// A lock whose holder panicked is still usable: every update below leaves the data whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One reading of the sync status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Changes the graph owes.
    pub owed: u64,
    /// Of them, set aside as poison.
    pub set_aside: u64,
    /// Age of the longest-owed change, in whole seconds (0 when nothing is owed).
    pub oldest_owed_age_secs: u64,
}

/// The ring of [`Sample`]s behind the dashboard's chart.
#[derive(Debug, Default)]
pub struct Samples {
    ring: Mutex<VecDeque<Sample>>,
}

impl Samples {
    /// How far back samples are kept.
    pub const WINDOW: Duration = Duration::from_secs(10 * 60);
    /// Most samples kept (one a second over [`Samples::WINDOW`]).
    pub const CAPACITY: usize = 600;

    /// Records `sample`. One taken within a second of the last replaces it (several open
    /// dashboards do not crowd the ring); samples older than [`Samples::WINDOW`] before it go.
    pub fn record(&self, sample: Sample) {
        let mut ring = lock(&self.ring);
        if ring
            .back()
            .is_some_and(|last| (sample.at - last.at).num_milliseconds().abs() < 1000)
        {
            ring.pop_back();
        }
        ring.push_back(sample);
        let window = chrono::Duration::from_std(Self::WINDOW).unwrap_or(chrono::Duration::MAX);
        while ring.len() > Self::CAPACITY || ring.front().is_some_and(|s| sample.at - s.at > window)
        {
            ring.pop_front();
        }
    }

    /// The samples kept, oldest first.
    pub fn snapshot(&self) -> Vec<Sample> {
        lock(&self.ring).iter().copied().collect()
    }
}

/// How one listed entity differs between the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The graph lacks it.
    Missing,
    /// The graph holds it, the primary store does not expect it.
    Extra,
    /// The graph holds an older version.
    OlderVersion,
    /// The graph holds a newer version (written by hand).
    NewerVersion,
    /// Same version, other content.
    Content,
}

/// One drifted entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DriftItem {
    #[schema(value_type = schemas::EntityKind)]
    kind: EntityKind,
    #[schema(format = Uuid)]
    id: String,
    drift: DriftKind,
    /// The version the primary store expects in the graph (null for an extra entity).
    expected_version: Option<u64>,
    /// The version the graph holds (null for a missing entity).
    found_version: Option<u64>,
}

impl DriftItem {
    fn new(entity: EntityRef, drift: DriftKind, expected: Option<u64>, found: Option<u64>) -> Self {
        Self {
            kind: entity.kind,
            id: entity.id,
            drift,
            expected_version: expected,
            found_version: found,
        }
    }
}

/// Records compared for one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct KindChecked {
    /// Records the primary store expects in the graph.
    expected: u64,
    /// Records found in the graph.
    found: u64,
}

/// What `Reconciler::check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DriftSummary {
    /// True when the graph holds exactly what the primary store expects.
    clean: bool,
    /// Drifted entities found (the list may hold fewer: see `truncated`).
    drift_total: u64,
    /// True when more drift was found than the list keeps.
    truncated: bool,
    /// Records compared, per kind.
    #[schema(value_type = BTreeMap<String, KindChecked>)]
    checked: BTreeMap<EntityKind, KindChecked>,
    /// The drifted entities: missing, then extra, then stale.
    items: Vec<DriftItem>,
}

impl From<DriftReport> for DriftSummary {
    fn from(r: DriftReport) -> Self {
        let missing = r.missing.iter().map(|g: &GraphRecord| {
            DriftItem::new(g.entity(), DriftKind::Missing, Some(g.version()), None)
        });
        let extra = r
            .extra
            .iter()
            .map(|g| DriftItem::new(g.entity(), DriftKind::Extra, None, Some(g.version())));
        let stale = r.stale.iter().map(|s| {
            let drift = match s.reason {
                StaleReason::OlderVersion => DriftKind::OlderVersion,
                StaleReason::NewerVersion => DriftKind::NewerVersion,
                StaleReason::Content => DriftKind::Content,
            };
            DriftItem::new(
                s.expected.entity(),
                drift,
                Some(s.expected.version()),
                Some(s.found.version()),
            )
        });
        Self {
            clean: r.is_clean(),
            drift_total: r.drift_total,
            truncated: r.truncated,
            checked: r
                .checked
                .iter()
                .map(|(kind, c)| {
                    let c = KindChecked {
                        expected: c.expected,
                        found: c.found,
                    };
                    (*kind, c)
                })
                .collect(),
            items: missing.chain(extra).chain(stale).collect(),
        }
    }
}

impl DriftSummary {
    /// True when the graph holds exactly what the primary store expects.
    pub fn is_clean(&self) -> bool {
        self.clean
    }

    /// Drifted entities found.
    pub fn drift_total(&self) -> u64 {
        self.drift_total
    }

    /// True when the list holds fewer than [`DriftSummary::drift_total`].
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The drifted entities listed.
    pub fn items(&self) -> &[DriftItem] {
        &self.items
    }

    /// Records compared per kind: (kind, expected, found).
    pub fn checked(&self) -> impl Iterator<Item = (EntityKind, u64, u64)> + '_ {
        self.checked.iter().map(|(k, c)| (*k, c.expected, c.found))
    }
}

impl DriftItem {
    /// The entity's kind.
    pub fn kind(&self) -> EntityKind {
        self.kind
    }
    /// The entity's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// How it differs.
    pub fn drift(&self) -> DriftKind {
        self.drift
    }
    /// The version expected in the graph.
    pub fn expected_version(&self) -> Option<u64> {
        self.expected_version
    }
    /// The version the graph holds.
    pub fn found_version(&self) -> Option<u64> {
        self.found_version
    }
}

/// Runs the drift check.
pub async fn check(backend: &dyn ShopBackend) -> Result<DriftSummary, ApiError> {
    Ok(backend.check_drift().await?.into())
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RepairSummary {
    /// Drifted entities the check before the repair found.
    pub found: u64,
    /// Expected records written to the graph (missing and stale entities).
    pub upserted: u64,
    /// Records removed from the graph.
    pub deleted: u64,
    /// Writes the graph ignored as older than what it holds.
    pub ignored: u64,
    /// Writes the graph deferred (a referenced node is missing): check again later.
    pub deferred: u64,
}

/// Checks, then repairs exactly the drift that check found (a fresh check, not one shown
/// earlier, so nothing repaired is out of date).
pub async fn repair(backend: &dyn ShopBackend) -> Result<RepairSummary, ApiError> {
    let report = backend.check_drift().await?;
    let RepairReport {
        upserted,
        deleted,
        ignored,
        deferred,
    } = backend.repair_drift(&report).await?;
    tracing::info!(
        found = report.drift_total,
        upserted,
        deleted,
        ignored,
        deferred = deferred.len(),
        "drift repaired"
    );
    Ok(RepairSummary {
        found: report.drift_total,
        upserted,
        deleted,
        ignored,
        deferred: deferred.len() as u64,
    })
}

/// Where the resync job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncState {
    /// None has run since the service started.
    #[default]
    Idle,
    /// One is running.
    Running,
    /// The last one finished.
    Finished,
    /// The last one failed (see `error`); start another to resume from the beginning.
    Failed,
}

/// The resync job's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ResyncStatus {
    state: ResyncState,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    /// The kind being rebuilt (null before the first batch).
    #[schema(value_type = Option<schemas::EntityKind>)]
    kind: Option<EntityKind>,
    /// Kinds finished, of `kinds_total`.
    kinds_done: u64,
    kinds_total: u64,
    /// Entities of `kind` done, of about `total_in_kind`.
    done_in_kind: u64,
    total_in_kind: u64,
    /// Whole percent done (an estimate: writes during the run change the totals).
    #[schema(maximum = 100)]
    percent: u8,
    /// Records written so far.
    upserted: u64,
    /// Extra records removed so far.
    deleted: u64,
    /// Why the last run failed.
    error: Option<String>,
}

impl ResyncStatus {
    /// Where the job is.
    pub fn state(&self) -> ResyncState {
        self.state
    }
    /// Whole percent done.
    pub fn percent(&self) -> u8 {
        self.percent
    }
    /// When the last run started.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }
    /// When the last run ended.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.finished_at
    }
    /// The kind being rebuilt.
    pub fn kind(&self) -> Option<EntityKind> {
        self.kind
    }
    /// Records written so far.
    pub fn upserted(&self) -> u64 {
        self.upserted
    }
    /// Extra records removed so far.
    pub fn deleted(&self) -> u64 {
        self.deleted
    }
    /// Why the last run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn progress(&mut self, p: &ResyncProgress) {
        let kinds = EntityKind::ALL.len() as u64;
        self.kind = Some(p.kind);
        self.kinds_done = p.kinds_done as u64;
        self.done_in_kind = p.done_in_kind;
        self.total_in_kind = p.total_in_kind;
        self.upserted = p.upserted;
        self.deleted = p.deleted;
        let in_kind = if p.total_in_kind == 0 {
            0.0
        } else {
            (p.done_in_kind as f64 / p.total_in_kind as f64).min(1.0)
        };
        let done = (self.kinds_done as f64 + in_kind) / kinds as f64;
        self.percent = (done * 100.0).clamp(0.0, 99.0) as u8;
    }
}

/// The one resync that may run at a time (see the module docs).
#[derive(Debug, Default)]
pub struct ResyncJob {
    status: Arc<Mutex<ResyncStatus>>,
}

impl ResyncJob {
    /// Its progress now.
    pub fn status(&self) -> ResyncStatus {
        lock(&self.status).clone()
    }

    /// Starts a resync of `backend` in a background task and answers its first status; 409
    /// `resync_running` while one runs.
    pub fn start(&self, backend: Arc<dyn ShopBackend>) -> Result<ResyncStatus, ApiError> {
        let started = {
            let mut status = lock(&self.status);
            if status.state == ResyncState::Running {
                let since = status
                    .started_at
                    .map_or_else(String::new, |t| format!(" (started {})", t.to_rfc3339()));
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "resync_running",
                    format!(
                        "a resync is already running{since}; one at a time, wait for it to finish"
                    ),
                ));
            }
            *status = ResyncStatus {
                state: ResyncState::Running,
                started_at: Some(swiftbox_core::time::now()),
                kinds_total: EntityKind::ALL.len() as u64,
                ..ResyncStatus::default()
            };
            status.clone()
        };
        let shared = Arc::clone(&self.status);
        let run = tokio::spawn(async move {
            let progress = move |p: &ResyncProgress| lock(&shared).progress(p);
            backend.resync(Box::new(progress)).await
        });
        let shared = Arc::clone(&self.status);
        tokio::spawn(async move {
            let outcome = match run.await {
                Ok(Ok(report)) => Ok(report),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("the resync task ended abnormally: {e}")),
            };
            let mut status = lock(&shared);
            status.finished_at = Some(swiftbox_core::time::now());
            match outcome {
                Ok(report) => {
                    tracing::info!(
                        upserted = report.upserted,
                        deleted = report.deleted,
                        "resync finished"
                    );
                    status.state = ResyncState::Finished;
                    status.kinds_done = status.kinds_total;
                    status.upserted = report.upserted;
                    status.deleted = report.deleted;
                    status.percent = 100;
                }
                Err(error) => {
                    tracing::warn!(%error, "resync failed");
                    status.state = ResyncState::Failed;
                    status.error = Some(error);
                }
            }
        });
        tracing::info!("resync started");
        Ok(started)
    }
}

/// The operator's state of the service: the samples and the resync job.
#[derive(Debug, Default)]
pub struct Operator {
    /// The chart's samples.
    pub samples: Samples,
    /// The resync job.
    pub resync: ResyncJob,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, owed: u64) -> Sample {
        Sample {
            at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(secs),
            owed,
            set_aside: 0,
            oldest_owed_age_secs: 0,
        }
    }

    #[test]
    fn the_ring_keeps_one_sample_a_second_over_the_window() {
        let samples = Samples::default();
        samples.record(at(0, 1));
        samples.record(at(0, 2)); // same second: replaces
        samples.record(at(1, 3));
        let owed =
            |samples: &Samples| -> Vec<u64> { samples.snapshot().iter().map(|s| s.owed).collect() };
        assert_eq!(owed(&samples), [2, 3]);
        let window = Samples::WINDOW.as_secs() as i64;
        samples.record(at(window + 1, 4)); // the first is now too old
        assert_eq!(owed(&samples), [3, 4]);
        for s in 0..(2 * Samples::CAPACITY as i64) {
            samples.record(at(window + 2 + s, 5));
        }
        assert!(samples.snapshot().len() <= Samples::CAPACITY);
    }
}
