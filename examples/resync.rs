//! The manual full resync: rebuilds the graph from the primary store in batches, with a
//! progress bar (`indicatif`: rate and ETA per entity kind; plain lines on stderr when it is not
//! a terminal, as in CI logs), resumable after an interruption.
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

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

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
    let mut shown = Progress::new();
    let result = reconciler
        .resync(from, |p| {
            shown.update(p);
            last = Some(p.checkpoint.clone());
        })
        .await;
    shown.finish();
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

/// The resync's progress: a bar per entity kind on a terminal, a line per batch otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    kind: Option<EntityKind>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template(
                "{prefix:>9} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("#>."))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::new(0);
            bar.set_style(style);
            bar
        });
        Self { bar, kind: None }
    }

    fn update(&mut self, p: &ResyncProgress) {
        let Some(bar) = &self.bar else {
            eprintln!(
                "resync: {} {}/{} ({} of {} kinds done before it)",
                p.kind,
                p.done_in_kind,
                p.total_in_kind,
                p.kinds_done,
                EntityKind::ALL.len()
            );
            return;
        };
        if self.kind != Some(p.kind) {
            // A new kind: the previous bar stays on screen, finished.
            if self.kind.is_some() {
                bar.finish();
                let next = ProgressBar::new(0).with_style(bar.style());
                self.bar = Some(next);
            }
            self.kind = Some(p.kind);
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(p.kind.as_str());
            // The total is an estimate taken at the start; writes during the run can pass it.
            bar.set_length(p.total_in_kind.max(p.done_in_kind));
            bar.set_position(p.done_in_kind);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
