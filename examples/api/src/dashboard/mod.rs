//! The operator's dashboard at `/admin/`: a page that logs in through the API
//! (`POST /api/auth/login/`, administrators only) and then shows, live (htmx polls every 2 s):
//! both stores' health, owed changes and the oldest owed age over the last minutes (an SVG
//! chart), the last sync error, the set-aside changes with a release button, the drift check
//! and repair, the full resync with its progress, and a recommendation explorer that draws why
//! a user gets what they get.
//!
//! # How it is built
//!
//! Server-rendered HTML fragments from `askama` templates (`templates/dashboard/`, checked at
//! compile time, every value HTML-escaped), swapped into the page by htmx (vendored, see
//! `assets/VENDOR.md`); charts and the graph are SVG drawn by the templates from coordinates
//! computed here ([`svg`]). Every asset is compiled into the binary (`include_str!`): nothing
//! is fetched at run time, no node at build time.
//!
//! # Access
//!
//! The page itself (`/admin/`) and its assets are public: they hold no data, only the log-in
//! form. Every fragment is administrators only, through the same [`Admin`] extractor as the
//! JSON endpoints: 401 without a valid bearer token, 403 for other users. The page keeps the
//! token in the tab's `sessionStorage` and sends it as `Authorization: Bearer` on every
//! fragment request (`assets/app.js`); no cookie is involved, so there is nothing for a
//! cross-site request to ride on.
//!
//! The fragments call what the JSON endpoints call ([`crate::operator`], the health report,
//! the set-aside list and release), so the two cannot disagree. They are HTML, not JSON, and
//! are left out of the OpenAPI document on purpose: [`ROUTES`] lists them, and the route tests
//! allow exactly those.

mod svg;
mod views;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Form, Router};
use serde::Deserialize;
use swiftbox_core::{EntityKind, PageRequest, UserId};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::operator;
use crate::routes::health;
use crate::routes::set_aside::{ReleaseBody, SetAsideItem};
use crate::state::AppState;

/// Every route of the dashboard: the page, its assets and its fragments. None is in the OpenAPI
/// document (they answer HTML); the route tests allow these paths, and only these, outside it.
pub const ROUTES: [&str; 10] = [
    "/admin/",
    "/admin/assets/{file}",
    "/admin/fragments/status/",
    "/admin/fragments/set-aside/",
    "/admin/fragments/set-aside/release/",
    "/admin/fragments/drift/",
    "/admin/fragments/drift/repair/",
    "/admin/fragments/resync/",
    "/admin/fragments/users/",
    "/admin/fragments/explorer/",
];

/// The dashboard's routes, [`ROUTES`] in order.
pub(crate) fn routes() -> Router<AppState> {
    let handlers: [MethodRouter<AppState>; ROUTES.len()] = [
        get(page),
        get(asset),
        get(status),
        get(set_aside),
        post(release),
        post(drift_check),
        post(drift_repair),
        get(resync_status).post(resync_start),
        get(users),
        get(explorer),
    ];
    ROUTES
        .into_iter()
        .zip(handlers)
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        // The page runs only its own compiled-in script and style (no inline script or style,
        // htmx's injected styles off): anything else a page could be tricked into loading or
        // running is refused by the browser, and no other site may frame it.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
}

/// The dashboard's `Content-Security-Policy`.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The files under `assets/`, compiled in: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/htmx.min.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/dashboard.css"),
    ),
];

