//! Every auth refusal: no token, a bad or expired or revoked token, a user where an admin is
//! needed, someone else's data; and no user enumeration through sign-up or log-in.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use swiftbox_api_example::ApiConfig;

use crate::common::{ids, start, start_with, unique, PASSWORD};

/// Every endpoint that needs a logged-in user, with a body that would be valid.
fn user_endpoints(product: &str) -> Vec<(Method, String, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/api/recommendations/".into(), None),
        (Method::GET, "/api/my-purchases/".into(), None),
        (Method::GET, "/api/orders/".into(), None),
        (Method::GET, "/api/auth/me/".into(), None),
        (Method::POST, "/api/auth/logout/".into(), None),
        (
            Method::POST,
            "/api/orders/".into(),
            Some(
                json!({ "items": [{ "product": product, "quantity": 1 }], "shipping": crate::common::shipping() }),
            ),
        ),
        (
            Method::POST,
            format!("/api/products/{product}/reviews/"),
            Some(json!({ "rating": 4 })),
        ),
        (Method::POST, format!("/api/products/{product}/view/"), None),
    ]
}

/// Every endpoint only administrators may call, with a body that would be valid.
fn admin_endpoints(
    product: &str,
    category: &str,
) -> Vec<(Method, String, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/api/admin/orders/".into(), None),
        (
            Method::POST,
            "/api/categories/".into(),
            Some(json!({ "name": unique("cat") })),
        ),
        (
            Method::POST,
            "/api/products/".into(),
            Some(
                json!({ "name": "x", "price": { "minor": 1, "currency": "EUR" }, "category": category }),
            ),
        ),
        (
            Method::PUT,
            format!("/api/products/{product}/"),
            Some(json!({ "stock": 0 })),
        ),
        (Method::DELETE, format!("/api/products/{product}/"), None),
    ]
}

