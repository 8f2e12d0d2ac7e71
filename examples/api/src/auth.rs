//! Sessions and who is calling.
//!
//! # Tokens
//!
//! A log-in issues a bearer token of 32 random bytes from the operating system's CSPRNG
//! (256 bits: unguessable), sent to the client once as 64 hex characters. The server keeps
//! only a BLAKE2s-256 digest of it in an in-process table ([`Sessions`]) with the user id and an
//! expiry (default one hour, [`crate::ApiConfig::token_ttl`]), so neither a memory dump nor a
//! timing side channel of the table lookup gives a usable token. Tokens can be revoked
//! (`POST /api/auth/logout/`), and every request re-reads the user from the primary store, so a
//! deleted user or a withdrawn admin flag takes effect at once.
//!
//! Why a table and not HMAC-signed tokens: a table needs no signing key to manage and can revoke
//! a token before it expires; signed tokens survive a restart and work across several API
//! processes. The cost of the table: **tokens do not survive a restart of the process** (users
//! log in again) and several API processes would need a shared table (the primary store, or
//! signed tokens). That is acceptable for an example; a production deployment would pick one of
//! those.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use blake2::{Blake2s256, Digest};
use swiftbox_core::{User, UserId};

use crate::error::ApiError;
use crate::state::AppState;

type Digest32 = [u8; 32];

#[derive(Debug, Clone, Copy)]
struct Session {
    user: UserId,
    expires: Instant,
}

/// The in-process token table: digest of each live token → user and expiry.
pub struct Sessions {
    table: Mutex<HashMap<Digest32, Session>>,
    ttl: Duration,
    max_sessions: usize,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.ttl)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// A freshly issued token. `Debug` does not show the token.
pub struct IssuedToken {
    /// The bearer token (64 hex characters).
    pub token: String,
    /// How long it is valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

fn digest(token: &str) -> Digest32 {
    Blake2s256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

impl Sessions {
    /// An empty table issuing tokens valid for `ttl`, holding at most `max_sessions` live ones.
    pub fn new(ttl: Duration, max_sessions: usize) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            ttl,
            max_sessions,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest32, Session>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation is
        // one insert or remove), so a poisoned lock is safe to keep using.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues a token for `user`. Fails (503) only when the OS random source fails or the table
    /// is full of live sessions.
    pub fn issue(&self, user: UserId) -> Result<IssuedToken, ApiError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| {
            tracing::error!(error = %e, "random source failed");
            ApiError::unavailable("cannot issue a token right now")
        })?;
        let token = hex(&raw);
        let now = Instant::now();
        let mut table = self.lock();
        if table.len() >= self.max_sessions {
            table.retain(|_, s| s.expires > now);
            if table.len() >= self.max_sessions {
                return Err(ApiError::unavailable("too many sessions, retry later"));
            }
        }
        table.insert(
            digest(&token),
            Session {
                user,
                expires: now + self.ttl,
            },
        );
        Ok(IssuedToken {
            token,
            ttl: self.ttl,
        })
    }

    /// The user a live token belongs to; expired tokens are dropped and give `None`.
    pub fn resolve(&self, token: &str) -> Option<UserId> {
        let key = digest(token);
        let mut table = self.lock();
        let session = *table.get(&key)?;
        if session.expires <= Instant::now() {
            table.remove(&key);
            return None;
        }
        Some(session.user)
    }

    /// Revokes a token; true when it was live.
    pub fn revoke(&self, token: &str) -> bool {
        self.lock().remove(&digest(token)).is_some()
    }

    /// Number of tokens in the table (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no token is in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bearer token of a request, if it has an `Authorization: Bearer <token>` header.
/// Any other `Authorization` value is refused (401), never ignored.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthenticated(
            "expected Authorization: Bearer <token>",
        ));
    }
    Ok(Some(token.trim()))
}

/// The logged-in user making the request (401 without a live token). `Debug` does not show
/// the token.
#[derive(Clone)]
pub struct Caller {
    /// The user, as the primary store has them now.
    pub user: User,
    /// The token the request carried (for log-out).
    token: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.user)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Caller {
    /// The token this request was authenticated with.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

async fn caller_of(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    let invalid = || ApiError::unauthenticated("invalid or expired token");
    let user_id = state.sessions().resolve(token).ok_or_else(invalid)?;
    match state.store().get_user(&user_id).await {
        Ok(user) => Ok(Some(Caller {
            user,
            token: token.to_owned(),
        })),
        Err(swiftbox_core::Error::NotFound { .. }) => {
            state.sessions().revoke(token);
            Err(invalid())
        }
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller_of(parts, state)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("authentication required"))
    }
}

/// A logged-in administrator (401 without a live token, 403 for other users).
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.user.is_admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "administrators only",
            ));
        }
        Ok(Admin(caller))
    }
}

/// The caller if the request carries a token; anonymous otherwise. A token that is present but
/// invalid is still refused (401), so a client learns its token expired.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeCaller(caller_of(parts, state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_resolve_expire_and_revoke() {
        let s = Sessions::new(Duration::from_secs(60), 10);
        let u = UserId::generate();
        let t = s.issue(u).unwrap();
        assert_eq!(t.token.len(), 64);
        assert!(!format!("{t:?}").contains(&t.token));
        assert_eq!(s.resolve(&t.token), Some(u));
        assert_eq!(s.resolve("0".repeat(64).as_str()), None);
        assert_ne!(s.issue(u).unwrap().token, t.token);
        assert!(s.revoke(&t.token));
        assert_eq!(s.resolve(&t.token), None);

        let short = Sessions::new(Duration::ZERO, 10);
        let t = short.issue(u).unwrap();
        assert_eq!(short.resolve(&t.token), None, "zero ttl expires at once");
        assert!(short.is_empty(), "expired token dropped");
    }

    #[test]
    fn debug_of_a_caller_does_not_show_the_token() {
        let s = Sessions::new(Duration::from_secs(60), 10);
        let issued = s.issue(UserId::generate()).unwrap();
        let caller = Caller {
            user: User {
                id: UserId::generate(),
                username: "ann".into(),
                email: "ann@example.com".into(),
                profile: Default::default(),
                is_admin: true,
                has_password: true,
                version: 1,
                created_at: swiftbox_core::time::now(),
            },
            token: issued.token.clone(),
        };
        for shown in [
            format!("{caller:?}"),
            format!("{:?}", Admin(caller.clone())),
            format!("{:?}", MaybeCaller(Some(caller))),
        ] {
            assert!(!shown.contains(&issued.token), "{shown}");
            assert!(shown.contains("ann"), "{shown}");
        }
    }

    #[test]
    fn full_table_drops_expired_then_refuses() {
        let s = Sessions::new(Duration::ZERO, 2);
        for _ in 0..5 {
            s.issue(UserId::generate()).unwrap();
        }
        let live = Sessions::new(Duration::from_secs(60), 2);
        live.issue(UserId::generate()).unwrap();
        live.issue(UserId::generate()).unwrap();
        let e = live.issue(UserId::generate()).unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
