//! `POST /api/auth/signup/`, `/login/` and `/logout/`.
//!
//! # What these endpoints reveal about accounts
//!
//! - **Log-in** answers every failure (unknown user, wrong password, account without a
//!   password) with the same 401 and message, after the same argon2 work
//!   ([`swiftbox_core::UserStore::authenticate`] verifies against a dummy hash for unknown
//!   users), so neither the message nor the time tells whether a user exists.
//! - **Sign-up** must tell a person that the *username* they chose is taken (409 naming
//!   `username`), or they cannot pick another: usernames are public handles, and that is the
//!   accepted price. An *e-mail address* is private, so a sign-up whose e-mail is already
//!   registered gets exactly the answer of a successful one (202 with the same body) and creates
//!   nothing; both paths spend the argon2 hash first. A determined prober can still try to log in
//!   with the new username afterwards; closing that needs e-mail verification (send a link,
//!   activate on click), which is out of scope for this example.
//!
//! # What they cost the service
//!
//! Both endpoints are rate limited per client address and per account before they do any
//! work (429 with `Retry-After`, see [`crate::ratelimit`]), and run their argon2 work on the
//! bounded blocking pool of [`crate::hashing`], never on the async workers. Each account keeps
//! at most [`crate::ApiConfig::max_sessions_per_user`] tokens (a new log-in revokes the oldest).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use swiftbox_core::{Credentials, NewUser, Password, Profile, User};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::openapi::schemas;
use crate::ratelimit::{Attempt, ClientAddr};
use crate::state::AppState;

/// Body of `POST /api/auth/signup/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupBody {
    /// 1..=150 letters, digits or `@.+-_`; unique.
    #[schema(max_length = 150)]
    username: String,
    #[schema(format = Email)]
    email: String,
    #[schema(value_type = String, format = Password, min_length = 8)]
    password: Password,
    #[serde(default)]
    #[schema(value_type = Option<schemas::Profile>)]
    profile: Profile,
}

/// Answer of a sign-up that was accepted (also given when the e-mail was already registered).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignupAccepted {
    status: &'static str,
    message: &'static str,
}

const ACCEPTED: SignupAccepted = SignupAccepted {
    status: "accepted",
    message: "if this e-mail address was not registered yet, the account is ready: log in",
};

/// Create an account (202 also when the e-mail is taken: no enumeration).
#[utoipa::path(
    post,
    path = "/api/auth/signup/",
    tag = "auth",
    request_body = SignupBody,
    responses(
        (status = 202, description = "accepted (also when the e-mail was registered already)", body = SignupAccepted),
        (status = 409, description = "the username is taken", body = ErrorBody),
        RateLimited,
    )
)]
pub(crate) async fn signup(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<SignupBody>,
) -> ApiResult<impl IntoResponse> {
    state
        .auth_limits()
        .check(Attempt::Signup, client, &body.username)?;
    let password = body.password;
    let password = state.hashing().run(move || password.prehash()).await??;
    let new = NewUser {
        username: body.username,
        email: body.email,
        password: Some(password),
        profile: body.profile,
        is_admin: false,
    };
    match state.store().create_user(new).await {
        Ok(user) => tracing::info!(user = %user.id, "signed up"),
        Err(swiftbox_core::Error::Conflict { field: "email", .. }) => {
            tracing::info!("sign-up with a registered e-mail, answered as accepted");
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)))
}

/// Body of `POST /api/auth/login/`: `username` or `email` (if both, `username` is used), and
/// `password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[schema(value_type = String, format = Password)]
    password: Password,
}

/// Answer of a successful log-in.
#[derive(Serialize, ToSchema)] // no Debug: it carries the bearer token
pub(crate) struct LoginAnswer {
    /// The bearer token for `Authorization: Bearer <token>`.
    token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the token stays valid.
    expires_in: u64,
    #[schema(value_type = schemas::User)]
    user: User,
}

/// 429 of log-in and sign-up (see [`crate::ratelimit`]).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // describes a response; the value is an ApiError
pub(crate) enum RateLimited {
    /// Too many attempts from this client or for this account.
    #[response(
        status = 429,
        headers(("Retry-After" = u64, description = "seconds to wait before trying again"))
    )]
    TooMany(#[to_schema] ErrorBody<'static>),
}

/// Log in with username or e-mail; returns a bearer token.
#[utoipa::path(
    post,
    path = "/api/auth/login/",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "logged in", body = LoginAnswer),
        (status = 401, description = "invalid username, e-mail or password", body = ErrorBody),
        RateLimited,
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Json<LoginAnswer>> {
    let login = body
        .username
        .or(body.email)
        .ok_or_else(|| ApiError::invalid("username", "give a username or an e-mail address"))?;
    state.auth_limits().check(Attempt::Login, client, &login)?;
    // What `UserStore::authenticate` does, with the argon2 work on the blocking pool.
    let found = state.store().credentials(&login).await?;
    let password = body.password;
    let user = state
        .hashing()
        .run(move || Credentials::check(found, password.expose()))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("invalid username, e-mail or password"))?;
    let issued = state.sessions().issue(user.id)?;
    tracing::info!(user = %user.id, "logged in");
    Ok(Json(LoginAnswer {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.ttl.as_secs(),
        user,
    }))
}

/// Revoke the token of this request.
#[utoipa::path(
    post,
    path = "/api/auth/logout/",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 204, description = "the token is revoked"))
)]
pub(crate) async fn logout(State(state): State<AppState>, caller: Caller) -> StatusCode {
    state.sessions().revoke(caller.token());
    StatusCode::NO_CONTENT
}

/// The logged-in user.
#[utoipa::path(
    get,
    path = "/api/auth/me/",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "the caller", body = schemas::User))
)]
pub(crate) async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}
