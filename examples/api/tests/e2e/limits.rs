//! Log-in and sign-up cannot starve the service: rate limits per client and per account (429
//! with `Retry-After`), and one account cannot fill the session table.

use std::num::NonZeroU32;
use std::time::Duration;

use serde_json::json;
use swiftbox_api_example::ratelimit::RateLimit;
use swiftbox_api_example::ApiConfig;

use crate::common::{start_limited, unique, Res, PASSWORD};

/// `burst` attempts an hour: nothing refills during a test.
fn per_hour(burst: u32) -> RateLimit {
    RateLimit::new(
        NonZeroU32::new(burst).expect("non-zero"),
        Duration::from_secs(3600),
    )
}

fn limited(per_client: u32, per_account: u32) -> ApiConfig {
    ApiConfig {
        auth_limit_per_client: per_hour(per_client),
        auth_limit_per_account: per_hour(per_account),
        ..ApiConfig::default()
    }
}

fn assert_limited(res: Res) {
    let res = res.expect_error(429, "rate_limited", None);
    let wait: u64 = res
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After of whole seconds");
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
}

async fn login(api: &crate::common::Api, username: &str, password: &str) -> Res {
    api.post(
        "/api/auth/login/",
        None,
        json!({ "username": username, "password": password }),
    )
    .await
}

async fn signup(api: &crate::common::Api, username: &str) -> Res {
    api.post(
        "/api/auth/signup/",
        None,
        json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_past_its_limit_gets_429_with_retry_after() {
    let api = start_limited(limited(4, 100)).await;
    let ann = unique("ann");
    signup(&api, &ann).await.expect(202);
    login(&api, &ann, "wrong password").await.expect(401);
    login(&api, &unique("nobody"), "wrong password")
        .await
        .expect(401);
    login(&api, &ann, PASSWORD).await.expect(200);
    // The fifth attempt from 127.0.0.1, whatever the account and even with the right password.
    assert_limited(login(&api, &ann, PASSWORD).await);
    assert_limited(signup(&api, &unique("bob")).await);
    // Other endpoints are not limited.
    api.get("/api/health/", None).await.expect(200);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_is_limited_whoever_tries_it() {
    let api = start_limited(limited(100, 3)).await;
    let ann = unique("ann");
    signup(&api, &ann).await.expect(202);
    for _ in 0..3 {
        login(&api, &ann, "guessing").await.expect(401);
    }
    assert_limited(login(&api, &ann, PASSWORD).await);
    assert_limited(login(&api, &ann.to_uppercase(), "guessing").await);
    // Other accounts are untouched.
    let bob = unique("bob");
    signup(&api, &bob).await.expect(202);
    login(&api, &bob, PASSWORD).await.expect(200);
    // Sign-ups of one username are counted the same way.
    let eve = unique("eve");
    for _ in 0..3 {
        signup(&api, &eve).await;
    }
    assert_limited(signup(&api, &eve).await);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_cannot_fill_the_session_table() {
    let api = start_limited(ApiConfig {
        max_sessions: 4,
        max_sessions_per_user: 2,
        ..limited(1000, 1000)
    })
    .await;
    let ann = unique("ann");
    signup(&api, &ann).await.expect(202);
    let mut tokens = Vec::new();
    for _ in 0..10 {
        let res = login(&api, &ann, PASSWORD).await.expect(200);
        tokens.push(res.body["token"].as_str().expect("token").to_owned());
    }
    for old in &tokens[..8] {
        api.get("/api/auth/me/", Some(old)).await.expect(401);
    }
    for new in &tokens[8..] {
        api.get("/api/auth/me/", Some(new)).await.expect(200);
    }
    // The table still has room for everyone else.
    for name in ["bob", "cy"] {
        let user = unique(name);
        signup(&api, &user).await.expect(202);
        login(&api, &user, PASSWORD).await.expect(200);
    }
    api.stop().await;
}
