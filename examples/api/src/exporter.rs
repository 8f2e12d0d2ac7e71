//! The service's metrics in the Prometheus text format, served at `GET /metrics`: HTTP request
//! counts and latencies recorded by a layer ([`crate::layers`]), and, read at each scrape, the
//! sync counters of [`swiftbox_sync::SyncMetrics`] and the primary store's owed changes
//! ([`swiftbox_core::SyncStats`]). Each metric is described in the crate's README.
//!
//! Every [`AppState`](crate::AppState) has a recorder of its own (the `metrics` facade's
//! `with_local_recorder`, not the process-wide one), so two services in one process (the tests
//! start many) never mix their numbers, and an embedding program keeps its own global
//! recorder.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use swiftbox_core::SyncStats;
use swiftbox_sync::SyncMetricsSnapshot;

/// Requests answered, by method, route template and status.
pub const HTTP_REQUESTS: &str = "swiftbox_http_requests_total";
/// Time to answer, by method and route template (a histogram).
pub const HTTP_DURATION: &str = "swiftbox_http_request_duration_seconds";
/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The sync counters of [`SyncMetricsSnapshot`], each with its name and help.
const SYNC_COUNTERS: [(&str, &str); 11] = [
    (
        "swiftbox_sync_inline_applied_total",
        "writes whose change the decorator applied to the graph inline",
    ),
    (
        "swiftbox_sync_inline_deferred_total",
        "inline applies the graph deferred (a referenced node was missing), left to the worker",
    ),
    (
        "swiftbox_sync_inline_failed_total",
        "inline applies that failed or timed out; the write succeeded and the change stayed owed",
    ),
    (
        "swiftbox_sync_applied_total",
        "changes the sync worker applied",
    ),
    (
        "swiftbox_sync_stale_total",
        "changes the graph ignored as older than what it holds",
    ),
    (
        "swiftbox_sync_deferred_total",
        "changes the worker saw deferred",
    ),
    (
        "swiftbox_sync_failed_total",
        "failed attempts the worker recorded against single changes",
    ),
    (
        "swiftbox_sync_set_aside_total",
        "changes set aside as poison",
    ),
    (
        "swiftbox_sync_retries_total",
        "worker rounds backed off and retried",
    ),
    ("swiftbox_sync_batches_total", "batches the worker fetched"),
    (
        "swiftbox_sync_fenced_total",
        "changes the leased worker left to another process: their partition changed hands mid-round",
    ),
];

fn counter_values(s: &SyncMetricsSnapshot) -> [u64; 11] {
    [
        s.inline_applied,
        s.inline_deferred,
        s.inline_failed,
        s.applied,
        s.stale,
        s.deferred,
        s.failed,
        s.set_aside,
        s.retries,
        s.batches,
        s.fenced,
    ]
}

/// Whether the primary store's sync counts could be read at this scrape (1) or not (0: the
/// owed gauges below keep their last value).
pub const STATS_UP: &str = "swiftbox_sync_stats_up";
/// Changes the graph owes (set-aside ones included).
pub const OWED: &str = "swiftbox_sync_owed_changes";
/// Owed changes set aside as poison.
pub const SET_ASIDE: &str = "swiftbox_sync_set_aside_changes";
/// Age of the longest-owed change in seconds (0 when nothing is owed).
pub const OLDEST_OWED_AGE: &str = "swiftbox_sync_oldest_owed_age_seconds";
/// Live entities in the primary store, by kind.
pub const ENTITIES: &str = "swiftbox_primary_entities";

