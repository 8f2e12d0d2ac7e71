//! The operator's dashboard (`/admin/`) and the reconciler endpoints behind it
//! (`/api/admin/drift/`, `/api/admin/drift/repair/`, `/api/admin/resync/`), over HTTP. The page
//! in a real browser is scripts/browser.sh's test.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use swiftbox_api_example::dashboard::ROUTES;
use swiftbox_api_example::ApiConfig;

use crate::common::{start, start_faulty, unique, Api};

/// Every fragment, as (method, path).
fn fragments() -> Vec<(Method, String)> {
    let mut all = Vec::new();
    for path in ROUTES.iter().filter(|p| p.starts_with("/admin/fragments/")) {
        all.push((Method::GET, (*path).to_owned()));
        all.push((Method::POST, (*path).to_owned()));
    }
    all
}

/// Sends `method path` with an optional token; status, content type and body as text.
async fn raw(api: &Api, method: Method, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = api.client.request(method, format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, res.text().await.expect("body"))
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_and_every_fragment_is_administrators_only() {
    let api = start().await;
    let (status, content_type, body) = raw(&api, Method::GET, "/admin/", None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(body.contains(r#"id="login-form""#), "{body}");
    // A strict policy: only the page's own script and style run (the browser test fails on
    // any violation it reports).
    let csp = api
        .client
        .get(format!("{}/admin/", api.base))
        .send()
        .await
        .expect("request")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp:?}");
    }
    for (file, kind) in [
        ("htmx.min.js", "text/javascript"),
        ("app.js", "text/javascript"),
        ("dashboard.css", "text/css"),
    ] {
        let (status, content_type, body) =
            raw(&api, Method::GET, &format!("/admin/assets/{file}"), None).await;
        assert_eq!(status, 200, "{file}");
        assert!(content_type.starts_with(kind), "{file}: {content_type}");
        assert!(!body.is_empty(), "{file}");
    }
    let (status, _, _) = raw(&api, Method::GET, "/admin/assets/nope.js", None).await;
    assert_eq!(status, 404);

    let (_, ann) = api.user("ann").await;
    let admin = api.admin().await;
    for (method, path) in fragments() {
        let (anonymous, _, _) = raw(&api, method.clone(), &path, None).await;
        let (user, _, _) = raw(&api, method.clone(), &path, Some(&ann)).await;
        // A method a fragment does not take is refused as such, before any authentication.
        if anonymous == 405 {
            assert_eq!(user, 405, "{method} {path}");
            continue;
        }
        assert_eq!((anonymous, user), (401, 403), "{method} {path}");
    }
    for path in [
        "/admin/fragments/status/",
        "/admin/fragments/set-aside/",
        "/admin/fragments/resync/",
        "/admin/fragments/users/",
        "/admin/fragments/explorer/",
    ] {
        let (status, content_type, body) = raw(&api, Method::GET, path, Some(&admin)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(content_type.starts_with("text/html"), "{path}");
        assert!(!body.trim().is_empty(), "{path}");
    }
    let (status, _, body) = raw(&api, Method::GET, "/admin/fragments/status/", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"id="owed">0<"#), "{body}");
    let (status, _, body) = raw(&api, Method::POST, "/admin/fragments/drift/", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(body.contains("No drift"), "{body}");
    api.stop().await;
}

#[tokio::test]
async fn the_explorer_escapes_what_users_wrote() {
    let api = start().await;
    let admin = api.admin().await;
    let category = api.category(&admin, &unique("cat")).await;
    let evil = "<script>alert(1)</script> & \"friends\"";
    let product = api.product(&admin, &category, evil, 100, 10).await;
    let (name, ann) = api.user("ann").await;
    api.order(&ann, &[(&product, 1)]).await.expect(201);
    api.settle().await;
    let me = api.get("/api/auth/me/", Some(&ann)).await.expect(200);
    let id = me.body["id"].as_str().expect("id").to_owned();

    let (status, _, users) = raw(&api, Method::GET, "/admin/fragments/users/", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(users.contains(&name), "{users}");
    let path = format!("/admin/fragments/explorer/?user={id}");
    let (status, _, body) = raw(&api, Method::GET, &path, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#x22;friends&#x22;")
            || body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;"),
        "{body}"
    );
    // Not an id, or no such user: refused as the API refuses them.
    let (status, _, _) = raw(
        &api,
        Method::GET,
        "/admin/fragments/explorer/?user=nope",
        Some(&admin),
    )
    .await;
    assert_eq!(status, 404);
    api.stop().await;
}

/// Polls `GET /api/admin/resync/` until `done` holds (bounded generously: a loaded machine is
/// slow, and nothing here is about speed).
async fn resync_until(api: &Api, admin: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let status = api.get("/api/admin/resync/", Some(admin)).await.expect(200);
        if done(&status.body) {
            return status.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the resync did not get there within a minute");
}

#[tokio::test]
async fn one_resync_at_a_time_and_drift_is_checked_and_repaired() {
    let (api, faults) = start_faulty(ApiConfig::default()).await;
    let admin = api.admin().await;
    let (_, ann) = api.user("ann").await;
    for path in ["/api/admin/drift/", "/api/admin/resync/"] {
        api.get(path, None)
            .await
            .expect_error(401, "unauthenticated", None);
        api.get(path, Some(&ann))
            .await
            .expect_error(403, "forbidden", None);
    }
    for path in ["/api/admin/drift/repair/", "/api/admin/resync/"] {
        api.call(Method::POST, path, Some(&ann), None)
            .await
            .expect_error(403, "forbidden", None);
    }
    let idle = api
        .get("/api/admin/resync/", Some(&admin))
        .await
        .expect(200);
    assert_eq!(idle.body["state"], "idle", "{}", idle.body);

    // Drift: a product written while the graph is down is missing there until repaired.
    let category = api.category(&admin, &unique("cat")).await;
    faults.set_down(true);
    let product = api.product(&admin, &category, "Dune", 1999, 5).await;
    faults.set_down(false);
    let drift = api.get("/api/admin/drift/", Some(&admin)).await.expect(200);
    assert_eq!(drift.body["clean"], false, "{}", drift.body);
    let items = drift.body["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|i| i["id"] == product.as_str() && i["drift"] == "missing"),
        "{}",
        drift.body
    );
    let repaired = api
        .call(Method::POST, "/api/admin/drift/repair/", Some(&admin), None)
        .await
        .expect(200);
    assert!(
        repaired.body["upserted"].as_u64() >= Some(1),
        "{}",
        repaired.body
    );
    let drift = api.get("/api/admin/drift/", Some(&admin)).await.expect(200);
    assert_eq!(drift.body["clean"], true, "{}", drift.body);

    // A resync held up by a hanging graph: a second start is refused while it runs.
    faults.set_hang(true);
    let started = api
        .call(Method::POST, "/api/admin/resync/", Some(&admin), None)
        .await
        .expect(202);
    assert_eq!(started.body["state"], "running", "{}", started.body);
    api.call(Method::POST, "/api/admin/resync/", Some(&admin), None)
        .await
        .expect_error(409, "resync_running", None);
    let (status, _, body) = raw(&api, Method::POST, "/admin/fragments/resync/", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(body.contains("already running"), "{body}");
    faults.set_hang(false);
    let finished = resync_until(&api, &admin, |s| s["state"] != "running").await;
    assert_eq!(finished["state"], "finished", "{finished}");
    assert_eq!(finished["percent"], 100, "{finished}");
    assert!(finished["upserted"].as_u64() >= Some(3), "{finished}");
    // And another may start once it is over.
    api.call(Method::POST, "/api/admin/resync/", Some(&admin), None)
        .await
        .expect(202);
    resync_until(&api, &admin, |s| s["state"] == "finished").await;
    api.stop().await;
}
