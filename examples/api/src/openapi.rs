//! The OpenAPI 3.0 description served at `GET /api/openapi.json`, written by hand (it compiles
//! in no time and says exactly what the handlers do). The end-to-end tests walk every path and
//! method it lists against the live router, so a route missing from either side fails them.

use serde_json::{json, Map, Value};

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Access {
    Anyone,
    User,
    Admin,
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
    body: Option<&'static str>,
    ok: (u16, Option<Value>),
    params: &'static [&'static str],
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn page_of(name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": { "type": "array", "items": schema(name) },
            "next": { "type": "string", "nullable": true, "description": "cursor for ?after=" }
        }
    })
}

fn items_of(name: &str) -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": { "items": { "type": "array", "items": schema(name) } }
    })
}

fn ops() -> Vec<Op> {
    use Access::*;
    let op = |method, path, summary, access, body, ok, params| Op {
        method,
        path,
        summary,
        access,
        body,
        ok,
        params,
    };
    vec![
        op(
            "get",
            "/api/health/",
            "Both stores and the sync status (503 when a store is down)",
            Anyone,
            None,
            (200, Some(schema("Health"))),
            &[],
        ),
        op(
            "get",
            "/api/openapi.json",
            "This document",
            Anyone,
            None,
            (200, None),
            &[],
        ),
        op(
            "post",
            "/api/auth/signup/",
            "Create an account (202 also when the e-mail is taken: no enumeration)",
            Anyone,
            Some("Signup"),
            (202, Some(schema("SignupAccepted"))),
            &[],
        ),
        op(
            "post",
            "/api/auth/login/",
            "Log in with username or e-mail; returns a bearer token",
            Anyone,
            Some("Login"),
            (200, Some(schema("LoginAnswer"))),
            &[],
        ),
        op(
            "post",
            "/api/auth/logout/",
            "Revoke the token of this request",
            User,
            None,
            (204, None),
            &[],
        ),
        op(
            "get",
            "/api/auth/me/",
            "The logged-in user",
            User,
            None,
            (200, Some(schema("User"))),
            &[],
        ),
        op(
            "get",
            "/api/products/",
            "List products, optionally of one category",
            Anyone,
            None,
            (200, Some(page_of("Product"))),
            &["after", "limit", "category"],
        ),
        op(
            "post",
            "/api/products/",
            "Create a product",
            Admin,
            Some("NewProduct"),
            (201, Some(schema("Product"))),
            &[],
        ),
        op(
            "get",
            "/api/products/{id}/",
            "One product",
            Anyone,
            None,
            (200, Some(schema("Product"))),
            &["id"],
        ),
        op(
            "put",
            "/api/products/{id}/",
            "Change a product (absent fields stay as they are)",
            Admin,
            Some("ProductPatch"),
            (200, Some(schema("Product"))),
            &["id"],
        ),
        op(
            "delete",
            "/api/products/{id}/",
            "Delete a product (and its graph node)",
            Admin,
            None,
            (204, None),
            &["id"],
        ),
        op(
            "get",
            "/api/products/{id}/reviews/",
            "A product's reviews",
            Anyone,
            None,
            (200, Some(page_of("Review"))),
            &["id", "after", "limit"],
        ),
        op(
            "post",
            "/api/products/{id}/reviews/",
            "Review a product (once per user)",
            User,
            Some("NewReview"),
            (201, Some(schema("Review"))),
            &["id"],
        ),
        op(
            "post",
            "/api/products/{id}/view/",
            "Record that the caller viewed the product (graph VIEWED)",
            User,
            None,
            (204, None),
            &["id"],
        ),
        op(
            "get",
            "/api/categories/",
            "List categories",
            Anyone,
            None,
            (200, Some(page_of("Category"))),
            &["after", "limit"],
        ),
        op(
            "post",
            "/api/categories/",
            "Create a category",
            Admin,
            Some("NewCategory"),
            (201, Some(schema("Category"))),
            &[],
        ),
        op(
            "get",
            "/api/orders/",
            "The caller's orders",
            User,
            None,
            (200, Some(page_of("Order"))),
            &["after", "limit"],
        ),
        op(
            "post",
            "/api/orders/",
            "Place an order for the caller (at most once per Idempotency-Key)",
            User,
            Some("NewOrder"),
            (201, Some(schema("Order"))),
            &["Idempotency-Key"],
        ),
        op(
            "get",
            "/api/admin/orders/",
            "Every order",
            Admin,
            None,
            (200, Some(page_of("Order"))),
            &["after", "limit"],
        ),
        op(
            "get",
            "/api/admin/set-aside/",
            "Changes the sync worker set aside as poison, longest owed first, with their last error, attempts, retries and next retry time (null: retries used up)",
            Admin,
            None,
            (200, Some(items_of("SetAsideChange"))),
            &["limit"],
        ),
        op(
            "post",
            "/api/admin/set-aside/release/",
            "Put one entity's set-aside change (kind and id), or all of them, back in line for the sync worker",
            Admin,
            Some("SetAsideRelease"),
            (200, Some(schema("SetAsideReleased"))),
            &[],
        ),
        op(
            "get",
            "/api/my-purchases/",
            "The caller's purchases from the graph, newest first",
            User,
            None,
            (200, Some(items_of("PurchaseRecord"))),
            &["limit"],
        ),
        op(
            "get",
            "/api/recommendations/",
            "Personalised recommendations for the caller",
            User,
            None,
            (200, Some(items_of("Recommendation"))),
            &["limit"],
        ),
        op(
            "get",
            "/api/popular/",
            "Most popular products",
            Anyone,
            None,
            (200, Some(items_of("ScoredProduct"))),
            &["limit", "category", "metric"],
        ),
    ]
}

