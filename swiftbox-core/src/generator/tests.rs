use std::collections::{BTreeMap, HashSet};

use super::*;
use crate::memory::MemoryStore;
use crate::prelude::*;
use crate::{EntityKind, GraphRecord, ProductQuery};

#[test]
fn same_seed_same_shop_other_seed_other_shop() {
    let a = DemoShop::generate(&ShopSpec::tiny());
    let b = DemoShop::generate(&ShopSpec::tiny());
    assert_eq!(a, b);
    assert_eq!(a.graph_changes(), b.graph_changes());
    let c = DemoShop::generate(&ShopSpec::tiny().with_seed(7));
    assert_ne!(a.ids(), c.ids());
    assert_ne!(a.orders(), c.orders());
}

/// FNV-1a over the generated raw data: changes whenever any generated value does.
fn fingerprint(shop: &DemoShop) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (id, name) in shop.categories() {
        eat(id.to_string().len() as u64 ^ name.len() as u64);
    }
    for p in shop.products() {
        eat(p.category.into());
        eat(p.price.minor as u64);
        eat(p.initial_stock as u64);
        eat(p.name.len() as u64);
    }
    for o in shop.orders() {
        eat(o.user.into());
        eat(o.placed_at.timestamp_millis() as u64);
        for it in shop.items_of(o) {
            eat(it.product.into());
            eat(it.quantity.into());
        }
    }
    for v in shop.views() {
        eat(u64::from(v.user) << 32 | u64::from(v.product));
        eat(v.at.timestamp_millis() as u64);
    }
    h
}

#[test]
fn output_is_pinned() {
    // Guards against accidental changes to the generator (or a platform difference): if this
    // fails after a deliberate change, update the constants.
    let shop = DemoShop::generate(&ShopSpec::tiny());
    assert_eq!(shop.users()[0].username, "ann1");
    assert_eq!(shop.categories()[0].1, "Books");
    assert_eq!(
        shop.products()[0].id.to_string(),
        "617eb6ce-c11d-4485-be8d-1a6ca4c5d733"
    );
    assert_eq!(fingerprint(&shop), 10_030_894_745_776_469_530);
}

#[test]
fn counts_match_the_spec_and_data_is_valid() {
    let spec = ShopSpec::small();
    let shop = DemoShop::generate(&spec);
    assert_eq!(shop.users().len(), spec.users);
    assert_eq!(shop.categories().len(), spec.categories);
    assert_eq!(shop.products().len(), spec.products);
    assert_eq!(shop.orders().len(), spec.orders);
    assert_eq!(shop.views().len(), spec.views);
    let purchases = shop.purchases();
    assert!(
        (18_000..=22_000).contains(&purchases),
        "about 20k purchases, got {purchases}"
    );

    let names: HashSet<_> = shop.categories().iter().map(|c| &c.1).collect();
    assert_eq!(names.len(), spec.categories, "category names unique");
    let usernames: HashSet<_> = shop.users().iter().map(|u| &u.username).collect();
    assert_eq!(usernames.len(), spec.users, "usernames unique");
    let ids: HashSet<_> = shop.products().iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), spec.products, "product ids unique");

    let mut demand = vec![0i64; spec.products];
    let start = spec.now - Duration::days(i64::from(spec.days));
    let buyers = spec.users - spec.users / 10;
    for (i, o) in shop.orders().iter().enumerate() {
        let items = shop.items_of(o);
        assert!((1..=spec.max_items_per_order).contains(&items.len()));
        let distinct: HashSet<_> = items.iter().map(|it| it.product).collect();
        assert_eq!(distinct.len(), items.len(), "no product twice in an order");
        assert!(start <= o.placed_at && o.placed_at <= spec.now);
        assert!((o.user as usize) < buyers, "browsing users never order");
        if i > 0 {
            assert!(
                shop.orders()[i - 1].placed_at <= o.placed_at,
                "oldest first"
            );
        }
        for it in items {
            demand[it.product as usize] += i64::from(it.quantity);
        }
    }
    for (p, d) in shop.products().iter().zip(&demand) {
        assert!(p.initial_stock >= *d, "stock covers every order");
    }
    for v in shop.views() {
        assert!(start <= v.at && v.at <= spec.now);
    }
    // Every generated record passes the domain's validation.
    for i in 0..spec.products {
        let p = shop.product(i).unwrap();
        let new = NewProduct {
            name: p.name,
            description: p.description,
            price: p.price,
            images: p.images,
            category: p.category,
            stock: p.stock,
        };
        new.validate().unwrap();
    }
}

