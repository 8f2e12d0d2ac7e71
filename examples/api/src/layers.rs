//! The tower-http stack every request goes through, outermost first (around it all, the
//! request is counted in the HTTP metrics of [`crate::exporter`]):
//!
//! 1. **Request id** (`x-request-id`): the client's own if it sent one, else a new UUID; sent
//!    back on the response and recorded in the request's span, so a client can quote it and an
//!    operator can find the request's log lines.
//! 2. **Trace span** (`TraceLayer`): one `request` span per request with the method, the route
//!    template (`/api/products/{id}/`, never the raw URI or a header, so no token or query value
//!    reaches the log) and the request id; a `finished processing request` event with the
//!    status and the latency when it is answered.
//! 3. **Compression** (gzip) of responses, for clients that send `Accept-Encoding: gzip`.
//! 4. **JSON errors** (`json_errors`): a refusal the layers below produce themselves (the
//!    timeout, the body limit, axum's own rejections) gets the service's JSON error body.
//! 5. **Timeout** ([`crate::ApiConfig::request_timeout`]): a request still running then is
//!    dropped and answered 503 with code `timeout`.
//! 6. **Body limit** ([`crate::ApiConfig::max_body_bytes`]): a larger body is refused with 413
//!    (code `payload_too_large`) before it is read, whether its length is announced or it comes
//!    chunked.

use axum::body::Body;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_response_body::MapResponseBodyLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;

use crate::error::ApiError;
use crate::exporter::Metrics;
use crate::state::AppState;

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

/// `routes` behind the stack of the module docs, configured by `state`'s configuration, and
/// counted into `state`'s metrics.
pub(crate) fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = state.config();
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                ),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CompressionLayer::new())
        .map_response(json_errors)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        // The limit's answers as axum bodies (the timeout needs a body it can make empty).
        .layer(MapResponseBodyLayer::new(Body::new))
        // One limit, tower-http's, for every body (axum's own 2 MB default is switched off).
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes));
    // Outermost, so the stack's own refusals (timeout, body limit) are counted too.
    routes
        .layer(stack)
        .layer(from_fn_with_state(state.metrics().clone(), count_request))
}

/// Counts the request in the HTTP metrics (see [`crate::exporter`]) by its route template.
async fn count_request(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = route_of(&req).to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    metrics.record_request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// The route template a request matched, `(no route)` when none (never the raw path, whose
/// values would make a new series each).
fn route_of(req: &Request) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str)
}

/// The span of one request: method, route template and request id (nothing a client can put
/// a secret in).
fn request_span(req: &Request) -> tracing::Span {
    let route = route_of(req);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), route, request_id)
}

/// Gives an error response that is not JSON yet (produced by a layer or by axum, not by a
/// handler) the service's JSON error body, keeping its status and its other headers.
pub(crate) fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::payload_too_large(),
        // Only the timeout layer answers 503 without a JSON body.
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
            status,
            "timeout",
            "the request took too long and was stopped; it may have taken effect, so retry \
             with the same Idempotency-Key where the endpoint takes one",
        ),
        StatusCode::BAD_REQUEST => ApiError::bad_request("malformed request"),
        other => ApiError::new(
            other,
            "error",
            other
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase(),
        ),
    };
    let (parts, _) = res.into_parts();
    let mut mapped = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            mapped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    mapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    async fn body_of(res: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(res.into_body(), 4096)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn bare_refusals_get_the_json_error_body() {
        let mut bare = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        bare.headers_mut()
            .insert(REQUEST_ID, HeaderValue::from_static("abc"));
        let res = json_errors(bare);
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(res.headers()[REQUEST_ID], "abc");
        assert_eq!(body_of(res).await["error"]["code"], "payload_too_large");

        let res = json_errors(StatusCode::SERVICE_UNAVAILABLE.into_response());
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body_of(res).await["error"]["code"], "timeout");
    }

    #[tokio::test]
    async fn json_errors_and_successes_pass_unchanged() {
        let own = ApiError::unavailable("a store is unavailable, retry later").into_response();
        assert_eq!(
            body_of(json_errors(own)).await["error"]["code"],
            "unavailable"
        );
        let ok = json_errors((StatusCode::OK, "plain").into_response());
        let bytes = axum::body::to_bytes(ok.into_body(), 64)
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"plain");
    }
}
