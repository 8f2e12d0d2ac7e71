//! `GET /api/health/` answers whatever the stores do.

use swiftbox_api_example::ApiConfig;

use crate::common::start_faulty;

#[tokio::test]
async fn health_answers_while_the_graph_is_frozen_and_reports_it_down() {
    let (api, faults) = start_faulty(ApiConfig::default()).await;
    let admin = api.admin().await;
    let health = api.get("/api/health/", Some(&admin)).await.expect(200);
    assert_eq!(health.body["graph"]["ok"], true, "{}", health.body);

    // A frozen graph (every call waits, as under SIGSTOP): without the bound the request would
    // wait forever (the test client gives up after 30 s and fails the test).
    faults.set_frozen(true);
    for token in [None, Some(admin.as_str())] {
        let health = api.get("/api/health/", token).await.expect(503);
        assert_eq!(health.body["status"], "degraded", "{}", health.body);
        assert_eq!(health.body["primary"]["ok"], true);
        assert_eq!(health.body["graph"]["ok"], false);
    }

    faults.set_frozen(false);
    api.get("/api/health/", Some(&admin)).await.expect(200);
    api.stop().await;
}
