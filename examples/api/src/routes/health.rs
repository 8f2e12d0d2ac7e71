//! `GET /api/health/`: both stores and, for administrators, the sync status
//! (`Reconciler::status`).
//!
//! It never hangs: each check runs under [`crate::ApiConfig::health_timeout`] and a store that
//! does not answer in time is reported down. It is public and cheap: an anonymous caller gets
//! the two pings only; the counts on both sides (a count per entity kind on each store) are
//! computed for administrators.

use std::collections::BTreeMap;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use swiftbox_core::EntityKind;
use utoipa::ToSchema;

use crate::auth::MaybeCaller;
use crate::operator::Sample;
use crate::state::AppState;
use swiftbox_sync::SyncStatus;

/// One store's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreHealth {
    pub(crate) ok: bool,
}

/// Sync status: the primary store's owed changes and both sides' entity counts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SyncHealth {
    pub(crate) in_sync: bool,
    pub(crate) owed: u64,
    pub(crate) set_aside: u64,
    pub(crate) oldest_owed: Option<DateTime<Utc>>,
    pub(crate) oldest_owed_age_seconds: Option<i64>,
    /// Since when the longest-owed change set aside as poison has been owed (the list:
    /// `GET /api/admin/set-aside/`).
    pub(crate) oldest_set_aside: Option<DateTime<Utc>>,
    /// Entities per kind in the primary store.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub(crate) primary_entities: BTreeMap<EntityKind, u64>,
    /// Entities per kind in the graph (null when the graph did not answer).
    #[schema(value_type = Option<BTreeMap<String, u64>>)]
    pub(crate) graph_entities: Option<BTreeMap<EntityKind, u64>>,
    pub(crate) has_error: bool,
    /// The last sync failure, shown to administrators only (it may name internals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_error: Option<String>,
}

/// The health report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `degraded`.
    #[schema(value_type = HealthStatus)]
    pub(crate) status: &'static str,
    pub(crate) primary: StoreHealth,
    pub(crate) graph: StoreHealth,
    pub(crate) sync: Option<SyncHealth>,
}

/// The `status` of [`Health`].
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // describes the field, which the handler sets as a string
pub(crate) enum HealthStatus {
    Ok,
    Degraded,
}

/// `fut` under `limit`; a timeout is an [`swiftbox_core::Error::Unavailable`] of `store`.
pub(super) async fn bounded<T>(
    store: &'static str,
    limit: Duration,
    fut: impl std::future::Future<Output = swiftbox_core::Result<T>>,
) -> swiftbox_core::Result<T> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(swiftbox_core::Error::unavailable(
            store,
            format!("no answer within {limit:?}"),
        ))
    })
}

/// 200 when both stores answer, 503 otherwise; for administrators the body also says how far
/// the graph is behind. Failure details are logged, and shown to administrators only.
#[utoipa::path(
    get,
    path = "/api/health/",
    tag = "meta",
    summary = "Both stores and the sync status (503 when a store is down)",
    responses(
        (status = 200, description = "both stores answer", body = Health),
        (status = 503, description = "a store is down (or the request timed out: then the body is an error)", body = Health),
    )
)]
pub(crate) async fn health(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
) -> (StatusCode, Json<Health>) {
    let is_admin = caller.is_some_and(|c| c.user.is_admin);
    let health = report(&state, is_admin).await;
    let status = if health.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// Records `status` as a sample of the dashboard's chart; returns the oldest owed age in
/// seconds (`None`: nothing owed).
pub(crate) fn record_sample(state: &AppState, status: &SyncStatus) -> Option<i64> {
    let age = status.oldest_owed_age.map(|a| a.num_seconds().max(0));
    state.operator().samples.record(Sample {
        at: status.at,
        owed: status.primary.owed,
        set_aside: status.primary.set_aside,
        oldest_owed_age_secs: age.unwrap_or(0).unsigned_abs(),
    });
    age
}

/// Samples the sync status for the dashboard's chart every `every`, so the chart covers the
/// minutes before an operator opened the page (an administrator's health report samples too).
/// A failed or slow read is skipped. Runs until aborted.
pub(crate) async fn sample_sync(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let limit = state.config().health_timeout;
        match bounded("sync", limit, state.backend().sync_status()).await {
            Ok(s) => {
                record_sample(&state, &s);
            }
            Err(e) => tracing::debug!(error = %e, "sync sample skipped"),
        }
    }
}

/// The health report (the sync status only for administrators), as `GET /api/health/` and the
/// dashboard show it. An administrator's report also records a sample for the dashboard's chart
/// ([`crate::operator::Samples`]).
pub(crate) async fn report(state: &AppState, is_admin: bool) -> Health {
    let limit = state.config().health_timeout;
    let (p, g) = tokio::join!(
        bounded("primary", limit, state.store().ping()),
        bounded("graph", limit, state.graph().ping())
    );
    if let Err(e) = &p {
        tracing::warn!(error = %e, "primary store ping failed");
    }
    if let Err(e) = &g {
        tracing::warn!(error = %e, "graph ping failed");
    }
    let sync = match &p {
        Ok(()) if is_admin => match bounded("sync", limit, state.backend().sync_status()).await {
            Ok(s) => {
                let age = record_sample(state, &s);
                Some(SyncHealth {
                    in_sync: s.is_in_sync(),
                    owed: s.primary.owed,
                    set_aside: s.primary.set_aside,
                    oldest_owed: s.primary.oldest_owed,
                    oldest_set_aside: s.primary.oldest_set_aside,
                    oldest_owed_age_seconds: age,
                    graph_entities: s.graph.as_ref().ok().map(|c| c.entities.clone()),
                    has_error: s.last_error().is_some(),
                    last_error: s.last_error().map(str::to_owned),
                    primary_entities: s.primary.entities,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync status failed");
                None
            }
        },
        _ => None,
    };
    let ok = p.is_ok() && g.is_ok();
    Health {
        status: if ok { "ok" } else { "degraded" },
        primary: StoreHealth { ok: p.is_ok() },
        graph: StoreHealth { ok: g.is_ok() },
        sync,
    }
}

impl Health {
    /// True when both stores answered.
    pub(crate) fn is_ok(&self) -> bool {
        self.primary.ok && self.graph.ok
    }
}

#[cfg(test)]
mod tests {
    use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    use swiftbox_sync::{SyncConfig, Synced};

    use super::*;

    /// The sampler fills the chart with nobody watching: one sample per period.
    #[tokio::test(start_paused = true)]
    async fn the_sampler_records_the_sync_status_on_its_own() {
        let state = AppState::new(Synced::with_config(
            MemoryStore::new(),
            MemoryGraph::new(),
            SyncConfig::deferred(),
        ));
        assert!(state.operator().samples.snapshot().is_empty());
        let sampler = tokio::spawn(sample_sync(state.clone(), Duration::from_secs(5)));
        // The first sample is taken at once; the next one a period later sees the write.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(state.operator().samples.snapshot().len(), 1, "at once");
        state
            .store()
            .create_category(swiftbox_core::NewCategory::new("Books"))
            .await
            .expect("category");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let last = state.operator().samples.snapshot().pop().expect("a sample");
        assert_eq!(last.owed, 1, "the next period saw the owed change");
        sampler.abort();
    }
}
