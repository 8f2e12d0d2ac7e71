//! The manual full resync: rebuilds the graph from the primary store in batches, with a
//! progress bar, resumable after an interruption.
//!
//! ```text
//! cargo run --example resync                      # in memory: seeds a demo shop, graph empty
//! SWIFTBOX_MONGO_URI=... SWIFTBOX_NEO4J_URI=... cargo run --example resync
//! cargo run --example resync -- --from product:0190c1f2-...   # resume where a run stopped
//! ```
//!
//! On an error the last checkpoint is printed with the `--from` argument that resumes there.

#[path = "common/stores.rs"]
mod stores;

use std::io::Write;
use std::time::Instant;

use swiftbox_core::generator::{DemoShop, ShopSpec};
use swiftbox_core::{EntityKind, Error, Result};
use swiftbox_sync::{ResyncCheckpoint, ResyncProgress, SyncConfig};

#[tokio::main]
async fn main() {
    stores::init_tracing();
    if let Err(e) = run().await {
        eprintln!("resync failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let from = parse_from(std::env::args().skip(1))?;
    let s = stores::open().await?;
    if s.in_memory {
        // A shop written in deferred mode: the primary store has it all, the graph nothing.
        let shop = DemoShop::generate(&ShopSpec::small());
        let store = s.synced(|g| g, SyncConfig::deferred());
        let loaded = shop.load_into(&store).await?;
        println!(
            "in memory: seeded {} users, {} products, {} orders; the graph is empty",
            loaded.ids.users.len(),
            loaded.ids.products.len(),
            loaded.ids.orders.len()
        );
    }
    let reconciler = s.reconciler();
    println!("before:\n{}\n", reconciler.status().await?);

    let started = Instant::now();
    let mut last: Option<ResyncCheckpoint> = None;
    let result = reconciler
        .resync(from, |p| {
            draw(p);
            last = Some(p.checkpoint.clone());
        })
        .await;
    println!();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(c) = last {
                eprintln!(
                    "interrupted; resume with: cargo run --example resync -- --from {}:{}",
                    c.kind,
                    c.after.unwrap_or_default()
                );
            }
            return Err(e);
        }
    };
    println!(
        "resync done in {:.1} s: {} records written, {} extra removed, {} ignored as older, {} deferred ({} graph calls)",
        started.elapsed().as_secs_f64(),
        report.upserted,
        report.deleted,
        report.ignored,
        report.deferred.len(),
        report.batches
    );
    println!("\nafter:\n{}", reconciler.status().await?);
    let drift = reconciler.check().await?;
    println!(
        "\ncheck: {}",
        if drift.is_clean() {
            "no drift".to_string()
        } else {
            drift.to_string()
        }
    );
    Ok(())
}

/// `--from kind:id` (or `--from kind:` for the start of a kind).
fn parse_from(mut args: impl Iterator<Item = String>) -> Result<Option<ResyncCheckpoint>> {
    let Some(flag) = args.next() else {
        return Ok(None);
    };
    let value = match (flag.as_str(), args.next()) {
        ("--from", Some(v)) => v,
        _ => {
            return Err(Error::invalid(
                "arguments",
                "usage: resync [--from kind:id]",
            ))
        }
    };
    let (kind, after) = value
        .split_once(':')
        .ok_or_else(|| Error::invalid("--from", "expected kind:id"))?;
    let kind = EntityKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| {
            Error::invalid(
                "--from",
                "unknown kind (user, category, product, order, review)",
            )
        })?;
    let after = (!after.is_empty()).then(|| after.to_string());
    Ok(Some(ResyncCheckpoint { kind, after }))
}

/// `[#########...........]  43% product   1200/2000`
fn draw(p: &ResyncProgress) {
    const WIDTH: usize = 40;
    let kinds = EntityKind::ALL.len() as f64;
    let within = if p.total_in_kind == 0 {
        1.0
    } else {
        (p.done_in_kind as f64 / p.total_in_kind as f64).min(1.0)
    };
    let overall = ((p.kinds_done as f64 + within) / kinds).min(1.0);
    let filled = (overall * WIDTH as f64).round() as usize;
    let mut out = std::io::stdout().lock();
    // Progress output is best effort: a closed stdout must not stop the resync.
    let _ = write!(
        out,
        "\r[{}{}] {:>3}% {:<9} {:>8}/{:<8}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        (overall * 100.0).round() as u32,
        p.kind.as_str(),
        p.done_in_kind,
        p.total_in_kind
    );
    let _ = out.flush();
}
