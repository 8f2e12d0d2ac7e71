//! The seed's data flow: sign up, log in, browse, order, and see the purchase at once and its
//! effect on recommendations once the neighbour lists are refreshed.

use reqwest::Method;
use serde_json::json;

use crate::common::{ids, start, unique};

#[tokio::test]
async fn shop_flow_from_signup_to_recommendations() {
    let api = start().await;
    let admin = api.admin().await;

    // The admin stocks the shop.
    let books = api.category(&admin, &unique("books")).await;
    let games = api.category(&admin, &unique("games")).await;
    let rust = api
        .product(&admin, &books, "Rust in Action", 3999, 10)
        .await;
    let graphs = api
        .product(&admin, &books, "Graph Databases", 2999, 10)
        .await;
    let chess = api.product(&admin, &games, "Chess set", 4500, 10).await;

    // Two customers sign up and log in.
    let (_, ann) = api.user("ann").await;
    let (_, bob) = api.user("bob").await;

    // Browse: categories, products page by page, one product, a category's products.
    let cats = api.get("/api/categories/", None).await.expect(200);
    let cat_ids = ids(&cats.body["items"], "id");
    assert!(
        cat_ids.contains(&books) && cat_ids.contains(&games),
        "{}",
        cats.body
    );
    let page1 = api.get("/api/products/?limit=2", None).await.expect(200);
    assert_eq!(
        ids(&page1.body["items"], "id"),
        vec![rust.clone(), graphs.clone()]
    );
    let next = page1.body["next"].as_str().expect("next cursor").to_owned();
    let page2 = api
        .get(&format!("/api/products/?limit=2&after={next}"), None)
        .await
        .expect(200);
    assert_eq!(ids(&page2.body["items"], "id"), vec![chess.clone()]);
    assert!(page2.body["next"].is_null());
    let in_books = api
        .get(&format!("/api/products/?category={books}"), None)
        .await
        .expect(200);
    assert_eq!(
        ids(&in_books.body["items"], "id"),
        vec![rust.clone(), graphs.clone()]
    );
    let one = api
        .get(&format!("/api/products/{rust}/"), None)
        .await
        .expect(200);
    assert_eq!(one.body["name"], "Rust in Action");
    assert_eq!(
        one.body["price"],
        json!({ "minor": 3999, "currency": "EUR" })
    );

    // Bob buys two books; Ann buys one of them.
    let bob_order = api
        .order(&bob, &[(&rust, 1), (&graphs, 3)])
        .await
        .expect(201);
    assert_eq!(
        bob_order.body["total"],
        json!({ "minor": 3999 + 3 * 2999, "currency": "EUR" })
    );
    let ann_order = api.order(&ann, &[(&rust, 1)]).await.expect(201);
    let ann_order_id = ann_order.body["id"].as_str().expect("order id").to_owned();

    // Ann sees her purchase at once, and only hers.
    let mine = api.get("/api/my-purchases/", Some(&ann)).await.expect(200);
    let items = mine.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", mine.body);
    assert_eq!(items[0]["product"], rust.as_str());
    assert_eq!(items[0]["order_id"], ann_order_id.as_str());
    assert_eq!(items[0]["product_name"], "Rust in Action");
    let orders = api.get("/api/orders/", Some(&ann)).await.expect(200);
    assert_eq!(ids(&orders.body["items"], "id"), vec![ann_order_id.clone()]);

    // ... and her recommendations change as soon as the neighbour lists are refreshed (the
    // service runs a refresher; `settle` drains it): Bob also bought Graph Databases.
    api.settle().await;
    let recs = api
        .get("/api/recommendations/", Some(&ann))
        .await
        .expect(200);
    let first = &recs.body["items"][0];
    assert_eq!(first["product"], graphs.as_str(), "{}", recs.body);
    assert_eq!(
        first["reason"],
        json!({ "type": "co_purchased", "because": [rust] })
    );
    assert!(
        !ids(&recs.body["items"], "product").contains(&rust),
        "never recommends what she bought: {}",
        recs.body
    );

    // Popularity follows the orders too: Rust in Action has two order lines.
    let popular = api.get("/api/popular/?limit=5", None).await.expect(200);
    assert_eq!(
        ids(&popular.body["items"], "product"),
        vec![rust.clone(), graphs.clone()]
    );
    let by_units = api
        .get("/api/popular/?metric=units", None)
        .await
        .expect(200);
    assert_eq!(by_units.body["items"][0]["product"], graphs.as_str());

    // Views are recorded in the graph and steer the cold-start fallback.
    api.call(
        Method::POST,
        &format!("/api/products/{chess}/view/"),
        Some(&ann),
        None,
    )
    .await
    .expect(204);

    // Reviews.
    let review = api
        .post(
            &format!("/api/products/{rust}/reviews/"),
            Some(&ann),
            json!({ "rating": 5, "comment": "great" }),
        )
        .await
        .expect(201);
    assert_eq!(review.body["rating"], 5);
    let reviews = api
        .get(&format!("/api/products/{rust}/reviews/"), None)
        .await
        .expect(200);
    assert_eq!(reviews.body["items"].as_array().map(Vec::len), Some(1));

    // The admin sees every order; stock went down.
    let all = api
        .get("/api/admin/orders/", Some(&admin))
        .await
        .expect(200);
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(2));
    let rust_now = api
        .get(&format!("/api/products/{rust}/"), None)
        .await
        .expect(200);
    assert_eq!(rust_now.body["stock"], 8);

    // The admin edits and deletes a product; the graph drops it from popularity.
    let edited = api
        .call(
            Method::PUT,
            &format!("/api/products/{graphs}/"),
            Some(&admin),
            Some(json!({ "name": "Graph Databases, 2nd ed.", "stock": 50 })),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["name"], "Graph Databases, 2nd ed.");
    assert_eq!(edited.body["price"]["minor"], 2999);
    api.call(
        Method::DELETE,
        &format!("/api/products/{graphs}/"),
        Some(&admin),
        None,
    )
    .await
    .expect(204);
    api.get(&format!("/api/products/{graphs}/"), None)
        .await
        .expect_error(404, "not_found", None);
    let popular = api.get("/api/popular/", None).await.expect(200);
    assert_eq!(ids(&popular.body["items"], "product"), vec![rust.clone()]);

    // Health: both stores answer; an anonymous caller sees only that.
    let health = api.get("/api/health/", None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    assert!(health.body["sync"].is_null(), "{}", health.body);
    // An administrator also sees the sync status: the graph is in step once what the test
    // wrote is applied.
    api.settle().await;
    let admin = api.admin().await;
    let health = api.get("/api/health/", Some(&admin)).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["sync"]["owed"], 0, "{}", health.body);
    assert_eq!(health.body["sync"]["in_sync"], true);
    assert_eq!(
        health.body["sync"]["primary_entities"]["product"],
        health.body["sync"]["graph_entities"]["product"]
    );

    api.stop().await;
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_that_exist() {
    let api = start().await;
    let doc = api.get("/api/openapi.json", None).await.expect(200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        let path = path.replace("{id}", "0190a2b4-0000-7000-8000-000000000000");
        for method in ops.as_object().expect("ops").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // Raw: not every answer is JSON (`/metrics` is text).
            let res = api
                .client
                .request(m, format!("{}{path}", api.base))
                .send()
                .await
                .expect("request");
            let status = res.status().as_u16();
            let body = res.text().await.expect("body");
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert!(!body.contains("\"no_route\""), "{method} {path}: {body}");
            checked += 1;
        }
    }
    assert_eq!(checked, 29);
    // The dashboard's pages are served outside the document, explicitly: its own list of
    // routes is the one exception, none of them is documented, and each is served.
    for route in swiftbox_api_example::dashboard::ROUTES {
        assert!(!paths.contains_key(route), "{route} is in the document");
        let path = route.replace("{file}", "app.js");
        let res = api
            .client
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body = res.text().await.expect("body");
        assert!(!body.contains("\"no_route\""), "{route}: {body}");
        assert!(
            [200, 401, 405].contains(&status),
            "{route}: {status} {body}"
        );
    }
    assert!(
        paths
            .keys()
            .all(|p| p.starts_with("/api/") || p == "/metrics"),
        "only the API is documented"
    );
    // And the other way round: a path the document does not list is not served.
    api.get("/api/products", None)
        .await
        .expect_error(404, "no_route", None);
    api.call(Method::PATCH, "/api/products/", None, None)
        .await
        .expect_error(405, "method_not_allowed", None);
    api.stop().await;
}