fn parameter(name: &str) -> Value {
    match name {
        "id" => {
            json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
        }
        "after" => {
            json!({ "name": "after", "in": "query", "description": "the `next` cursor of the previous page", "schema": { "type": "string", "format": "uuid" } })
        }
        "limit" => {
            json!({ "name": "limit", "in": "query", "description": "page size (lists: 1..=200, default 50; graph queries: 1..=100, default 10)", "schema": { "type": "integer", "minimum": 1 } })
        }
        "category" => {
            json!({ "name": "category", "in": "query", "description": "category id (products) or name (popular)", "schema": { "type": "string" } })
        }
        "metric" => {
            json!({ "name": "metric", "in": "query", "schema": { "type": "string", "enum": ["purchases", "units", "buyers"] } })
        }
        "Idempotency-Key" => {
            json!({ "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "a key of the client's choosing (e.g. a UUID) for one order attempt: a retry with the same key and body answers 200 with the first order and places nothing; the same key with another body is 422. Kept 24 h.",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" } })
        }
        other => json!({ "name": other, "in": "query", "schema": { "type": "string" } }),
    }
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema("Error") } } })
}

fn operation(o: &Op) -> Value {
    let mut responses = Map::new();
    let (code, body) = &o.ok;
    let ok = match body {
        Some(s) => {
            json!({ "description": "success", "content": { "application/json": { "schema": s } } })
        }
        None => json!({ "description": "success" }),
    };
    responses.insert(code.to_string(), ok);
    if o.body.is_some() || !o.params.is_empty() {
        responses.insert(
            "400".into(),
            error_response("malformed request (not JSON, bad query parameter)"),
        );
    }
    if o.body.is_some() {
        responses.insert("413".into(), error_response("body too large"));
        responses.insert("415".into(), error_response("body is not application/json"));
        responses.insert(
            "422".into(),
            error_response("invalid input; `field` names it"),
        );
        responses.insert(
            "409".into(),
            error_response("conflict (unique value taken, insufficient stock)"),
        );
    }
    if o.params.contains(&"id") {
        responses.insert("404".into(), error_response("no such entity"));
    }
    if o.params.contains(&"Idempotency-Key") {
        responses.insert(
            "200".into(),
            json!({ "description": "a retry: the order placed earlier with this Idempotency-Key (nothing placed now)",
                "content": { "application/json": { "schema": o.ok.1.clone() } } }),
        );
    }
    if matches!(o.path, "/api/auth/login/" | "/api/auth/signup/") {
        let mut limited = error_response("too many attempts from this client or for this account");
        limited["headers"] = json!({ "Retry-After": {
            "description": "seconds to wait before trying again",
            "schema": { "type": "integer", "minimum": 1 } } });
        responses.insert("429".into(), limited);
    }
    match o.access {
        Access::Anyone => {}
        Access::User => {
            responses.insert(
                "401".into(),
                error_response("missing, invalid or expired token"),
            );
        }
        Access::Admin => {
            responses.insert(
                "401".into(),
                error_response("missing, invalid or expired token"),
            );
            responses.insert("403".into(), error_response("administrators only"));
        }
    }
    let mut v = json!({
        "summary": o.summary,
        "operationId": format!("{}_{}", o.method, o.path.trim_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": o.params.iter().map(|p| parameter(p)).collect::<Vec<_>>(),
        "responses": responses,
    });
    if let Some(b) = o.body {
        v["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": schema(b) } } });
    }
    if !matches!(o.access, Access::Anyone) {
        v["security"] = json!([{ "bearer": [] }]);
    }
    v
}

