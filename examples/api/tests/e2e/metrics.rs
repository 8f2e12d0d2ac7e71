//! `GET /metrics` scraped like Prometheus does: the text format, the HTTP counters and latency
//! histogram by route template, and the sync numbers moving while the graph is down.

use swiftbox_api_example::ApiConfig;

use crate::common::{start_faulty, unique, Api};

/// The scraped page.
async fn scrape(api: &Api) -> String {
    let res = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.expect("text")
}

/// The value of the first sample of `name` whose labels contain all of `labels`.
fn sample(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?;
        let fits =
            (rest.is_empty() || rest.starts_with('{')) && labels.iter().all(|l| rest.contains(l));
        fits.then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn metrics_show_requests_and_what_the_graph_owes() {
    let (api, faults) = start_faulty(ApiConfig::default()).await;
    let admin = api.admin().await;
    api.category(&admin, &unique("books")).await;
    api.get("/api/products/nope/", None).await.expect(404);

    let page = scrape(&api).await;
    let created = [
        r#"method="POST""#,
        r#"route="/api/categories/""#,
        r#"status="201""#,
    ];
    assert_eq!(
        sample(&page, "swiftbox_http_requests_total", &created),
        Some(1.0),
        "{page}"
    );
    // By route template, not by the raw path.
    let missing = [r#"route="/api/products/{id}/""#, r#"status="404""#];
    assert_eq!(
        sample(&page, "swiftbox_http_requests_total", &missing),
        Some(1.0),
        "{page}"
    );
    assert!(!page.contains("/api/products/nope/"), "{page}");
    let inf = [r#"route="/api/categories/""#, r#"le="+Inf""#];
    let bucket = "swiftbox_http_request_duration_seconds_bucket";
    assert_eq!(sample(&page, bucket, &inf), Some(1.0), "{page}");
    assert_eq!(
        sample(&page, "swiftbox_sync_stats_up", &[]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "swiftbox_sync_owed_changes", &[]),
        Some(0.0),
        "{page}"
    );
    let applied = sample(&page, "swiftbox_sync_inline_applied_total", &[]).expect("applied");
    assert!(applied >= 2.0, "the admin and the category: {page}");
    assert_eq!(
        sample(&page, "swiftbox_primary_entities", &[r#"kind="category""#]),
        Some(1.0)
    );

    // The graph goes down: the next write is owed, and the page says so.
    faults.set_down(true);
    api.category(&admin, &unique("games")).await;
    let page = scrape(&api).await;
    assert_eq!(
        sample(&page, "swiftbox_sync_owed_changes", &[]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "swiftbox_sync_inline_failed_total", &[]),
        Some(1.0),
        "{page}"
    );
    // The first scrape is counted too.
    let scrapes = [r#"route="/metrics""#, r#"status="200""#];
    assert_eq!(
        sample(&page, "swiftbox_http_requests_total", &scrapes),
        Some(1.0),
        "{page}"
    );
    faults.set_down(false);
    api.stop().await;
}
