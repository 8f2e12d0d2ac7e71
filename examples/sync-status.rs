//! The sync status check: counts on both sides, owed and set-aside changes, the oldest owed
//! change's age, the last error, then the drift entity by entity. `--repair` also fixes the
//! drift found and checks again.
//!
//! ```text
//! cargo run --example sync-status                 # in memory: a demo shop with some drift
//! SWIFTBOX_MONGO_URI=... SWIFTBOX_NEO4J_URI=... cargo run --example sync-status [-- --repair]
//! ```
//!
//! Exits 0 when in sync, 2 when drift or owed changes remain, 1 on error.

#[path = "common/stores.rs"]
mod stores;

use swiftbox_core::generator::{DemoShop, ShopSpec};
use swiftbox_core::prelude::*;
use swiftbox_core::{NewUser, ProductPatch, Result};
use swiftbox_sync::testing::FaultyGraph;
use swiftbox_sync::SyncConfig;

#[tokio::main]
async fn main() {
    stores::init_tracing();
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(e) => {
            eprintln!("sync-status failed: {e}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<bool> {
    let repair = std::env::args().skip(1).any(|a| a == "--repair");
    let s = stores::open().await?;
    if s.in_memory {
        seed_with_drift(&s).await?;
    }
    let reconciler = s.reconciler();
    println!("status:\n{}\n", reconciler.status().await?);
    let drift = reconciler.check().await?;
    println!("drift:\n{drift}");
    if drift.is_clean() || !repair {
        let status = reconciler.status().await?;
        return Ok(drift.is_clean() && status.is_in_sync());
    }
    let repaired = reconciler.repair(&drift).await?;
    println!(
        "\nrepair: {} written, {} removed, {} ignored as older, {} deferred",
        repaired.upserted,
        repaired.deleted,
        repaired.ignored,
        repaired.deferred.len()
    );
    let after = reconciler.check().await?;
    println!("drift after repair:\n{after}");
    Ok(after.is_clean())
}

/// A demo shop synced inline, then a few writes while the graph is down: those changes are
/// owed (no worker runs here), so status and check have something to show.
async fn seed_with_drift(s: &stores::Stores) -> Result<()> {
    let store = s.synced(FaultyGraph::new, SyncConfig::default());
    let faults = store.graph().faults();
    let shop = DemoShop::generate(&ShopSpec::tiny());
    let loaded = shop.load_into(&store).await?;
    faults.set_down(true);
    store
        .create_user(NewUser::new("late-ann", "late-ann@example.com"))
        .await?;
    if let Some(p) = loaded.ids.products.first() {
        let patch = ProductPatch {
            name: Some("Renamed while the graph was down".into()),
            ..ProductPatch::default()
        };
        store.update_product(p, patch).await?;
    }
    if let Some(u) = loaded.ids.users.last() {
        store.delete_user(u).await?;
    }
    faults.set_down(false);
    println!("in memory: seeded a demo shop, then wrote 3 changes while the graph was down\n");
    Ok(())
}
