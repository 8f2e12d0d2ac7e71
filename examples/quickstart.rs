//! SwiftBox end to end, in memory, with no servers: builds a small demo shop through
//! `Synced<MemoryStore, MemoryGraph>`, asks the graph every question it exists for, then takes
//! the graph down, keeps writing, brings it back and shows the worker catching up with no drift.
//!
//! Run: `cargo run --example quickstart`

use std::collections::HashMap;
use std::time::Duration;

use swiftbox_core::generator::{DemoShop, ShopSpec};
use swiftbox_core::memory::{MemoryGraph, MemoryStore};
use swiftbox_core::prelude::*;
use swiftbox_core::{
    GraphStore, NewOrder, NewOrderItem, NewUser, PageRequest, PopularQuery, PopularityMetric,
    PrimaryStore, ProductId, Reason, Result, ShippingAddress, TrendingQuery, UserId,
};
use swiftbox_sync::neighbours::NeighbourConfig;
use swiftbox_sync::testing::FaultyGraph;
use swiftbox_sync::{Synced, WorkerConfig};

#[tokio::main]
async fn main() -> Result<()> {
    // 1. A shop, written only through the synced store: MemoryStore is the system of record,
    //    the graph follows every write inline.
    let shop = DemoShop::generate(&ShopSpec::tiny());
    let graph = FaultyGraph::new(MemoryGraph::new());
    let faults = graph.faults().clone();
    let store = Synced::new(MemoryStore::new(), graph);
    let loaded = shop.load_into(&store).await?;
    let views = shop.record_views(store.graph(), &loaded.ids).await?;
    println!(
        "Loaded a demo shop: {} users, {} categories, {} products, {} orders ({} purchases), {} views\n",
        loaded.ids.users.len(),
        loaded.ids.categories.len(),
        loaded.ids.products.len(),
        loaded.ids.orders.len(),
        loaded.purchases,
        views
    );

    // Recommendations read each product's list of similar products; a background
    // `NeighbourRefresher` keeps those lists in step with purchases. Here: once, after the load.
    let lists = store
        .neighbour_refresher(NeighbourConfig::default())?
        .drain()
        .await?;
    println!("Computed the neighbour lists of {lists} products\n");

    let names = product_names(&store).await?;
    let name = |p: &ProductId| names.get(p).cloned().unwrap_or_else(|| p.to_string());
    let graph = store.graph();

    // 2. The questions the graph answers.
    let buyer = busiest_buyer(&store, &loaded.ids.users).await?;
    let buyer_name = store.get_user(&buyer).await?.username;
    println!("Recommendations for {buyer_name}:");
    for r in graph.recommendations_for(&buyer, 5).await? {
        let why = match &r.reason {
            Reason::CoPurchased { because } => format!(
                "score {:.2}: bought together with your {}",
                r.score,
                because.iter().map(&name).collect::<Vec<_>>().join(", ")
            ),
            Reason::PopularInCategory { category } => format!("popular in {category}"),
            Reason::Popular => "popular right now".to_string(),
        };
        println!("  {:<32} {why}", r.name);
    }

    let newcomer = store
        .create_user(NewUser::new("newcomer", "newcomer@example.com"))
        .await?;
    println!("\nRecommendations for a brand-new user (cold start):");
    for r in graph.recommendations_for(&newcomer.id, 3).await? {
        println!("  {:<32} {:?}", r.name, r.reason);
    }

    let popular = graph
        .popular(&PopularQuery {
            category: None,
            metric: PopularityMetric::Units,
            limit: 5,
        })
        .await?;
    println!("\nPopular products (units sold):");
    for p in &popular {
        println!("  {:<32} {:>5} units", p.name, p.score);
    }
    if let Some(top) = popular.first() {
        println!("\nCustomers who bought {} also bought:", top.name);
        for p in graph.also_bought(&top.product, 5).await? {
            println!("  {:<32} {:>3} buyers", p.name, p.score);
        }
        let category = store.get_product(&top.product).await?.category_name;
        println!("\nPopular in {category} (buyers):");
        let q = PopularQuery {
            category: Some(category),
            metric: PopularityMetric::Buyers,
            limit: 3,
        };
        for p in graph.popular(&q).await? {
            println!("  {:<32} {:>3} buyers", p.name, p.score);
        }
    }

    println!("\nTrending (24 h half-life, last 7 days):");
    for p in graph.trending(&TrendingQuery::new(5)).await? {
        println!("  {:<32} score {:.2}", p.name, p.score);
    }

    println!("\nPurchase history of {buyer_name} (newest first):");
    for h in graph.purchase_history(&buyer, 5).await? {
        println!(
            "  {}  {:<32} x{} at {}",
            h.purchased_at.format("%Y-%m-%d %H:%M:%S"),
            h.product_name,
            h.quantity,
            h.unit_price
        );
    }

    println!("\nUsers similar to {buyer_name}:");
    for u in graph.similar_users(&buyer, 3).await? {
        println!(
            "  {:<20} Jaccard {:.3} ({} products in common)",
            u.username, u.similarity, u.shared
        );
    }

    let reconciler = store.reconciler();
    println!("\nSync status:\n{}", reconciler.status().await?);

    // 3. The graph goes down; writes keep succeeding and nothing is lost.
    println!("\nTaking the graph down and placing 3 orders...");
    faults.set_down(true);
    let product = loaded.ids.products[0];
    for _ in 0..3 {
        store
            .place_order(NewOrder {
                user: newcomer.id,
                items: vec![NewOrderItem {
                    product,
                    quantity: 1,
                }],
                shipping: ShippingAddress {
                    name: "Newcomer".into(),
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Springfield".into(),
                    postal_code: "12345".into(),
                    country: "US".into(),
                },
            })
            .await?;
    }
    let status = reconciler.status().await?;
    println!(
        "All 3 orders committed; the graph owes {} changes.",
        status.primary.owed
    );

    println!("Graph back up; the sync worker catches up...");
    faults.set_down(false);
    // A maintenance-style drain: no grace period, since nothing is racing it here.
    let worker = store.worker(WorkerConfig {
        grace: Duration::ZERO,
        ..WorkerConfig::default()
    })?;
    let round = worker.drain().await?;
    println!(
        "Worker: {} changes fetched, {} applied, {} acknowledged in {} rounds",
        round.fetched, round.applied, round.acked, round.rounds
    );
    let drift = reconciler.check().await?;
    println!(
        "Owed now: {}, drift found by check(): {} (missing {}, extra {}, stale {})",
        reconciler.status().await?.primary.owed,
        drift.drift_total,
        drift.missing.len(),
        drift.extra.len(),
        drift.stale.len()
    );
    println!(
        "{}'s purchase history in the graph: {} purchases",
        newcomer.username,
        graph.purchase_history(&newcomer.id, 10).await?.len()
    );
    Ok(())
}

/// Every product's name, paging through the primary store.
async fn product_names(store: &impl PrimaryStore) -> Result<HashMap<ProductId, String>> {
    let mut names = HashMap::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = store
            .list_products(swiftbox_core::ProductQuery {
                category: None,
                page: page.clone(),
            })
            .await?;
        names.extend(got.items.into_iter().map(|p| (p.id, p.name)));
        match got.next {
            Some(next) => page = PageRequest::after(next, PageRequest::MAX_LIMIT),
            None => return Ok(names),
        }
    }
}

/// The user with the most orders: a good subject for recommendations.
async fn busiest_buyer(store: &impl PrimaryStore, users: &[UserId]) -> Result<UserId> {
    let mut best = (0, users[0]);
    for u in users {
        let n = store
            .list_user_orders(u, PageRequest::first(100))
            .await?
            .items
            .len();
        if n > best.0 {
            best = (n, *u);
        }
    }
    Ok(best.1)
}
