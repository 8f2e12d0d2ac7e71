//! `GET /api/admin/set-aside/` and `POST /api/admin/set-aside/release/`: administrators see the
//! changes the sync worker set aside as poison and put them back in line.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use swiftbox_api_example::ApiConfig;
use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, EntityRef};
use swiftbox_sync::WorkerConfig;

use crate::common::{start_faulty_store, unique};

const LIST: &str = "/api/admin/set-aside/";
const RELEASE: &str = "/api/admin/set-aside/release/";

#[tokio::test]
async fn administrators_list_and_release_set_aside_changes() {
    let (api, store) = start_faulty_store(ApiConfig::default()).await;
    let faults = std::sync::Arc::clone(store.graph().faults());
    let admin = api.admin().await;
    let (_, ann) = api.user("ann").await;

    // Administrators only.
    api.get(LIST, None)
        .await
        .expect_error(401, "unauthenticated", None);
    api.get(LIST, Some(&ann))
        .await
        .expect_error(403, "forbidden", None);
    api.post(RELEASE, Some(&ann), json!({ "all": true }))
        .await
        .expect_error(403, "forbidden", None);
    let empty = api.get(LIST, Some(&admin)).await.expect(200);
    assert_eq!(empty.body, json!({ "items": [] }));

    // A product change the graph refuses every time: written through the API (the inline apply
    // fails, the write stands), then set aside by a worker.
    let books = api.category(&admin, &unique("books")).await;
    let dune = api.product(&admin, &books, "Dune", 1999, 5).await;
    let entity = EntityRef::new(EntityKind::Product, &dune);
    faults.poison(entity.clone());
    api.call(
        Method::PUT,
        &format!("/api/products/{dune}/"),
        Some(&admin),
        Some(json!({ "stock": 4 })),
    )
    .await
    .expect(200);
    let worker = store
        .worker(WorkerConfig {
            grace: Duration::ZERO,
            set_aside_after: 1,
            ..WorkerConfig::default()
        })
        .expect("worker");
    let round = worker.run_once().await.expect("round");
    assert_eq!(round.set_aside, 1, "{round:?}");

    let listed = api.get(LIST, Some(&admin)).await.expect(200);
    let items = listed.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", listed.body);
    let item = &items[0];
    assert_eq!(
        (item["kind"].as_str(), item["id"].as_str()),
        (Some("product"), Some(dune.as_str()))
    );
    assert_eq!(
        (
            item["version"].as_u64(),
            item["attempts"].as_u64(),
            item["retries"].as_u64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert!(item["retry_at"].is_string(), "a retry is scheduled: {item}");
    assert!(
        item["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("poisoned")),
        "{item}"
    );
    api.get(&format!("{LIST}?limit=0"), Some(&admin))
        .await
        .expect_error(400, "bad_request", Some("limit"));
    let health = api.get("/api/health/", Some(&admin)).await.expect(200);
    assert_eq!(health.body["sync"]["set_aside"], 1, "{}", health.body);
    assert!(
        health.body["sync"]["oldest_set_aside"].is_string(),
        "{}",
        health.body
    );

    // Bad bodies are refused and release nothing.
    for (body, field) in [
        (json!({}), "kind"),
        (json!({ "kind": "product" }), "id"),
        (json!({ "kind": "product", "id": "not-an-id" }), "id"),
        (json!({ "kind": "product", "id": dune, "all": true }), "all"),
    ] {
        api.post(RELEASE, Some(&admin), body)
            .await
            .expect_error(422, "invalid", Some(field));
    }
    assert_eq!(
        api.get(LIST, Some(&admin)).await.expect(200).body["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Cured and released: back in line, and the next round applies it.
    faults.cure(&entity);
    let released = api
        .post(
            RELEASE,
            Some(&admin),
            json!({ "kind": "product", "id": dune }),
        )
        .await
        .expect(200);
    assert_eq!(released.body, json!({ "released": 1 }));
    let again = api
        .post(RELEASE, Some(&admin), json!({ "all": true }))
        .await
        .expect(200);
    assert_eq!(again.body, json!({ "released": 0 }));
    assert_eq!(
        api.get(LIST, Some(&admin)).await.expect(200).body,
        json!({ "items": [] })
    );
    let round = worker.run_once().await.expect("round");
    assert_eq!(round.acked, 1, "{round:?}");
    assert_eq!(store.primary().sync_stats().await.expect("stats").owed, 0);
    api.stop().await;
}
