//! The API's one error type and the one place where [`swiftbox_core::Error`] kinds become HTTP
//! statuses.
//!
//! Every refusal is JSON: `{"error": {"code": "...", "message": "...", "field": "..."}}`, where
//! `field` (present only when one input field is to blame) names it with its path, for example
//! `items[1].quantity`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error response: status, a stable machine-readable `code`, a human message and, where one
/// input field is to blame, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code clients can match on (`invalid`, `not_found`, `conflict`, ...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The input field to blame, if any.
    pub field: Option<String>,
    /// Whole seconds a client should wait before trying again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

/// The body of every refusal (also its schema in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail<'a> {
    /// Stable code clients can match on (`invalid`, `not_found`, `conflict`, ...).
    #[schema(example = "invalid")]
    code: &'a str,
    /// What went wrong, for people.
    message: &'a str,
    /// The input field to blame, e.g. `items[1].quantity`; absent when none is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 429: too many attempts; try again after `wait` (sent as whole seconds, at least 1, in
    /// `Retry-After`).
    pub fn too_many_requests(wait: std::time::Duration, message: impl Into<String>) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(secs.max(1));
        e
    }

    /// Names the field to blame.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the request is malformed (not JSON, a bad query parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: well-formed input that breaks a rule, naming the field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message).with_field(field)
    }

    /// 401: no credentials, or credentials that are not (or no longer) valid.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 413: the request body is over the limit ([`crate::ApiConfig::max_body_bytes`]).
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body is too large",
        )
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 without details (the details go to the log, never to the client).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// 503: a store is unavailable; retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<swiftbox_core::Error> for ApiError {
    /// The one mapping from store errors to responses. Store and driver details
    /// (`Unavailable`, `Backend`) are logged, never sent to the client.
    fn from(e: swiftbox_core::Error) -> Self {
        use swiftbox_core::Error as E;
        match e {
            E::NotFound { kind, .. } => ApiError::not_found(format!("{kind} not found")),
            E::Conflict {
                kind,
                field,
                reason,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{kind} {field}: {reason}"),
            )
            .with_field(field),
            E::Invalid { field, reason } => {
                ApiError::invalid(field.clone(), format!("{field}: {reason}"))
            }
            e @ E::InsufficientStock { .. } => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_stock", e.to_string())
                    .with_field("items")
            }
            e @ E::Unavailable { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                ApiError::unavailable("a store is unavailable, retry later")
            }
            e => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match self.retry_after {
            Some(secs) => Some(secs),
            None => (self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        };
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// For a write whose input refers to other entities: a [`swiftbox_core::Error::NotFound`] of
/// `kind` is the input's fault (422 naming `field`), not a missing resource at the URL (404).
/// Every other error maps as usual.
pub fn referenced(
    kind: swiftbox_core::EntityKind,
    field: &'static str,
) -> impl FnOnce(swiftbox_core::Error) -> ApiError {
    move |e| match e {
        swiftbox_core::Error::NotFound { kind: k, id } if k == kind => {
            ApiError::invalid(field, format!("no such {kind}: {id}"))
        }
        e => e.into(),
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use swiftbox_core::{EntityKind, Error};

    #[test]
    fn core_errors_map_to_statuses_in_one_place() {
        let cases = [
            (Error::not_found(EntityKind::Product, "x"), 404, None),
            (
                Error::conflict(EntityKind::User, "username", "taken"),
                409,
                Some("username"),
            ),
            (
                Error::invalid("items[1].quantity", "must be at least 1"),
                422,
                Some("items[1].quantity"),
            ),
            (
                Error::InsufficientStock {
                    product: "p".into(),
                    requested: 2,
                    available: 1,
                },
                409,
                Some("items"),
            ),
            (Error::unavailable("neo4j", "connection refused"), 503, None),
            (Error::backend("mongodb", "secret detail"), 500, None),
        ];
        for (err, status, field) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.status.as_u16(), status, "{api:?}");
            assert_eq!(api.field.as_deref(), field, "{api:?}");
            assert!(!api.message.contains("secret"), "{api:?}");
        }
    }
}
