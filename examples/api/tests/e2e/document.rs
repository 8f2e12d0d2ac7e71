//! The OpenAPI document against the live service: every answer of a full shopping flow (and of
//! the usual refusals) is checked against the schema the document gives for that operation and
//! status, so the document cannot drift from what the handlers send: a field added, dropped or
//! renamed, a status not documented, or a wrong type fails here.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{start, unique, Res};

/// Follows a local `$ref` (`#/components/schemas/Name`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// Checks `value` against `schema` (the subset of JSON Schema the document uses); the errors
/// name where the value breaks it.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(any) = schema["oneOf"].as_array() {
        let fits = any.iter().any(|s| {
            let mut e = Vec::new();
            check(doc, s, value, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of {}", schema["oneOf"]));
        }
        return;
    }
    for s in schema["allOf"].as_array().into_iter().flatten() {
        check(doc, s, value, at, errors);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        errors.push(format!("{at}: {value} is not {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (name, v) in object {
            let at = format!("{at}.{name}");
            match (
                properties.and_then(|p| p.get(name)),
                &schema["additionalProperties"],
            ) {
                (Some(s), _) => check(doc, s, v, &at, errors),
                (None, extra) if extra.is_object() => check(doc, extra, v, &at, errors),
                (None, _) if properties.is_some() => {
                    errors.push(format!("{at}: not in the document"))
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(doc, schema, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Checks one answer of `method route` (the route as the document names it) against it.
fn conforms(doc: &Value, method: &Method, route: &str, res: &Res) -> Vec<String> {
    let what = format!("{method} {route} -> {}", res.status.as_u16());
    let op = &doc["paths"][route][method.as_str().to_lowercase()];
    if op.is_null() {
        return vec![format!("{what}: no such operation in the document")];
    }
    let response = &op["responses"][res.status.as_str()];
    if response.is_null() {
        return vec![format!("{what}: status not documented")];
    }
    let schema = &response["content"]["application/json"]["schema"];
    let mut errors = Vec::new();
    match (schema.is_null(), res.body.is_null()) {
        (true, true) => {}
        (true, false) => errors.push(format!("{what}: a body the document does not describe")),
        (false, true) => errors.push(format!("{what}: no body, the document describes one")),
        (false, false) => check(doc, schema, &res.body, &what, &mut errors),
    }
    errors
}

/// A call and the status it must get: method, route as the document names it, URL, token, body.
type Call<'a> = (Method, &'a str, String, Option<&'a str>, Option<Value>, u16);

#[tokio::test]
async fn responses_match_the_document() {
    let api = start().await;
    let doc = api.get("/api/openapi.json", None).await.expect(200).body;
    let mut seen: Vec<(Method, &str, Res)> = Vec::new();
    let admin = api.admin().await;

    let category = unique("books");
    let cat = api
        .post(
            "/api/categories/",
            Some(&admin),
            json!({ "name": category }),
        )
        .await
        .expect(201);
    let cat_id = cat.body["id"].as_str().expect("id").to_owned();
    seen.push((Method::POST, "/api/categories/", cat));
    let body = json!({ "name": "Rust in Action", "price": { "minor": 3999, "currency": "EUR" }, "category": cat_id, "stock": 10, "images": ["https://example.com/r.png"] });
    let product = api
        .post("/api/products/", Some(&admin), body)
        .await
        .expect(201);
    let p = product.body["id"].as_str().expect("id").to_owned();
    seen.push((Method::POST, "/api/products/", product));
    let other = api
        .product(&admin, &cat_id, "Graph Databases", 2999, 10)
        .await;

    let name = unique("ann");
    let signup = api
        .post(
            "/api/auth/signup/",
            None,
            json!({ "username": name, "email": format!("{name}@example.com"), "password": crate::common::PASSWORD, "profile": { "display_name": "Ann" } }),
        )
        .await
        .expect(202);
    seen.push((Method::POST, "/api/auth/signup/", signup));
    let login = api
        .post(
            "/api/auth/login/",
            None,
            json!({ "username": name, "password": crate::common::PASSWORD }),
        )
        .await
        .expect(200);
    let ann = login.body["token"].as_str().expect("token").to_owned();
    seen.push((Method::POST, "/api/auth/login/", login));
    let (_, bob) = api.user("bob").await;
    for token in [&ann, &bob] {
        api.order(token, &[(&p, 1), (&other, 2)]).await.expect(201);
    }
    let placed = api
        .order_with_key(&ann, &unique("key"), &[(&p, 1)])
        .await
        .expect(201);
    seen.push((Method::POST, "/api/orders/", placed));
    let review = json!({ "rating": 5, "comment": "good" });
    let path = format!("/api/products/{p}/reviews/");
    let reviewed = api
        .post(&path, Some(&ann), review.clone())
        .await
        .expect(201);
    seen.push((Method::POST, "/api/products/{id}/reviews/", reviewed));
    let again = api.post(&path, Some(&ann), review).await.expect(409);
    seen.push((Method::POST, "/api/products/{id}/reviews/", again));
    api.settle().await;

    let p_path = format!("/api/products/{p}/");
    let gets: Vec<(&str, String, Option<&str>)> = vec![
        ("/api/health/", "/api/health/".into(), None),
        ("/api/health/", "/api/health/".into(), Some(&admin)),
        ("/api/auth/me/", "/api/auth/me/".into(), Some(&ann)),
        ("/api/products/", "/api/products/?limit=1".into(), None),
        ("/api/products/{id}/", p_path.clone(), None),
        ("/api/products/{id}/reviews/", path.clone(), None),
        ("/api/categories/", "/api/categories/".into(), None),
        ("/api/orders/", "/api/orders/".into(), Some(&ann)),
        (
            "/api/admin/orders/",
            "/api/admin/orders/".into(),
            Some(&admin),
        ),
        (
            "/api/admin/set-aside/",
            "/api/admin/set-aside/".into(),
            Some(&admin),
        ),
        (
            "/api/admin/drift/",
            "/api/admin/drift/".into(),
            Some(&admin),
        ),
        (
            "/api/admin/resync/",
            "/api/admin/resync/".into(),
            Some(&admin),
        ),
        (
            "/api/my-purchases/",
            "/api/my-purchases/".into(),
            Some(&ann),
        ),
        (
            "/api/recommendations/",
            "/api/recommendations/".into(),
            Some(&bob),
        ),
        ("/api/popular/", "/api/popular/?metric=units".into(), None),
    ];
    for (route, url, token) in gets {
        let res = api.get(&url, token).await.expect(200);
        seen.push((Method::GET, route, res));
    }
    let recs = &seen.last().expect("answers").2.body;
    assert!(
        recs["items"].as_array().is_some_and(|r| !r.is_empty()),
        "{recs}"
    );

    // Refusals: the document describes their bodies too.
    let refusals: Vec<Call> = vec![
        (
            Method::GET,
            "/api/auth/me/",
            "/api/auth/me/".into(),
            None,
            None,
            401,
        ),
        (
            Method::POST,
            "/api/products/",
            "/api/products/".into(),
            Some(&ann),
            Some(json!({})),
            403,
        ),
        (
            Method::GET,
            "/api/products/{id}/",
            "/api/products/not-an-id/".into(),
            None,
            None,
            404,
        ),
        (
            Method::PUT,
            "/api/products/{id}/",
            p_path.clone(),
            Some(&admin),
            Some(json!({ "stock": -1 })),
            422,
        ),
        (
            Method::GET,
            "/api/popular/",
            "/api/popular/?metric=likes".into(),
            None,
            None,
            400,
        ),
        (
            Method::POST,
            "/api/admin/set-aside/release/",
            "/api/admin/set-aside/release/".into(),
            Some(&admin),
            Some(json!({ "all": true })),
            200,
        ),
        (
            Method::POST,
            "/api/admin/drift/repair/",
            "/api/admin/drift/repair/".into(),
            Some(&admin),
            None,
            200,
        ),
        (
            Method::POST,
            "/api/admin/resync/",
            "/api/admin/resync/".into(),
            Some(&admin),
            None,
            202,
        ),
        (
            Method::POST,
            "/api/products/{id}/view/",
            format!("/api/products/{p}/view/"),
            Some(&ann),
            None,
            204,
        ),
        (
            Method::POST,
            "/api/auth/logout/",
            "/api/auth/logout/".into(),
            Some(&bob),
            None,
            204,
        ),
        (
            Method::DELETE,
            "/api/products/{id}/",
            p_path.clone(),
            Some(&admin),
            None,
            204,
        ),
    ];
    for (method, route, url, token, body, status) in refusals {
        let res = api
            .call(method.clone(), &url, token, body)
            .await
            .expect(status);
        seen.push((method, route, res));
    }

    let errors: Vec<String> = seen
        .iter()
        .flat_map(|(method, route, res)| conforms(&doc, method, route, res))
        .collect();
    assert!(
        errors.is_empty(),
        "answers that break the document:\n{}",
        errors.join("\n")
    );
    api.stop().await;
}

#[tokio::test]
async fn the_checker_refuses_what_breaks_the_document() {
    let api = start().await;
    let doc = api.get("/api/openapi.json", None).await.expect(200).body;
    let product = &doc["components"]["schemas"]["Product"];
    let mut errors = Vec::new();
    check(
        &doc,
        product,
        &json!({ "id": 1, "surprise": true }),
        "p",
        &mut errors,
    );
    let text = errors.join("\n");
    for expected in ["p.id", "p.surprise", "required `name`"] {
        assert!(text.contains(expected), "{expected} not found in:\n{text}");
    }
    api.stop().await;
}