#[test]
fn popularity_follows_a_power_law_and_tastes_matter() {
    let shop = DemoShop::generate(&ShopSpec::small());
    let mut per_product = vec![0u64; shop.products().len()];
    for o in shop.orders() {
        for it in shop.items_of(o) {
            per_product[it.product as usize] += 1;
        }
    }
    let total: u64 = per_product.iter().sum();
    let mut sorted = per_product.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let top1pct: u64 = sorted[..sorted.len() / 100].iter().sum();
    // Uniform popularity would give the top 1% of products 1% of purchases.
    assert!(
        top1pct * 100 / total >= 15,
        "top 1% of products: {top1pct} of {total} purchases"
    );
    let median = sorted[sorted.len() / 2];
    assert!(
        sorted[0] >= 20 * median.max(1),
        "a supernode: {} vs median {median}",
        sorted[0]
    );

    // Users buy mostly from the categories they like.
    let mut in_taste = 0u64;
    for o in shop.orders() {
        let tastes = &shop.users()[o.user as usize].tastes;
        for it in shop.items_of(o) {
            if tastes.contains(&shop.products()[it.product as usize].category) {
                in_taste += 1;
            }
        }
    }
    assert!(
        in_taste * 100 / total >= 70,
        "{in_taste} of {total} in the buyer's tastes"
    );
}

#[test]
fn graph_changes_are_every_entity_as_changes_derives_it() {
    let shop = DemoShop::generate(&ShopSpec::tiny());
    let changes = shop.graph_changes();
    let mut per_kind: BTreeMap<EntityKind, usize> = BTreeMap::new();
    for c in &changes {
        let GraphChange::Upsert(r) = c else {
            panic!("only upserts expected, got {c:?}");
        };
        assert_eq!(r.version(), 1);
        *per_kind.entry(r.entity().kind).or_default() += 1;
        if let GraphRecord::Order(o) = r {
            assert!(o.items.windows(2).all(|w| w[0].product < w[1].product));
        }
    }
    assert_eq!(per_kind[&EntityKind::Category], 5);
    assert_eq!(per_kind[&EntityKind::User], 30);
    assert_eq!(per_kind[&EntityKind::Product], 40);
    assert_eq!(per_kind[&EntityKind::Order], 150);
    let order = shop.order(0).unwrap();
    assert_eq!(changes[75], changes::order_change(&order, true, |_| true));
}

#[test]
fn the_large_preset_is_compact() {
    // Not generated here (it takes a while unoptimised); its shape is checked instead.
    let spec = ShopSpec::large();
    assert_eq!(
        (spec.users, spec.products, spec.orders),
        (100_000, 20_000, 500_000)
    );
    assert!(std::mem::size_of::<GenItem>() <= 8);
    assert!(std::mem::size_of::<GenOrder>() <= 48);
}

#[tokio::test]
async fn loads_through_a_store() {
    let shop = DemoShop::generate(&ShopSpec::tiny());
    let store = MemoryStore::new();
    let summary = shop.load_into(&store).await.unwrap();
    assert_eq!(summary.ids.orders.len(), 150);
    assert_eq!(summary.purchases as usize, shop.purchases());
    let stats = store.sync_stats().await.unwrap();
    assert_eq!(stats.entities[&EntityKind::User], 30);
    assert_eq!(stats.entities[&EntityKind::Category], 5);
    assert_eq!(stats.entities[&EntityKind::Product], 40);
    assert_eq!(stats.entities[&EntityKind::Order], 150);
    // Order i went to the user the generator chose, with the same lines.
    for (i, o) in shop.orders().iter().enumerate().step_by(13) {
        let stored = store.get_order(&summary.ids.orders[i]).await.unwrap();
        assert_eq!(stored.user, summary.ids.users[o.user as usize]);
        let lines: Vec<_> = shop
            .items_of(o)
            .iter()
            .map(|it| {
                (
                    summary.ids.products[it.product as usize],
                    i64::from(it.quantity),
                )
            })
            .collect();
        let stored_lines: Vec<_> = stored
            .items
            .iter()
            .map(|it| (it.product, it.quantity))
            .collect();
        assert_eq!(stored_lines, lines);
    }
    // Stock left = generated initial stock - demand, never negative.
    let page = store
        .list_products(ProductQuery {
            category: None,
            page: crate::PageRequest::first(100),
        })
        .await
        .unwrap();
    assert!(page.items.iter().all(|p| p.stock >= 5));
}
