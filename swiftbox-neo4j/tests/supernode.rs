//! A product bought by every one of 2,000 users: the capped queries stay correct (equal to
//! `MemoryGraph` on the same data) and their time is printed, never asserted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use swiftbox_core::memory::MemoryGraph;
use swiftbox_core::{GraphChange, GraphStore};

const USERS: u128 = 2_000;
const PRODUCTS: u128 = 60;

fn supernode_shop() -> Vec<GraphChange> {
    let mut rng = Lcg::new(2024);
    let mut changes: Vec<GraphChange> = (0..CATEGORIES.len() as u128)
        .map(|c| up(category(c, 1)))
        .collect();
    changes.extend((0..PRODUCTS).map(|p| up(product(p, p as usize % CATEGORIES.len(), 1))));
    changes.extend((0..USERS).map(|u| up(user(u, 1))));
    let mut order_no = 0;
    for u in 0..USERS {
        // Everyone buys product 0 (the supernode) with one to three others; some buy twice.
        for _ in 0..(1 + rng.below(2)) {
            let mut items = vec![(0, 1)];
            for _ in 0..(1 + rng.below(3)) {
                let p = 1 + rng.below(PRODUCTS as u64 - 1) as u128;
                if !items.iter().any(|(q, _)| *q == p) {
                    items.push((p, 1 + rng.below(2) as i64));
                }
            }
            let at = now() - chrono::Duration::milliseconds(rng.below(10 * 86_400_000) as i64);
            changes.push(up(order(order_no, u, &items, at, 1)));
            order_no += 1;
        }
    }
    changes
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    format!(
        "median {:?}, max {:?} over {} calls",
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_bought_by_everyone_keeps_queries_bounded_and_correct() {
    let Some(g) = graph("supernode").await else {
        return;
    };
    let mem = MemoryGraph::new();
    let changes = supernode_shop();
    let started = Instant::now();
    let report = g.apply(&changes).await.expect("load");
    println!(
        "supernode: applied {} changes in one call in {:?}",
        changes.len(),
        started.elapsed()
    );
    assert_eq!(report.applied as usize, changes.len(), "{report:?}");
    mem.apply(&changes).await.expect("load memory");
    let counts = g.counts().await.unwrap();
    assert_eq!(counts, mem.counts().await.unwrap());

    let sample: Vec<_> = (0..USERS).step_by(97).map(user_id).collect();
    let (mut recs, mut similar, mut also) = (Vec::new(), Vec::new(), Vec::new());
    for u in &sample {
        let t = Instant::now();
        let a = g.recommendations_for(u, 10).await.unwrap();
        recs.push(t.elapsed());
        assert_eq!(a, mem.recommendations_for(u, 10).await.unwrap(), "recs {u}");
        assert_eq!(a.len(), 10, "{u}: {a:?}");

        let t = Instant::now();
        let a = g.similar_users(u, 10).await.unwrap();
        similar.push(t.elapsed());
        assert_eq!(a, mem.similar_users(u, 10).await.unwrap(), "similar {u}");
        assert!(!a.is_empty());
    }
    for p in (0..PRODUCTS).step_by(6).map(product_id) {
        let t = Instant::now();
        let a = g.also_bought(&p, 10).await.unwrap();
        also.push(t.elapsed());
        assert_eq!(a, mem.also_bought(&p, 10).await.unwrap(), "also_bought {p}");
    }
    // The supernode's buyers are capped: at most buyers_per_product (100) reach each product.
    let top = g.also_bought(&product_id(0), 1).await.unwrap();
    assert!(top[0].score <= 100.0, "{top:?}");

    println!("supernode: recommendations_for {}", summary(&mut recs));
    println!("supernode: similar_users {}", summary(&mut similar));
    println!("supernode: also_bought {}", summary(&mut also));
    g.wipe().await.expect("wipe");
}
