//! Load check (not a test): a bounded loop of concurrent `GET /api/recommendations/` requests
//! against the API on a loopback port, reporting requests per second and latency percentiles.
//!
//! ```text
//! cargo run --release -p swiftbox-api-example --example load
//! LOAD_REQUESTS=20000 LOAD_CONCURRENCY=32 cargo run --release -p swiftbox-api-example --example load
//! ```
//!
//! It starts the service in-process on `127.0.0.1:0` over fresh in-memory stores, loads a shop
//! (`LOAD_USERS` customers, default 50, each with a few orders over `LOAD_PRODUCTS` products,
//! default 200), logs every customer in over HTTP, then sends `LOAD_REQUESTS` requests (default
//! 5000) from `LOAD_CONCURRENCY` concurrent clients (default 16), round-robin over the
//! customers' tokens. It stops after `LOAD_MAX_SECONDS` (default 120) whatever is left. Only
//! loopback traffic; nothing else is contacted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use swiftbox_api_example::{spawn, AppState};
use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::{
    Currency, Money, NewCategory, NewOrder, NewOrderItem, NewProduct, NewUser, PrimaryStore,
    ShippingAddress,
};
use swiftbox_sync::Synced;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn setting(name: &str, default: usize) -> Result<usize, BoxError> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name} must be a positive whole number").into()),
        Err(_) => Ok(default),
    }
}

/// A small deterministic generator, so every run loads the same shop.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

const PASSWORD: &str = "load-check password";

async fn load_shop(
    store: &dyn PrimaryStore,
    users: usize,
    products: usize,
) -> Result<Vec<String>, BoxError> {
    let mut categories = Vec::new();
    for i in 0..5 {
        categories.push(
            store
                .create_category(NewCategory::new(format!("Category {i}")))
                .await?
                .id,
        );
    }
    let mut product_ids = Vec::with_capacity(products);
    for i in 0..products {
        let p = store
            .create_product(NewProduct {
                name: format!("Product {i}"),
                description: String::new(),
                price: Money::new(100 + i as i64, Currency::EUR),
                images: vec![],
                category: categories[i % categories.len()],
                stock: 1_000_000,
            })
            .await?;
        product_ids.push(p.id);
    }
    let mut rng = Lcg(42);
    let mut names = Vec::with_capacity(users);
    for u in 0..users {
        let name = format!("customer{u}");
        let user = store
            .create_user(NewUser::new(&name, format!("{name}@example.com")).with_password(PASSWORD))
            .await?;
        for _ in 0..5 {
            let mut items: Vec<NewOrderItem> = Vec::new();
            for _ in 0..3 {
                let product = product_ids[rng.next(product_ids.len())];
                if items.iter().all(|i| i.product != product) {
                    items.push(NewOrderItem {
                        product,
                        quantity: 1,
                    });
                }
            }
            store
                .place_order(NewOrder {
                    user: user.id,
                    items,
                    shipping: ShippingAddress {
                        name: name.clone(),
                        line1: "1 Main St".into(),
                        line2: None,
                        city: "Springfield".into(),
                        postal_code: "12345".into(),
                        country: "US".into(),
                    },
                })
                .await?;
        }
        names.push(name);
    }
    Ok(names)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let requests = setting("LOAD_REQUESTS", 5000)?;
    let concurrency = setting("LOAD_CONCURRENCY", 16)?;
    let users = setting("LOAD_USERS", 50)?;
    let products = setting("LOAD_PRODUCTS", 200)?;
    let max_time = Duration::from_secs(setting("LOAD_MAX_SECONDS", 120)? as u64);

    let synced = Synced::new(MemoryStore::new(), MemoryGraph::new());
    let t = Instant::now();
    let names = load_shop(&synced, users, products).await?;
    println!(
        "loaded {users} customers, {products} products, {} orders in {:.1} s",
        users * 5,
        t.elapsed().as_secs_f64()
    );
    let server = spawn(AppState::new(synced), "127.0.0.1:0".parse()?).await?;
    let base = format!("http://{}", server.addr());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;

    let mut tokens = Vec::with_capacity(names.len());
    for name in &names {
        let res: serde_json::Value = client
            .post(format!("{base}/api/auth/login/"))
            .json(&serde_json::json!({ "username": name, "password": PASSWORD }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = res["token"].as_str().ok_or("log-in gave no token")?;
        tokens.push(token.to_owned());
    }
    let tokens = Arc::new(tokens);
    let url = Arc::new(format!("{base}/api/recommendations/?limit=10"));

    println!(
        "GET /api/recommendations/: {requests} requests, {concurrency} concurrent clients, {} tokens",
        tokens.len()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + max_time;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, next, tokens, url) = (
            client.clone(),
            Arc::clone(&next),
            Arc::clone(&tokens),
            Arc::clone(&url),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() >= deadline {
                    break;
                }
                let token = &tokens[i % tokens.len()];
                let t = Instant::now();
                let ok = match client.get(url.as_str()).bearer_auth(token).send().await {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let done = latencies.len();
    println!(
        "{done} requests in {:.2} s: {:.0} requests/s, {errors} errors",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default())
    );
    server.stop().await?;
    if errors > 0 {
        return Err(format!("{errors} requests failed").into());
    }
    Ok(())
}
