//! SwiftBox on real servers: MongoDB (or a server speaking its wire protocol, such as FerretDB)
//! as the system of record and Neo4j as the graph, both from the environment.
//!
//! ```sh
//! export SWIFTBOX_MONGO_URI=mongodb://127.0.0.1:27017/ SWIFTBOX_MONGO_DB=shop
//! export SWIFTBOX_NEO4J_URI=bolt://127.0.0.1:7687 SWIFTBOX_NEO4J_USER=neo4j SWIFTBOX_NEO4J_PASSWORD=...
//! cargo run --example hybrid
//! ```
//!
//! `scripts/servers.sh start` prints those exports for servers it starts itself. The example
//! writes a tiny shop (names made unique per run, so it can run again on the same databases),
//! waits until the graph has the last order (read your writes), asks the graph for
//! recommendations and customers-also-bought, and prints the sync status of both sides.

use std::time::Duration;

use swiftbox_core::prelude::*;
use swiftbox_core::{
    Currency, EntityKind, EntityRef, Money, NewCategory, NewOrder, NewOrderItem, NewProduct,
    NewUser, ProductId, Result, ShippingAddress, UserId,
};
use swiftbox_mongo::MongoStore;
use swiftbox_neo4j::Neo4jGraph;
use swiftbox_sync::lease::LeaseConfig;
use swiftbox_sync::neighbours::NeighbourConfig;
use swiftbox_sync::{Synced, WorkerConfig};

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    // Both connects set up their schema (Mongo indexes, Neo4j constraints) when it is missing.
    let store = Synced::new(
        MongoStore::from_env().await?,
        Neo4jGraph::connect_from_env().await?,
    );
    // A worker catches up whatever an inline apply could not (graph down, slow, ...). Leased:
    // every process of the application may run one; they share the owed changes.
    let worker = store
        .leased_worker(WorkerConfig::default(), LeaseConfig::default())?
        .spawn();
    // Keeps the neighbour lists that recommendations read in step with purchases.
    let refresher = store
        .neighbour_refresher(NeighbourConfig::default())?
        .spawn();

    let run = format!("{:08x}", fastrand::u32(..));
    let user =
        |name: &str| NewUser::new(format!("{name}_{run}"), format!("{name}_{run}@example.com"));
    let ann = store.create_user(user("ann")).await?;
    let bob = store.create_user(user("bob")).await?;
    let books = store
        .create_category(NewCategory::new(format!("Books {run}")))
        .await?;
    let mut products = Vec::new();
    for (name, minor) in [("Dune", 1500), ("Hyperion", 1800), ("Solaris", 1200)] {
        let p = store
            .create_product(NewProduct {
                name: name.into(),
                description: String::new(),
                price: Money::new(minor, Currency::USD),
                images: vec![],
                category: books.id,
                stock: 100,
            })
            .await?;
        products.push(p.id);
    }

    // Bob buys all three, Ann the first one.
    order(&store, bob.id, &products).await?;
    let last = order(&store, ann.id, &products[..1]).await?;
    store
        .wait_synced(
            &EntityRef::new(EntityKind::Order, last.id),
            last.version,
            Duration::from_secs(10),
        )
        .await?;

    // The lists follow within a poll; a caller that must see them at once drains.
    store
        .neighbour_refresher(NeighbourConfig::default())?
        .drain()
        .await?;
    println!("Recommendations for {}:", ann.username);
    for r in store.graph().recommendations_for(&ann.id, 5).await? {
        println!("  {:<12} score {:.3}  ({:?})", r.name, r.score, r.reason);
    }
    println!("Customers who bought Dune also bought:");
    for p in store.graph().also_bought(&products[0], 5).await? {
        println!("  {:<12} score {:.3}", p.name, p.score);
    }

    worker.shutdown().await?;
    refresher.shutdown().await?;
    let status = store.reconciler().status().await?;
    println!(
        "\nSync: {} owed change(s), in sync: {}",
        status.primary.owed,
        status.is_in_sync()
    );
    Ok(())
}

async fn order<P: PrimaryBackend, G: GraphStore>(
    store: &Synced<P, G>,
    user: UserId,
    products: &[ProductId],
) -> Result<swiftbox_core::Order> {
    store
        .place_order(NewOrder {
            user,
            items: products
                .iter()
                .map(|&product| NewOrderItem {
                    product,
                    quantity: 1,
                })
                .collect(),
            shipping: ShippingAddress {
                name: "A. Reader".into(),
                line1: "1 Main St".into(),
                line2: None,
                city: "Springfield".into(),
                postal_code: "12345".into(),
                country: "US".into(),
            },
        })
        .await
}