/// A rendered template as an HTML response (500 if it cannot render, which a template checked
/// at compile time does only on a formatting error).
fn html(template: impl askama::Template) -> ApiResult<Response> {
    let body = template.render().map_err(|e| {
        tracing::error!(error = %e, "a dashboard template failed to render");
        ApiError::internal()
    })?;
    let mut res = Html(body).into_response();
    // Fragments change on every poll; never serve one from a cache.
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /admin/`: the page (log-in form and the dashboard's frame; no data).
async fn page() -> ApiResult<Response> {
    html(views::Page)
}

/// `GET /admin/assets/{file}`.
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such asset").into_response(),
    }
}

/// Both stores, the sync status and the chart (each call also records a chart sample).
async fn status(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    let report = health::report(&state, true).await;
    let samples = state.operator().samples.snapshot();
    html(views::Status::new(&report, &samples))
}

/// How many set-aside changes the dashboard lists.
const SET_ASIDE_SHOWN: usize = 50;

async fn set_aside_view(state: &AppState, notice: Option<String>) -> ApiResult<Response> {
    let items = state.backend().set_aside(SET_ASIDE_SHOWN).await?;
    let items: Vec<SetAsideItem> = items.into_iter().map(SetAsideItem::from).collect();
    html(views::SetAside {
        items: &items,
        notice,
    })
}

/// The set-aside changes, each with a release button.
async fn set_aside(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    set_aside_view(&state, None).await
}

/// Releases one change (form fields `kind` and `id`) or all (`all=true`), as
/// `POST /api/admin/set-aside/release/` does, then lists what is left.
async fn release(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Form(body): Form<ReleaseBody>,
) -> ApiResult<Response> {
    let released = crate::routes::set_aside::release_target(&state, &admin, body).await?;
    let notice = match released {
        1 => "1 change released: back in line for the sync worker".to_owned(),
        n => format!("{n} changes released: back in line for the sync worker"),
    };
    set_aside_view(&state, Some(notice)).await
}

/// Runs the drift check and lists what differs.
async fn drift_check(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    let summary = operator::check(state.backend()).await?;
    html(views::Drift {
        summary: &summary,
        repaired: None,
    })
}

/// Repairs what a fresh check finds, then shows a check after it.
async fn drift_repair(State(state): State<AppState>, Admin(admin): Admin) -> ApiResult<Response> {
    tracing::info!(admin = %admin.user.id, "drift repair requested from the dashboard");
    let repaired = operator::repair(state.backend()).await?;
    let summary = operator::check(state.backend()).await?;
    html(views::Drift {
        summary: &summary,
        repaired: Some(&repaired),
    })
}

/// The resync job's progress.
async fn resync_status(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    html(views::Resync {
        status: &state.operator().resync.status(),
        refused: None,
    })
}

/// Starts a resync; one already running is not disturbed, and the page says so.
async fn resync_start(State(state): State<AppState>, Admin(admin): Admin) -> ApiResult<Response> {
    let refused = match state.operator().resync.start(state.shared_backend()) {
        Ok(_) => {
            tracing::info!(admin = %admin.user.id, "resync requested from the dashboard");
            None
        }
        // Shown in the fragment (200): the page stays as it is, the message says why.
        Err(e) if e.status == StatusCode::CONFLICT => Some(e.message),
        Err(e) => return Err(e),
    };
    html(views::Resync {
        status: &state.operator().resync.status(),
        refused,
    })
}

/// How many users the explorer offers to pick from.
const USERS_SHOWN: u32 = 200;

/// The explorer's user picker.
async fn users(State(state): State<AppState>, Admin(_): Admin) -> ApiResult<Response> {
    let page = state
        .store()
        .list_users(PageRequest::first(USERS_SHOWN))
        .await?;
    let mut users: Vec<(UserId, String)> =
        page.items.into_iter().map(|u| (u.id, u.username)).collect();
    users.sort_by(|a, b| a.1.cmp(&b.1));
    html(views::Users {
        users: &users,
        more: page.next.is_some(),
    })
}

#[derive(Debug, Deserialize)]
struct ExplorerParams {
    user: Option<String>,
}

/// How many purchases, recommendations and peers the explorer draws.
const EXPLORER_LIMIT: usize = 8;

/// One user's purchases, recommendations (with their `because` products) and peers, drawn.
async fn explorer(
    State(state): State<AppState>,
    Admin(_): Admin,
    ApiQuery(params): ApiQuery<ExplorerParams>,
) -> ApiResult<Response> {
    let Some(raw) = params.user.filter(|u| !u.is_empty()) else {
        return html(views::Explorer::empty());
    };
    let id: UserId = crate::extract::parse_id(&raw, EntityKind::User)?;
    let user = state.store().get_user(&id).await?;
    let graph = state.graph();
    let (purchases, recommendations, peers) = tokio::join!(
        graph.purchase_history(&id, 4 * EXPLORER_LIMIT),
        graph.recommendations_for(&id, EXPLORER_LIMIT),
        graph.similar_users(&id, EXPLORER_LIMIT),
    );
    let (purchases, recommendations, peers) = (purchases?, recommendations?, peers?);
    let mut names = std::collections::HashMap::new();
    for p in &purchases {
        names
            .entry(p.product)
            .or_insert_with(|| p.product_name.clone());
    }
    // `because` names the user's own products; one bought before the history shown is looked up.
    for r in &recommendations {
        if let swiftbox_core::Reason::CoPurchased { because } = &r.reason {
            for seed in because {
                if !names.contains_key(seed) {
                    let name = match state.store().get_product(seed).await {
                        Ok(p) => p.name,
                        Err(swiftbox_core::Error::NotFound { .. }) => seed.to_string(),
                        Err(e) => return Err(e.into()),
                    };
                    names.insert(*seed, name);
                }
            }
        }
    }
    let view = views::Explorer::new(&user, &purchases, &recommendations, &peers, &names);
    html(view)
}