fn schemas() -> Value {
    let id = json!({ "type": "string", "format": "uuid" });
    let time = json!({ "type": "string", "format": "date-time" });
    let mut m = Map::new();
    m.insert("Error".into(), json!({ "type": "object", "required": ["error"], "properties": { "error": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": { "type": "string", "example": "invalid" },
                "message": { "type": "string" },
                "field": { "type": "string", "description": "the input field to blame, e.g. items[1].quantity" }
            } } } }));
    m.insert(
        "Money".into(),
        json!({ "type": "object", "required": ["minor", "currency"], "properties": {
            "minor": { "type": "integer", "format": "int64", "description": "minor units (cents)" },
            "currency": { "type": "string", "pattern": "^[A-Z]{3}$" } } }),
    );
    m.insert("Signup".into(), json!({ "type": "object", "additionalProperties": false, "required": ["username", "email", "password"], "properties": {
            "username": { "type": "string", "maxLength": 150 },
            "email": { "type": "string", "format": "email" },
            "password": { "type": "string", "minLength": 8, "format": "password" },
            "profile": { "type": "object", "properties": {
                "display_name": { "type": "string" }, "phone": { "type": "string" }, "address": { "type": "string" } } } } }));
    m.insert("SignupAccepted".into(), json!({ "type": "object", "properties": { "status": { "type": "string" }, "message": { "type": "string" } } }));
    m.insert("Login".into(), json!({ "type": "object", "additionalProperties": false, "required": ["password"], "properties": {
            "username": { "type": "string" }, "email": { "type": "string" },
            "password": { "type": "string", "format": "password" } } }));
    m.insert("LoginAnswer".into(), json!({ "type": "object", "properties": {
            "token": { "type": "string" }, "token_type": { "type": "string", "enum": ["Bearer"] },
            "expires_in": { "type": "integer", "description": "seconds" }, "user": schema("User") } }));
    m.insert("User".into(), json!({ "type": "object", "properties": {
            "id": id, "username": { "type": "string" }, "email": { "type": "string" },
            "profile": { "type": "object" }, "is_admin": { "type": "boolean" },
            "has_password": { "type": "boolean" }, "version": { "type": "integer" }, "created_at": time } }));
    m.insert("Category".into(), json!({ "type": "object", "properties": {
            "id": id, "name": { "type": "string" }, "parent": { "type": "string", "format": "uuid", "nullable": true },
            "version": { "type": "integer" }, "created_at": time } }));
    m.insert("NewCategory".into(), json!({ "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
            "name": { "type": "string", "maxLength": 100 }, "parent": id } }));
    m.insert("Product".into(), json!({ "type": "object", "properties": {
            "id": id, "name": { "type": "string" }, "description": { "type": "string" },
            "price": schema("Money"), "images": { "type": "array", "items": { "type": "string", "format": "uri" } },
            "category": id, "category_name": { "type": "string" }, "stock": { "type": "integer" },
            "version": { "type": "integer" }, "created_at": time, "updated_at": time } }));
    m.insert("NewProduct".into(), json!({ "type": "object", "additionalProperties": false, "required": ["name", "price", "category"], "properties": {
            "name": { "type": "string", "maxLength": 200 }, "description": { "type": "string", "maxLength": 5000 },
            "price": schema("Money"), "images": { "type": "array", "maxItems": 20, "items": { "type": "string", "format": "uri" } },
            "category": id, "stock": { "type": "integer", "minimum": 0 } } }));
    m.insert("ProductPatch".into(), json!({ "type": "object", "additionalProperties": false, "properties": {
            "name": { "type": "string" }, "description": { "type": "string" }, "price": schema("Money"),
            "images": { "type": "array", "items": { "type": "string" } }, "category": id,
            "stock": { "type": "integer", "minimum": 0 } } }));
    m.insert("Review".into(), json!({ "type": "object", "properties": {
            "id": id, "user": id, "product": id, "rating": { "type": "integer", "minimum": 1, "maximum": 5 },
            "comment": { "type": "string" }, "version": { "type": "integer" }, "created_at": time } }));
    m.insert("NewReview".into(), json!({ "type": "object", "additionalProperties": false, "required": ["rating"], "properties": {
            "rating": { "type": "integer", "minimum": 1, "maximum": 5 }, "comment": { "type": "string", "maxLength": 5000 } } }));
    m.insert("ShippingAddress".into(), json!({ "type": "object", "required": ["name", "line1", "city", "postal_code", "country"], "properties": {
            "name": { "type": "string" }, "line1": { "type": "string" }, "line2": { "type": "string", "nullable": true },
            "city": { "type": "string" }, "postal_code": { "type": "string" }, "country": { "type": "string" } } }));
    m.insert("NewOrder".into(), json!({ "type": "object", "additionalProperties": false, "required": ["items", "shipping"], "properties": {
            "items": { "type": "array", "minItems": 1, "maxItems": 100, "items": { "type": "object", "required": ["product", "quantity"], "properties": {
                "product": id, "quantity": { "type": "integer", "minimum": 1, "maximum": 10000 } } } },
            "shipping": schema("ShippingAddress") } }));
    m.insert("Order".into(), json!({ "type": "object", "properties": {
            "id": id, "user": id,
            "items": { "type": "array", "items": { "type": "object", "properties": {
                "product": id, "quantity": { "type": "integer" }, "unit_price": schema("Money") } } },
            "shipping": schema("ShippingAddress"),
            "payment_status": { "type": "string", "enum": ["pending", "paid", "failed", "refunded"] },
            "status": { "type": "string", "enum": ["placed", "processing", "shipped", "delivered", "cancelled"] },
            "total": schema("Money"), "placed_at": time, "version": { "type": "integer" } } }));
    m.insert("PurchaseRecord".into(), json!({ "type": "object", "properties": {
            "order_id": id, "product": id, "product_name": { "type": "string" }, "quantity": { "type": "integer" },
            "unit_price": schema("Money"), "purchased_at": time } }));
    m.insert("Recommendation".into(), json!({ "type": "object", "properties": {
            "product": id, "name": { "type": "string" }, "score": { "type": "number" },
            "reason": { "type": "object", "properties": {
                "type": { "type": "string", "enum": ["co_purchased", "popular_in_category", "popular"] },
                "because": { "type": "array", "items": id }, "category": { "type": "string" } } } } }));
    m.insert(
        "ScoredProduct".into(),
        json!({ "type": "object", "properties": {
            "product": id, "name": { "type": "string" }, "score": { "type": "number" } } }),
    );
    let kinds =
        json!({ "type": "string", "enum": ["user", "category", "product", "order", "review"] });
    m.insert("SetAsideChange".into(), json!({ "type": "object", "properties": {
            "kind": kinds, "id": id, "version": { "type": "integer" }, "owed_since": time,
            "attempts": { "type": "integer", "description": "failed applies before it was set aside" },
            "retries": { "type": "integer", "description": "failed retries since" },
            "retry_at": { "type": "string", "format": "date-time", "nullable": true, "description": "next retry; null once the retries are used up" },
            "last_error": { "type": "string", "nullable": true } } }));
    m.insert(
        "SetAsideRelease".into(),
        json!({ "type": "object", "additionalProperties": false,
            "description": "either kind and id (one entity's change) or all: true",
            "properties": { "kind": kinds, "id": id, "all": { "type": "boolean" } } }),
    );
    m.insert("SetAsideReleased".into(), json!({ "type": "object", "properties": {
            "released": { "type": "integer", "description": "changes put back in line (0: none was set aside)" } } }));
    m.insert("Health".into(), json!({ "type": "object", "properties": {
            "status": { "type": "string", "enum": ["ok", "degraded"] },
            "primary": { "type": "object", "properties": { "ok": { "type": "boolean" } } },
            "graph": { "type": "object", "properties": { "ok": { "type": "boolean" } } },
            "sync": { "type": "object", "nullable": true, "properties": {
                "owed": { "type": "integer" }, "set_aside": { "type": "integer" },
                "oldest_owed": { "type": "string", "format": "date-time", "nullable": true },
                "oldest_owed_age_seconds": { "type": "integer", "nullable": true },
                "oldest_set_aside": { "type": "string", "format": "date-time", "nullable": true },
                "primary_entities": { "type": "object", "additionalProperties": { "type": "integer" } },
                "graph_entities": { "type": "object", "nullable": true, "additionalProperties": { "type": "integer" } },
                "has_error": { "type": "boolean" },
                "last_error": { "type": "string", "description": "administrators only" } } } } }));
    Value::Object(m)
}

/// The OpenAPI 3.0.3 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in ops() {
        let entry = paths
            .entry(o.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[o.method] = operation(&o);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "SwiftBox shop API (example)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The seed shop's HTTP API over SwiftBox: MongoDB (or memory) as the system of record, Neo4j (or memory) for recommendations, kept in step by swiftbox-sync."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "token from POST /api/auth/login/" } }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_ref_resolves() {
        let doc = super::document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "dangling $ref {name}");
        }
        assert_eq!(doc["paths"].as_object().unwrap().len(), 18);
    }
}
