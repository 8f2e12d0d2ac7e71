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

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::ratelimit::{Attempt, ClientAddr};
use crate::state::AppState;

/// Body of `POST /api/auth/signup/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupBody {
    username: String,
    email: String,
    password: Password,
    #[serde(default)]
    profile: Profile,
}

/// Answer of a sign-up that was accepted (also given when the e-mail was already registered).
#[derive(Debug, Serialize)]
pub(crate) struct SignupAccepted {
    status: &'static str,
    message: &'static str,
}

const ACCEPTED: SignupAccepted = SignupAccepted {
    status: "accepted",
    message: "if this e-mail address was not registered yet, the account is ready: log in",
};

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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    password: Password,
}

/// Answer of a successful log-in.
#[derive(Serialize)] // no Debug: it carries the bearer token
pub(crate) struct LoginAnswer {
    token: String,
    token_type: &'static str,
    expires_in: u64,
    user: User,
}

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

pub(crate) async fn logout(State(state): State<AppState>, caller: Caller) -> StatusCode {
    state.sessions().revoke(caller.token());
    StatusCode::NO_CONTENT
}

pub(crate) async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}
