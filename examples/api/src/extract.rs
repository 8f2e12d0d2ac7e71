//! Request extractors that refuse bad input with [`ApiError`]s naming the field: JSON bodies
//! ([`ApiJson`]), pagination (`?after=&limit=`, [`PageParams`]) and query limits
//! ([`LimitParams`]), and path ids ([`parse_id`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use swiftbox_core::{EntityKind, PageRequest};

use crate::error::ApiError;

/// A JSON request body of type `T`.
///
/// Refuses, before any handler code runs: a missing or non-JSON `Content-Type` (415), a body
/// over the router's limit (413), malformed JSON or trailing garbage (400), and JSON of the wrong
/// shape (422 naming the field: a missing one, an unknown one, or one of the wrong type).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

fn is_json(parts_ct: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = parts_ct.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            // A chunked body over the limit of `crate::layers` fails here, while it is read.
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::bad_request("could not read the request body")
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises `bytes` as one JSON object of type `T`, naming the field on shape errors
/// (`body` when the JSON is not an object at all).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::invalid("body", "expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if !matches!(inner.classify(), serde_json::error::Category::Data) {
            return ApiError::bad_request(format!("malformed JSON: {}", strip_position(&inner)));
        }
        let message = strip_position(&inner);
        let field = field_of(&path, &message);
        ApiError::invalid(field, message)
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {}", strip_position(&e))))?;
    Ok(value)
}

/// serde_json's message without its " at line L column C" suffix.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The field a shape error is about: the path where it happened (an unknown field's path ends
/// with its name), extended by the field name for "missing field `x`" (reported at the
/// enclosing object).
fn field_of(path: &str, message: &str) -> String {
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        (".", None) => "body".to_owned(),
        (p, None) => p.to_owned(),
    }
}

/// The query of a list endpoint, as the client sends it (checked by [`PageParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RawPage {
    /// The `next` cursor of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Page size, 1..=200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// `?after=<cursor>&limit=<n>` of a list endpoint: a [`PageRequest`]; `limit` defaults to 50
/// and may be 1..=[`PageParams::MAX_LIMIT`].
#[derive(Debug, Clone)]
pub struct PageParams(pub PageRequest);

impl PageParams {
    /// Largest page an API client may ask for.
    pub const MAX_LIMIT: u32 = 200;
    /// Page size when `limit` is not given.
    pub const DEFAULT_LIMIT: u32 = 50;
}

fn raw_query<T: DeserializeOwned>(parts: &Parts) -> Result<T, ApiError> {
    Query::<T>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

/// Query parameters of type `T`, refused with a JSON 400 when they do not fit (use `String`
/// fields and check them in the handler to name the field).
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        raw_query(parts).map(ApiQuery)
    }
}

/// `?limit=`: `default` when absent, else 1..=`max` (400 naming `limit` otherwise).
pub(crate) fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("limit must be a whole number between 1 and {max}"),
                )
                .with_field("limit")
            }),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw: RawPage = raw_query(parts)?;
        let limit = parse_limit(raw.limit.as_deref(), Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?;
        let after = raw.after.filter(|a| !a.is_empty());
        let page = PageRequest { after, limit };
        page.validate().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "after is not a valid cursor",
            )
            .with_field("after")
        })?;
        Ok(PageParams(page))
    }
}

/// The query of a graph query, as the client sends it (checked by [`LimitParams`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RawLimit {
    /// How many items, 1..=100 (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// `?limit=<n>` of a graph query: 1..=[`LimitParams::MAX_LIMIT`], default
/// [`LimitParams::DEFAULT_LIMIT`].
#[derive(Debug, Clone, Copy)]
pub struct LimitParams(pub usize);

impl LimitParams {
    /// Largest limit (the graph's own maximum).
    pub const MAX_LIMIT: u32 = 100;
    /// Limit when none is given.
    pub const DEFAULT_LIMIT: u32 = 10;
}

impl<S: Send + Sync> FromRequestParts<S> for LimitParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw: RawLimit = raw_query(parts)?;
        let n = parse_limit(raw.limit.as_deref(), Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?;
        Ok(LimitParams(n as usize))
    }
}

/// Parses a path id; anything that is not an id is simply not found (404), like an id that
/// names nothing.
pub fn parse_id<T: std::str::FromStr>(raw: &str, kind: EntityKind) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("{kind} not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        quantity: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        items: Vec<Item>,
        note: String,
    }

    #[test]
    fn shape_errors_name_the_field() {
        let field = |body: &str| {
            let e = parse_json::<Order>(body.as_bytes()).unwrap_err();
            (e.status.as_u16(), e.field)
        };
        assert_eq!(field(r#"{"items": []}"#), (422, Some("note".into())));
        assert_eq!(
            field(r#"{"items": [{"quantity": 1}, {"quantity": "x"}], "note": ""}"#),
            (422, Some("items[1].quantity".into()))
        );
        assert_eq!(
            field(r#"{"items": [{"quantity": 1, "admin": true}], "note": ""}"#),
            (422, Some("items[0].admin".into()))
        );
        assert_eq!(field(r#"[1]"#), (422, Some("body".into())));
        assert_eq!(field(r#"{"items": [}"#).0, 400);
        assert_eq!(field(r#"{"items": [], "note": ""} trailing"#).0, 400);
        assert_eq!(field("").0, 400);
    }

    #[test]
    fn json_content_types() {
        let hv = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_json(Some(&hv("application/json"))));
        assert!(is_json(Some(&hv("Application/JSON; charset=utf-8"))));
        assert!(is_json(Some(&hv("application/merge-patch+json"))));
        assert!(!is_json(Some(&hv("text/plain"))));
        assert!(!is_json(None));
    }
}
