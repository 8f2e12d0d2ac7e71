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

use std::collections::{HashMap, VecDeque};
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

/// The tokens, and each user's tokens oldest first (so a user's count and oldest token are
/// found without a scan).
#[derive(Default)]
struct Table {
    tokens: HashMap<Digest32, Session>,
    by_user: HashMap<UserId, VecDeque<Digest32>>,
}

impl Table {
    fn remove(&mut self, key: &Digest32) -> Option<Session> {
        let session = self.tokens.remove(key)?;
        if let Some(mine) = self.by_user.get_mut(&session.user) {
            mine.retain(|k| k != key);
            if mine.is_empty() {
                self.by_user.remove(&session.user);
            }
        }
        Some(session)
    }

    fn drop_expired(&mut self, now: Instant) {
        self.tokens.retain(|_, s| s.expires > now);
        let tokens = &self.tokens;
        self.by_user.retain(|_, mine| {
            mine.retain(|k| tokens.contains_key(k));
            !mine.is_empty()
        });
    }
}

/// The in-process token table: digest of each live token → user and expiry; at most
/// `max_sessions` tokens, and at most `max_per_user` per user (a new log-in past it revokes
/// that user's oldest token), so no one account can fill the table.
pub struct Sessions {
    table: Mutex<Table>,
    ttl: Duration,
    max_sessions: usize,
    max_per_user: usize,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.ttl)
            .field("max_sessions", &self.max_sessions)
            .field("max_per_user", &self.max_per_user)
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
    /// An empty table issuing tokens valid for `ttl`, holding at most `max_sessions` live ones
    /// (and 10 per user; see [`Sessions::with_max_per_user`]).
    pub fn new(ttl: Duration, max_sessions: usize) -> Self {
        Self {
            table: Mutex::new(Table::default()),
            ttl,
            max_sessions,
            max_per_user: 10,
        }
    }

    /// Keeps at most `max` (at least 1) live tokens per user: issuing one more revokes the
    /// user's oldest.
    pub fn with_max_per_user(mut self, max: usize) -> Self {
        self.max_per_user = max.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
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
        let key = digest(&token);
        let mut table = self.lock();
        // The user's own oldest tokens make room first, so a user at the cap never needs
        // (nor takes) anyone else's room.
        while table.by_user.get(&user).map_or(0, VecDeque::len) >= self.max_per_user {
            let Some(oldest) = table.by_user.get(&user).and_then(|m| m.front().copied()) else {
                break;
            };
            table.remove(&oldest);
        }
        if table.tokens.len() >= self.max_sessions {
            table.drop_expired(now);
            if table.tokens.len() >= self.max_sessions {
                return Err(ApiError::unavailable("too many sessions, retry later"));
            }
        }
        table.tokens.insert(
            key,
            Session {
                user,
                expires: now + self.ttl,
            },
        );
        table.by_user.entry(user).or_default().push_back(key);
        Ok(IssuedToken {
            token,
            ttl: self.ttl,
        })
    }

    /// The user a live token belongs to; expired tokens are dropped and give `None`.
    pub fn resolve(&self, token: &str) -> Option<UserId> {
        let key = digest(token);
        let mut table = self.lock();
        let session = *table.tokens.get(&key)?;
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
        self.lock().tokens.len()
    }

    /// Number of tokens of `user` in the table (expired ones not yet dropped included).
    pub fn count_of(&self, user: &UserId) -> usize {
        self.lock().by_user.get(user).map_or(0, VecDeque::len)
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
    fn one_account_keeps_only_its_newest_tokens() {
        let s = Sessions::new(Duration::from_secs(60), 100).with_max_per_user(3);
        let ann = UserId::generate();
        let bob = UserId::generate();
        let bobs = s.issue(bob).unwrap();
        let tokens: Vec<_> = (0..50).map(|_| s.issue(ann).unwrap().token).collect();
        assert_eq!(s.count_of(&ann), 3);
        assert_eq!(s.len(), 4, "ann's three and bob's one");
        for old in &tokens[..47] {
            assert_eq!(s.resolve(old), None, "older tokens are revoked");
        }
        for new in &tokens[47..] {
            assert_eq!(s.resolve(new), Some(ann));
        }
        assert_eq!(s.resolve(&bobs.token), Some(bob), "others keep theirs");
        assert!(s.revoke(&tokens[49]));
        assert_eq!(s.count_of(&ann), 2);
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
