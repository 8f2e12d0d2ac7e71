//! The tower-http stack (`swiftbox_api_example::layers`) as a client sees it: request ids,
//! compression and the request timeout (the body limit: `input.rs`).

use std::time::Duration;

use swiftbox_api_example::ApiConfig;

use crate::common::{start, start_faulty};

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_client_id_is_kept() {
    let api = start().await;
    let res = api.get("/api/health/", None).await.expect(200);
    let id = res.headers["x-request-id"].to_str().expect("ascii");
    assert!(id.parse::<swiftbox_core::UserId>().is_ok(), "a UUID: {id}");
    let other = api.get("/api/health/", None).await;
    assert_ne!(other.headers["x-request-id"], res.headers["x-request-id"]);
    // The client's own id comes back, also on a refusal.
    let req = api
        .client
        .get(format!("{}/api/nowhere", api.base))
        .header("x-request-id", "client-chosen-42");
    let res = api.send(req).await.expect_error(404, "no_route", None);
    assert_eq!(res.headers["x-request-id"], "client-chosen-42");
    api.stop().await;
}

#[tokio::test]
async fn answers_are_gzipped_for_clients_that_ask() {
    let api = start().await;
    let url = format!("{}/api/openapi.json", api.base);
    let gzipped = api
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(gzipped.status(), 200);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let compressed = gzipped.bytes().await.expect("body");
    // Without Accept-Encoding the document comes as it is, larger.
    let plain = api.get("/api/openapi.json", None).await.expect(200);
    assert!(plain.headers.get("content-encoding").is_none());
    assert!(compressed.len() < plain.body.to_string().len());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_gets_503_timeout() {
    let (api, faults) = start_faulty(ApiConfig {
        request_timeout: Duration::from_millis(300),
        ..ApiConfig::default()
    })
    .await;
    let (_, ann) = api.user("ann").await;
    // A graph that answers nothing: the recommendations query never returns by itself.
    faults.set_frozen(true);
    let res = api
        .get("/api/recommendations/", Some(&ann))
        .await
        .expect_error(503, "timeout", None);
    assert!(res.headers.get("x-request-id").is_some());
    assert_eq!(res.headers["retry-after"], "1");
    faults.set_frozen(false);
    api.get("/api/recommendations/", Some(&ann))
        .await
        .expect(200);
    api.stop().await;
}
