//! Malformed, invalid and too-large input: refused with the right status, naming the field,
//! changing nothing.

use reqwest::Method;
use serde_json::json;
use swiftbox_api_example::ApiConfig;

use crate::common::{start, start_with, unique, PASSWORD};

#[tokio::test]
async fn malformed_bodies_are_refused_before_any_handler_runs() {
    let api = start().await;
    let admin = api.admin().await;
    let url = format!("{}/api/categories/", api.base);

    // Not JSON by its content type.
    let res = api
        .send(
            api.client
                .post(&url)
                .bearer_auth(&admin)
                .header("content-type", "text/plain")
                .body(r#"{"name":"x"}"#),
        )
        .await;
    res.expect_error(415, "unsupported_media_type", None);
    let res = api
        .send(
            api.client
                .post(&url)
                .bearer_auth(&admin)
                .body(r#"{"name":"x"}"#),
        )
        .await;
    res.expect_error(415, "unsupported_media_type", None);
    // JSON by its content type, but not JSON.
    for body in [
        "{\"name\": ",
        "not json",
        "",
        "{\"name\": \"x\"} {}",
        "\u{0}",
    ] {
        let res = api
            .send(
                api.client
                    .post(&url)
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        res.expect_error(400, "bad_request", None);
    }
    // JSON of the wrong shape: the field is named.
    let cases = [
        (json!({}), "name"),
        (json!({ "name": 5 }), "name"),
        (json!({ "name": "x", "colour": "red" }), "colour"),
        (json!({ "name": "x", "parent": "not-an-id" }), "parent"),
        (json!(["name"]), "body"),
    ];
    for (body, field) in cases {
        api.post("/api/categories/", Some(&admin), body)
            .await
            .expect_error(422, "invalid", Some(field));
    }
    // Nothing was created by any of it.
    let cats = api.get("/api/categories/", None).await.expect(200);
    assert_eq!(cats.body["items"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn too_large_bodies_get_413_and_change_nothing() {
    let api = start_with(ApiConfig {
        max_body_bytes: 4096,
        ..ApiConfig::default()
    })
    .await;
    let name = unique("big");
    let huge = "x".repeat(8192);
    let body = json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "profile": { "address": huge } });
    let res = api
        .post("/api/auth/signup/", None, body)
        .await
        .expect_error(413, "payload_too_large", None);
    // Refused by the body limit layer, inside the request id layer.
    assert!(res.headers.get("x-request-id").is_some());
    // Also when the client does not announce the length (chunked).
    let stream = futures_body(vec![
        b"{\"username\": \"".to_vec(),
        vec![b'a'; 8192],
        b"\"}".to_vec(),
    ]);
    let res = api
        .send(
            api.client
                .post(format!("{}/api/auth/signup/", api.base))
                .header("content-type", "application/json")
                .body(stream),
        )
        .await;
    res.expect_error(413, "payload_too_large", None);
    api.post(
        "/api/auth/login/",
        None,
        json!({ "username": name, "password": PASSWORD }),
    )
    .await
    .expect_error(401, "unauthenticated", None);
    api.stop().await;
}

/// A body of unknown length, sent chunked.
fn futures_body(chunks: Vec<Vec<u8>>) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(chunks.len());
    for c in chunks {
        let _ = tx.try_send(Ok(c));
    }
    drop(tx);
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn invalid_values_are_422_naming_the_field() {
    let api = start().await;
    let admin = api.admin().await;
    let cat = api.category(&admin, &unique("cat")).await;
    let p = api.product(&admin, &cat, "Thing", 100, 2).await;
    let (_, user) = api.user("val").await;

    // Sign-up.
    let name = unique("v");
    let signup = |username: String, email: String, password: &str| json!({ "username": username, "email": email, "password": password });
    api.post(
        "/api/auth/signup/",
        None,
        signup(name.clone(), "nope".into(), PASSWORD),
    )
    .await
    .expect_error(422, "invalid", Some("email"));
    api.post(
        "/api/auth/signup/",
        None,
        signup(name.clone(), format!("{name}@example.com"), "short"),
    )
    .await
    .expect_error(422, "invalid", Some("password"));
    // A username shaped like an e-mail (someone else's, say) is refused.
    api.post(
        "/api/auth/signup/",
        None,
        signup(
            format!("{name}@example.com"),
            format!("{name}@example.com"),
            PASSWORD,
        ),
    )
    .await
    .expect_error(422, "invalid", Some("username"));
    api.post(
        "/api/auth/signup/",
        None,
        signup(
            "{\"$gt\": \"\"}".into(),
            format!("{name}@example.com"),
            PASSWORD,
        ),
    )
    .await
    .expect_error(422, "invalid", Some("username"));
    api.post(
        "/api/auth/signup/",
        None,
        json!({ "username": name, "email": format!("{name}@example.com") }),
    )
    .await
    .expect_error(422, "invalid", Some("password"));
    api.post("/api/auth/login/", None, json!({ "password": PASSWORD }))
        .await
        .expect_error(422, "invalid", Some("username"));

    // Products.
    let product =
        |price: serde_json::Value| json!({ "name": "P", "price": price, "category": cat });
    api.post(
        "/api/products/",
        Some(&admin),
        product(json!({ "minor": -1, "currency": "EUR" })),
    )
    .await
    .expect_error(422, "invalid", Some("price"));
    api.post(
        "/api/products/",
        Some(&admin),
        product(json!({ "minor": 1, "currency": "euro" })),
    )
    .await
    .expect_error(422, "invalid", Some("price.currency"));
    api.post("/api/products/", Some(&admin), product(json!(1.5)))
        .await
        .expect_error(422, "invalid", Some("price"));
    api.post(
        "/api/products/",
        Some(&admin),
        json!({ "name": "P", "price": { "minor": 1, "currency": "EUR" }, "category": swiftbox_core::CategoryId::generate() }),
    )
    .await
    .expect_error(422, "invalid", Some("category"));
    api.call(
        Method::PUT,
        &format!("/api/products/{p}/"),
        Some(&admin),
        Some(json!({ "images": ["javascript:alert(1)"] })),
    )
    .await
    .expect_error(422, "invalid", Some("images[0]"));
    api.call(
        Method::PUT,
        &format!("/api/products/{p}/"),
        Some(&admin),
        Some(json!({ "stock": -3 })),
    )
    .await
    .expect_error(422, "invalid", Some("stock"));

    // Orders.
    let shipping = crate::common::shipping();
    api.post(
        "/api/orders/",
        Some(&user),
        json!({ "items": [], "shipping": shipping }),
    )
    .await
    .expect_error(422, "invalid", Some("items"));
    api.post(
        "/api/orders/",
        Some(&user),
        json!({ "items": [{ "product": p, "quantity": 0 }], "shipping": shipping }),
    )
    .await
    .expect_error(422, "invalid", Some("items[0].quantity"));
    api.post("/api/orders/", Some(&user), json!({ "items": [{ "product": p, "quantity": 1 }, { "product": "zz", "quantity": 1 }], "shipping": shipping }))
        .await
        .expect_error(422, "invalid", Some("items[1].product"));
    api.post(
        "/api/orders/",
        Some(&user),
        json!({ "items": [{ "product": p, "quantity": 1 }], "shipping": { "name": "A" } }),
    )
    .await
    .expect_error(422, "invalid", Some("shipping.line1"));
    api.post("/api/orders/", Some(&user), json!({ "items": [{ "product": swiftbox_core::ProductId::generate(), "quantity": 1 }], "shipping": shipping }))
        .await
        .expect_error(422, "invalid", Some("items"));
    // More than the stock: a conflict with the shop's state, and no stock taken.
    api.order(&user, &[(&p, 3)])
        .await
        .expect_error(409, "insufficient_stock", Some("items"));
    let still = api
        .get(&format!("/api/products/{p}/"), None)
        .await
        .expect(200);
    assert_eq!(still.body["stock"], 2);

    // Reviews: rating range, and one per user and product.
    api.post(
        &format!("/api/products/{p}/reviews/"),
        Some(&user),
        json!({ "rating": 9 }),
    )
    .await
    .expect_error(422, "invalid", Some("rating"));
    api.post(
        &format!("/api/products/{p}/reviews/"),
        Some(&user),
        json!({ "rating": 3 }),
    )
    .await
    .expect(201);
    api.post(
        &format!("/api/products/{p}/reviews/"),
        Some(&user),
        json!({ "rating": 4 }),
    )
    .await
    .expect_error(409, "conflict", Some("product"));

    // Conflicts on unique names.
    let dup = unique("dup");
    api.category(&admin, &dup).await;
    api.post("/api/categories/", Some(&admin), json!({ "name": dup }))
        .await
        .expect_error(409, "conflict", Some("name"));

    api.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_and_ids() {
    let api = start().await;
    let (_, user) = api.user("q").await;
    for q in ["limit=0", "limit=201", "limit=x", "limit=-1"] {
        api.get(&format!("/api/products/?{q}"), None)
            .await
            .expect_error(400, "bad_request", Some("limit"));
    }
    api.get("/api/recommendations/?limit=101", Some(&user))
        .await
        .expect_error(400, "bad_request", Some("limit"));
    api.get("/api/products/?after=not-a-cursor", None)
        .await
        .expect_error(400, "bad_request", Some("after"));
    api.get("/api/products/?category=zz", None)
        .await
        .expect_error(400, "bad_request", Some("category"));
    api.get("/api/popular/?metric=vibes", None)
        .await
        .expect_error(400, "bad_request", Some("metric"));
    // Ids that are not ids name nothing: 404, like ids of nothing.
    for id in [
        "nope",
        "1%20OR%201=1",
        &swiftbox_core::ProductId::generate().to_string(),
    ] {
        api.get(&format!("/api/products/{id}/"), None)
            .await
            .expect_error(404, "not_found", None);
        api.get(&format!("/api/products/{id}/reviews/"), None)
            .await
            .expect_error(404, "not_found", None);
        api.call(
            Method::POST,
            &format!("/api/products/{id}/view/"),
            Some(&user),
            None,
        )
        .await
        .expect_error(404, "not_found", None);
    }
    api.stop().await;
}

/// The README promises 422 for unknown fields; the price (a `Money` inside the body) accepted
/// them, on create and on update.
#[tokio::test]
async fn unknown_fields_in_a_price_are_refused() {
    let api = start().await;
    let admin = api.admin().await;
    let category = api.category(&admin, &unique("cat")).await;
    let price = json!({ "minor": 100, "currency": "EUR", "discount": 50 });
    api.post(
        "/api/products/",
        Some(&admin),
        json!({ "name": "x", "price": price, "category": category, "stock": 1 }),
    )
    .await
    .expect_error(422, "invalid", Some("price.discount"));
    let product = api.product(&admin, &category, "y", 100, 1).await;
    api.call(
        Method::PUT,
        &format!("/api/products/{product}/"),
        Some(&admin),
        Some(json!({ "price": price })),
    )
    .await
    .expect_error(422, "invalid", Some("price.discount"));
    api.stop().await;
}
