//! `POST /api/orders/` with an `Idempotency-Key`: a retry places nothing and answers the first
//! order; the same key with another body is refused; concurrent retries place one order.

use crate::common::{start, unique};

async fn stock(api: &crate::common::Api, product: &str) -> i64 {
    api.get(&format!("/api/products/{product}/"), None)
        .await
        .expect(200)
        .body["stock"]
        .as_i64()
        .expect("stock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_retried_with_its_key_is_placed_once() {
    let api = start().await;
    let admin = api.admin().await;
    let cat = api.category(&admin, &unique("cat")).await;
    let tea = api.product(&admin, &cat, "Tea", 450, 10).await;
    let cup = api.product(&admin, &cat, "Cup", 900, 10).await;
    let (_, ann) = api.user("ann").await;
    let (_, bob) = api.user("bob").await;
    let key = "0b5c1a9e-retry-me";

    let first = api
        .order_with_key(&ann, key, &[(&tea, 2), (&cup, 1)])
        .await
        .expect(201);
    let retry = api
        .order_with_key(&ann, key, &[(&tea, 2), (&cup, 1)])
        .await
        .expect(200);
    assert_eq!(
        retry.body["id"], first.body["id"],
        "the retry answers the first order"
    );
    assert_eq!(retry.body, first.body);
    assert_eq!((stock(&api, &tea).await, stock(&api, &cup).await), (8, 9));

    // The same key with another body changes nothing.
    api.order_with_key(&ann, key, &[(&tea, 3)])
        .await
        .expect_error(422, "invalid", Some("idempotency_key"));
    assert_eq!(stock(&api, &tea).await, 8);
    let mine = api.get("/api/orders/", Some(&ann)).await.expect(200);
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(1));

    // Keys are per caller; a malformed key is refused before anything happens.
    let bobs = api
        .order_with_key(&bob, key, &[(&tea, 1)])
        .await
        .expect(201);
    assert_ne!(bobs.body["id"], first.body["id"]);
    api.order_with_key(&ann, "has space", &[(&tea, 1)])
        .await
        .expect_error(422, "invalid", Some("idempotency_key"));
    api.order_with_key(&ann, &"k".repeat(256), &[(&tea, 1)])
        .await
        .expect_error(422, "invalid", Some("idempotency_key"));
    assert_eq!(stock(&api, &tea).await, 7);

    // Without a key every request is an order of its own.
    api.order(&ann, &[(&tea, 1)]).await.expect(201);
    api.order(&ann, &[(&tea, 1)]).await.expect(201);
    assert_eq!(stock(&api, &tea).await, 5);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_order_place_it_once() {
    let api = start().await;
    let admin = api.admin().await;
    let cat = api.category(&admin, &unique("cat")).await;
    let tea = api.product(&admin, &cat, "Tea", 450, 100).await;
    let (_, ann) = api.user("ann").await;
    let key = unique("double-click");
    let lines = [(tea.as_str(), 3)];
    let answers =
        futures::future::join_all((0..8).map(|_| api.order_with_key(&ann, &key, &lines))).await;
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for a in answers {
        match a.status.as_u16() {
            201 => created += 1,
            200 => {}
            other => panic!("unexpected {other}: {:?}", a.body),
        }
        ids.insert(a.body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(created, 1, "one request places the order");
    assert_eq!(ids.len(), 1, "every request answers the same order");
    assert_eq!(stock(&api, &tea).await, 97);
    api.stop().await;
}
