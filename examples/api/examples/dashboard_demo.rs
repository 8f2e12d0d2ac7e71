//! The service on in-memory stores whose graph can be made to fail, with a demo shop, for
//! looking at the operator's dashboard (`/admin/`) while its numbers move, and for the
//! dashboard's browser test (`scripts/browser.sh`).
//!
//! ```text
//! SWIFTBOX_ADMIN_USERNAME=admin SWIFTBOX_ADMIN_PASSWORD='pick one' \
//!   cargo run -p swiftbox-api-example --example dashboard_demo
//! ```
//!
//! It loads a small generated shop (30 customers, 40 products, 150 orders, so the
//! recommendation explorer has something to show), runs a sync worker tuned to react within a
//! second (a change that the graph refuses is set aside after one failed retry), and reads
//! commands from standard input, one a line, each answered `ok <command>` (or `error: ...`) on
//! standard output:
//!
//! | command | effect |
//! |---|---|
//! | `down` / `up` | the graph fails every call (unavailable) / answers again |
//! | `poison <kind> <id>` | the graph refuses every change of that entity (it gets set aside) |
//! | `cure <kind> <id>` | it accepts them again |
//!
//! It prints `swiftbox api listening on http://<addr>` once it serves, and stops on Ctrl-C or
//! when its standard input closes. `SWIFTBOX_ADDR` picks the address (default `127.0.0.1:0`, a
//! free port); without `SWIFTBOX_ADMIN_PASSWORD` a random one is printed. Nothing but loopback
//! traffic.

use std::sync::Arc;
use std::time::Duration;

use swiftbox_api_example::run::{seed_admin, StartError};
use swiftbox_api_example::{spawn, ApiConfig, AppState};
use swiftbox_core::generator::{DemoShop, ShopSpec};
use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::{EntityKind, EntityRef, GraphStore};
use swiftbox_sync::neighbours::NeighbourConfig;
use swiftbox_sync::testing::{Faults, FaultyGraph};
use swiftbox_sync::{Backoff, Synced, WorkerConfig};
use tokio::io::AsyncBufReadExt;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Carries out one command line; what to answer.
fn command(faults: &Faults, line: &str) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let entity = |kind: &str, id: &str| -> Result<EntityRef, String> {
        let kind = EntityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| format!("unknown kind {kind:?}"))?;
        Ok(EntityRef::new(kind, id))
    };
    match words.as_slice() {
        ["down"] => faults.set_down(true),
        ["up"] => faults.set_down(false),
        ["poison", kind, id] => faults.poison(entity(kind, id)?),
        ["cure", kind, id] => faults.cure(&entity(kind, id)?),
        _ => return Err("commands: down, up, poison <kind> <id>, cure <kind> <id>".into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), StartError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let addr = env("SWIFTBOX_ADDR")
        .unwrap_or_else(|| "127.0.0.1:0".to_owned())
        .parse()?;
    let username = env("SWIFTBOX_ADMIN_USERNAME").unwrap_or_else(|| "admin".to_owned());
    let password = match env("SWIFTBOX_ADMIN_PASSWORD") {
        Some(p) => p,
        None => {
            let mut raw = [0u8; 12];
            getrandom::fill(&mut raw).map_err(|e| format!("random source failed: {e}"))?;
            let p: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            println!("administrator {username:?}, password {p:?}");
            p
        }
    };

    let synced = Synced::new(MemoryStore::new(), FaultyGraph::new(MemoryGraph::new()));
    let faults = Arc::clone(synced.graph().faults());
    seed_admin(&synced, &username, "admin@example.invalid", &password).await?;
    let shop = DemoShop::generate(&ShopSpec::tiny().ending_at(swiftbox_core::time::now()));
    shop.load_into(&synced).await?;
    // Neighbour lists now, so recommendations show from the first request.
    while synced.graph().refresh_neighbours(1000).await?.marked > 0 {}

    let synced = Arc::new(synced);
    let quick = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    let worker = synced
        .worker(WorkerConfig {
            grace: Duration::from_millis(300),
            set_aside_after: 1,
            idle_poll: Duration::from_millis(200),
            backoff: quick,
            ..WorkerConfig::default()
        })?
        .spawn();
    let refresher = synced
        .neighbour_refresher(NeighbourConfig {
            idle_poll: Duration::from_millis(500),
            backoff: quick,
            ..NeighbourConfig::default()
        })?
        .spawn();
    let server = spawn(AppState::with_config(synced, ApiConfig::default()), addr).await?;
    println!("swiftbox api listening on http://{}", server.addr());

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match command(&faults, &line) {
                    Ok(()) => println!("ok {}", line.trim()),
                    Err(e) => println!("error: {e}"),
                },
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.stop().await?;
    worker.shutdown().await?;
    refresher.shutdown().await?;
    Ok(())
}