#[tokio::test]
async fn protected_endpoints_refuse_missing_bad_and_insufficient_credentials() {
    let api = start().await;
    let admin = api.admin().await;
    let cat = api.category(&admin, &unique("cat")).await;
    let product = api.product(&admin, &cat, "Thing", 100, 5).await;
    let (_, user) = api.user("eve").await;

    let bad_headers = [
        None,                                         // no Authorization at all
        Some("Bearer ".to_owned() + &"0".repeat(64)), // a well-formed token nobody was given
        Some("Bearer".to_owned()),                    // scheme only
        Some("Basic YWRtaW46YWRtaW4=".to_owned()),    // another scheme
        Some(format!("Token {user}")),                // a real token under the wrong scheme
    ];
    let all: Vec<_> = user_endpoints(&product)
        .into_iter()
        .chain(admin_endpoints(&product, &cat))
        .collect();
    for (method, path, body) in &all {
        for header in &bad_headers {
            let mut req = api
                .client
                .request(method.clone(), format!("{}{path}", api.base));
            if let Some(h) = header {
                req = req.header("Authorization", h);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = api.send(req).await;
            assert_eq!(
                res.status.as_u16(),
                401,
                "{method} {path} with {header:?}: {}",
                res.body
            );
            assert_eq!(res.code(), "unauthenticated");
            assert_eq!(
                res.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
        }
    }

    // A logged-in customer is refused (403) wherever an administrator is needed ...
    for (method, path, body) in admin_endpoints(&product, &cat) {
        api.call(method.clone(), &path, Some(&user), body)
            .await
            .expect_error(403, "forbidden", None);
    }
    // ... and nothing was changed by those attempts.
    let p = api
        .get(&format!("/api/products/{product}/"), None)
        .await
        .expect(200);
    assert_eq!(p.body["stock"], 5);

    // Sign-up cannot make an administrator.
    let name = unique("mallory");
    api.post(
        "/api/auth/signup/",
        None,
        json!({ "username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "is_admin": true }),
    )
    .await
    .expect_error(422, "invalid", Some("is_admin"));

    api.stop().await;
}

#[tokio::test]
async fn personal_data_is_the_callers_only() {
    let api = start().await;
    let admin = api.admin().await;
    let cat = api.category(&admin, &unique("cat")).await;
    let a = api.product(&admin, &cat, "A", 100, 5).await;
    let b = api.product(&admin, &cat, "B", 100, 5).await;
    let (_, ann) = api.user("ann").await;
    let (_, bob) = api.user("bob").await;
    let bob_order = api.order(&bob, &[(&a, 1), (&b, 1)]).await.expect(201);

    // Ann sees none of Bob's orders or purchases, and her recommendations are not Bob's.
    let orders = api.get("/api/orders/", Some(&ann)).await.expect(200);
    assert_eq!(orders.body["items"], json!([]));
    let purchases = api.get("/api/my-purchases/", Some(&ann)).await.expect(200);
    assert_eq!(purchases.body["items"], json!([]));
    let bobs = api.get("/api/my-purchases/", Some(&bob)).await.expect(200);
    assert_eq!(bobs.body["items"].as_array().map(Vec::len), Some(2));
    let bob_orders = api.get("/api/orders/", Some(&bob)).await.expect(200);
    assert_eq!(
        ids(&bob_orders.body["items"], "id"),
        vec![bob_order.body["id"].as_str().unwrap_or("").to_owned()]
    );
    // There is no parameter that selects another user: one is ignored.
    let other = api
        .get(
            &format!(
                "/api/my-purchases/?user={}",
                bob_order.body["user"].as_str().unwrap_or("")
            ),
            Some(&ann),
        )
        .await
        .expect(200);
    assert_eq!(other.body["items"], json!([]));

    // An order is always placed for the caller, whatever the body says.
    api.post(
        "/api/orders/",
        Some(&ann),
        json!({ "user": bob_order.body["user"], "items": [{ "product": a, "quantity": 1 }], "shipping": crate::common::shipping() }),
    )
    .await
    .expect_error(422, "invalid", Some("user"));

    api.stop().await;
}

#[tokio::test]
async fn tokens_expire_and_can_be_revoked() {
    // Tokens that expire the moment they are issued: no waiting on the clock.
    let api = start_with(ApiConfig {
        token_ttl: Duration::ZERO,
        ..ApiConfig::default()
    })
    .await;
    let name = unique("tess");
    api.signup(&name).await;
    let token = api.login(&name, PASSWORD).await;
    api.get("/api/auth/me/", Some(&token))
        .await
        .expect_error(401, "unauthenticated", None);
    api.stop().await;

    let api = start().await;
    let (name, token) = api.user("tom").await;
    let me = api.get("/api/auth/me/", Some(&token)).await.expect(200);
    assert_eq!(me.body["username"], name.as_str());
    assert!(
        me.body.get("password").is_none() && me.body.get("hash").is_none(),
        "{}",
        me.body
    );
    let other = api.login(&name, PASSWORD).await;
    assert_ne!(token, other, "each log-in gets its own token");
    api.call(Method::POST, "/api/auth/logout/", Some(&token), None)
        .await
        .expect(204);
    api.get("/api/auth/me/", Some(&token))
        .await
        .expect_error(401, "unauthenticated", None);
    // The other session is untouched.
    api.get("/api/auth/me/", Some(&other)).await.expect(200);
    api.stop().await;
}

#[tokio::test]
async fn signup_and_login_do_not_reveal_which_accounts_exist() {
    let api = start().await;
    let (name, _) = api.user("ann").await;

    // Log-in: unknown user, wrong password, and a known e-mail with a wrong password all get
    // the very same answer.
    let unknown = api
        .post(
            "/api/auth/login/",
            None,
            json!({ "username": unique("nobody"), "password": PASSWORD }),
        )
        .await
        .expect_error(401, "unauthenticated", None);
    let wrong = api
        .post(
            "/api/auth/login/",
            None,
            json!({ "username": name, "password": "wrong password" }),
        )
        .await
        .expect_error(401, "unauthenticated", None);
    let wrong_email = api
        .post(
            "/api/auth/login/",
            None,
            json!({ "email": format!("{name}@example.com"), "password": "wrong password" }),
        )
        .await
        .expect_error(401, "unauthenticated", None);
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(unknown.body, wrong_email.body);
    // The e-mail works as a login too.
    api.post(
        "/api/auth/login/",
        None,
        json!({ "email": format!("{name}@example.com"), "password": PASSWORD }),
    )
    .await
    .expect(200);

    // Sign-up with a registered e-mail answers exactly like a fresh sign-up, and creates nothing.
    let fresh = unique("fresh");
    let fresh_res = api
        .post("/api/auth/signup/", None, json!({ "username": fresh, "email": format!("{fresh}@example.com"), "password": PASSWORD }))
        .await
        .expect(202);
    let squatter = unique("squatter");
    let taken_email = api
        .post(
            "/api/auth/signup/",
            None,
            json!({ "username": squatter, "email": format!("{}@EXAMPLE.com", name), "password": PASSWORD }),
        )
        .await
        .expect(202);
    assert_eq!(fresh_res.body, taken_email.body);
    api.post(
        "/api/auth/login/",
        None,
        json!({ "username": squatter, "password": PASSWORD }),
    )
    .await
    .expect_error(401, "unauthenticated", None);

    // A taken username must be reported (it is a public handle, and the person has to pick
    // another one).
    api.post(
        "/api/auth/signup/",
        None,
        json!({ "username": name, "email": format!("{}@example.com", unique("other")), "password": PASSWORD }),
    )
    .await
    .expect_error(409, "conflict", Some("username"));

    api.stop().await;
}

#[tokio::test]
async fn admin_seeding_never_promotes_an_existing_account() {
    use swiftbox_api_example::run::{seed_admin, AdminSeed};
    use swiftbox_core::memory::{MemoryGraph, MemoryStore};
    use swiftbox_core::prelude::*;
    use swiftbox_core::NewUser;

    let store = swiftbox_sync::Synced::new(MemoryStore::new(), MemoryGraph::new());
    store
        .create_user(NewUser::new("boss", "boss@example.com").with_password(PASSWORD))
        .await
        .expect("user");
    let seeded = seed_admin(&store, "boss", "x@example.com", "another password")
        .await
        .expect("seed");
    assert_eq!(seeded, AdminSeed::NotAdmin);
    let boss = store.authenticate("boss", PASSWORD).await.expect("auth");
    assert_eq!(
        boss.map(|u| u.is_admin),
        Some(false),
        "not promoted, password unchanged"
    );

    let seeded = seed_admin(&store, "chief", "chief@example.com", "chief password")
        .await
        .expect("seed");
    assert_eq!(seeded, AdminSeed::Created);
    let again = seed_admin(&store, "chief", "chief@example.com", "other password")
        .await
        .expect("seed");
    assert_eq!(again, AdminSeed::Existed);
    let chief = store
        .authenticate("chief", "chief password")
        .await
        .expect("auth");
    assert_eq!(chief.map(|u| u.is_admin), Some(true));
}