/// A recorder and its rendering handle (see the module docs). Clones share them.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh recorder, every latency metric (`*_duration_seconds`) a histogram with
    /// [`LATENCY_BUCKETS`].
    pub fn new() -> Self {
        // Only fails for an empty bucket list, which LATENCY_BUCKETS is not; a summary then.
        // Every `*_duration_seconds` metric (HTTP, sync applies, Neo4j calls) is a histogram.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_duration_seconds".to_owned()),
                &LATENCY_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!(
                HTTP_REQUESTS,
                "requests answered, by method, route template and status"
            );
            describe_histogram!(
                HTTP_DURATION,
                "time to answer a request in seconds, by method and route template"
            );
            for (name, help) in SYNC_COUNTERS {
                describe_counter!(name, help);
            }
            describe_gauge!(
                STATS_UP,
                "1 when this scrape read the primary store's sync counts, 0 when it could not"
            );
            describe_gauge!(OWED, "changes the graph owes (set-aside ones included)");
            describe_gauge!(SET_ASIDE, "owed changes set aside as poison");
            describe_gauge!(
                OLDEST_OWED_AGE,
                "age of the longest-owed change in seconds, 0 when none is owed"
            );
            describe_gauge!(ENTITIES, "live entities in the primary store, by kind");
        });
        Self {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    /// Counts one answered request of `route` (a route template, never a raw path).
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        metrics::with_local_recorder(self.recorder.as_ref(), || {
            let (method, route) = (method.to_owned(), route.to_owned());
            counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            histogram!(HTTP_DURATION, "method" => method, "route" => route)
                .record(elapsed.as_secs_f64());
        });
    }

    /// The page: the sync counters from `sync`, the owed gauges from `stats` (`None`: they
    /// could not be read), and the HTTP metrics.
    pub fn render(&self, sync: &SyncMetricsSnapshot, stats: Option<&SyncStats>) -> String {
        metrics::with_local_recorder(self.recorder.as_ref(), || {
            for ((name, _), value) in SYNC_COUNTERS.into_iter().zip(counter_values(sync)) {
                counter!(name).absolute(value);
            }
            gauge!(STATS_UP).set(if stats.is_some() { 1.0 } else { 0.0 });
            if let Some(s) = stats {
                gauge!(OWED).set(s.owed as f64);
                gauge!(SET_ASIDE).set(s.set_aside as f64);
                let age = s
                    .oldest_owed
                    .map_or(0, |t| (swiftbox_core::time::now() - t).num_seconds().max(0));
                gauge!(OLDEST_OWED_AGE).set(age as f64);
                for (kind, n) in &s.entities {
                    gauge!(ENTITIES, "kind" => kind.to_string()).set(*n as f64);
                }
            }
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample `name{labels}` (labels as rendered, `""` for none).
    fn sample(page: &str, series: &str) -> Option<f64> {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn the_page_carries_the_snapshot_the_stats_and_the_requests() {
        let m = Metrics::new();
        m.record_request("GET", "/api/products/", 200, Duration::from_millis(30));
        m.record_request("GET", "/api/products/", 200, Duration::from_millis(300));
        let sync = SyncMetricsSnapshot {
            inline_applied: 7,
            inline_failed: 2,
            set_aside: 1,
            ..SyncMetricsSnapshot::default()
        };
        let stats = SyncStats {
            owed: 3,
            set_aside: 1,
            ..SyncStats::default()
        };
        let page = m.render(&sync, Some(&stats));
        assert_eq!(
            sample(&page, "swiftbox_sync_inline_applied_total"),
            Some(7.0),
            "{page}"
        );
        assert_eq!(
            sample(&page, "swiftbox_sync_inline_failed_total"),
            Some(2.0),
            "{page}"
        );
        assert_eq!(
            sample(&page, "swiftbox_sync_set_aside_total"),
            Some(1.0),
            "{page}"
        );
        assert_eq!(sample(&page, OWED), Some(3.0), "{page}");
        assert_eq!(sample(&page, STATS_UP), Some(1.0), "{page}");
        let requests =
            format!(r#"{HTTP_REQUESTS}{{method="GET",route="/api/products/",status="200"}}"#);
        assert_eq!(sample(&page, &requests), Some(2.0), "{page}");
        let bucket =
            format!(r#"{HTTP_DURATION}_bucket{{method="GET",route="/api/products/",le="0.05"}}"#);
        assert_eq!(sample(&page, &bucket), Some(1.0), "{page}");
        assert!(
            page.contains(&format!("# TYPE {HTTP_DURATION} histogram")),
            "{page}"
        );
        // A scrape that cannot read the stats says so; the counters still come.
        let page = m.render(&sync, None);
        assert_eq!(sample(&page, STATS_UP), Some(0.0), "{page}");
    }

    #[test]
    fn two_services_keep_their_numbers_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.record_request("GET", "/api/health/", 200, Duration::from_millis(1));
        let page = b.render(&SyncMetricsSnapshot::default(), None);
        assert!(!page.contains("/api/health/"), "{page}");
    }
}
