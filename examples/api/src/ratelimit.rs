//! Rate limits of log-in and sign-up, per client and per account, with `governor` (GCRA).
//!
//! Every attempt counts against two keys, and is refused with 429 and `Retry-After` (whole
//! seconds until the refused key has room again) as soon as either is spent:
//!
//! - the **client**: the peer IP address of the connection (a deployment behind a proxy would
//!   key on the address the proxy reports instead), so one client cannot try passwords or
//!   create accounts as fast as it can send;
//! - the **account**: the login name for a log-in, the username for a sign-up (lower-cased), so
//!   many clients together cannot try passwords against one account.
//!
//! Limits are counted before the request does any work (no argon2 for a refused attempt).
//! An attempt the client limit refuses does not count against the account. The tables drop
//! keys idle for a full period once they hold more than a few thousand.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// A rate limit: at most `burst` attempts at once, refilled evenly over `period` (so `burst`
/// per `period` in the long run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Attempts allowed at once.
    pub burst: NonZeroU32,
    /// The time in which a spent burst fills up again.
    pub period: Duration,
}

impl RateLimit {
    /// `burst` attempts per `period`.
    pub const fn new(burst: NonZeroU32, period: Duration) -> Self {
        Self { burst, period }
    }

    fn quota(self) -> Quota {
        let per_cell = (self.period / self.burst.get()).max(Duration::from_nanos(1));
        Quota::with_period(per_cell)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(self.burst)
    }
}

/// What kind of attempt is being limited (they share the client limit; each has its own
/// account keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Attempt {
    Login,
    Signup,
}

/// Keys kept before idle ones are dropped.
const TIDY_ABOVE: usize = 10_000;

/// The per-client and per-account limiters of the auth endpoints.
pub struct AuthLimits {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    accounts: DefaultKeyedRateLimiter<(Attempt, String)>,
}

impl std::fmt::Debug for AuthLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLimits")
            .field("clients", &self.clients.len())
            .field("accounts", &self.accounts.len())
            .finish()
    }
}

impl AuthLimits {
    /// Limiters with a limit per client address and one per account.
    pub fn new(per_client: RateLimit, per_account: RateLimit) -> Self {
        Self {
            clients: DefaultKeyedRateLimiter::keyed(per_client.quota()),
            accounts: DefaultKeyedRateLimiter::keyed(per_account.quota()),
        }
    }

    /// Counts one attempt of `client` on `account`; 429 with `Retry-After` when either is over
    /// its limit. `client` is `None` when the server does not know the peer (a router used
    /// without connection info): such requests share one key.
    pub(crate) fn check(
        &self,
        attempt: Attempt,
        client: Option<IpAddr>,
        account: &str,
    ) -> Result<(), ApiError> {
        self.tidy();
        let client = client.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        let clock = DefaultClock::default();
        if let Err(not_until) = self.clients.check_key(&client) {
            return Err(too_many(not_until.wait_time_from(clock.now()), "client"));
        }
        let key = (attempt, account.trim().to_lowercase());
        if let Err(not_until) = self.accounts.check_key(&key) {
            return Err(too_many(not_until.wait_time_from(clock.now()), "account"));
        }
        Ok(())
    }

    fn tidy(&self) {
        if self.clients.len() > TIDY_ABOVE {
            self.clients.retain_recent();
        }
        if self.accounts.len() > TIDY_ABOVE {
            self.accounts.retain_recent();
        }
    }
}

/// The peer address of the request's connection, when the server recorded it
/// ([`crate::serve`] does).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn too_many(wait: Duration, which: &str) -> ApiError {
    tracing::info!(
        limit = which,
        wait_ms = wait.as_millis() as u64,
        "auth attempt rate limited"
    );
    ApiError::too_many_requests(
        wait,
        format!("too many attempts for this {which}; retry later"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn limit(burst: u32) -> RateLimit {
        RateLimit::new(NonZeroU32::new(burst).unwrap(), Duration::from_secs(3600))
    }

    #[test]
    fn each_client_and_account_has_its_own_budget() {
        let limits = AuthLimits::new(limit(3), limit(2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        limits.check(Attempt::Login, Some(a), "ann").unwrap();
        limits.check(Attempt::Login, Some(a), "ANN ").unwrap();
        let e = limits.check(Attempt::Login, Some(b), "ann").unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.retry_after.is_some_and(|s| s >= 1), "{e:?}");
        // Sign-ups of the name and other accounts are other keys.
        limits.check(Attempt::Signup, Some(b), "ann").unwrap();
        limits.check(Attempt::Login, Some(a), "bob").unwrap();
        // Client a has spent its three.
        let e = limits.check(Attempt::Login, Some(a), "cy").unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.message.contains("client"), "{e:?}");
    }
}
