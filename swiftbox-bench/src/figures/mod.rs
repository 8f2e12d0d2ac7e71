//! The figures, each measured beside its baseline in the same run.

pub(crate) mod compare;
pub(crate) mod lag;
pub(crate) mod quality;
pub(crate) mod queries;
pub(crate) mod resync;
pub(crate) mod scale;
pub(crate) mod writes;

use swiftbox_core::{
    Currency, Money, NewCategory, NewOrder, NewOrderItem, NewProduct, NewUser, PrimaryStore,
    ProductId, Result, ShippingAddress, UserId,
};

/// A small catalog for the write figures: 5 categories, `products` products with stock for
/// any run, `users` users; created through `store` (a `Synced` store puts them in its graph).
pub(crate) async fn catalog(
    store: &dyn PrimaryStore,
    prefix: &str,
    users: usize,
    products: usize,
) -> Result<(Vec<UserId>, Vec<ProductId>)> {
    let mut cats = Vec::new();
    for i in 0..5 {
        cats.push(
            store
                .create_category(NewCategory::new(format!("{prefix} category {i}")))
                .await?
                .id,
        );
    }
    let mut product_ids = Vec::with_capacity(products);
    for i in 0..products {
        let p = store
            .create_product(NewProduct {
                name: format!("{prefix} product {i}"),
                description: "benchmark product".into(),
                price: Money::new(100 + (i as i64 % 50) * 25, Currency::USD),
                images: vec![],
                category: cats[i % cats.len()],
                stock: 1_000_000_000,
            })
            .await?;
        product_ids.push(p.id);
    }
    let mut user_ids = Vec::with_capacity(users);
    for i in 0..users {
        let u = store
            .create_user(NewUser::new(
                format!("{prefix}u{i}"),
                format!("{prefix}u{i}@example.com"),
            ))
            .await?;
        user_ids.push(u.id);
    }
    Ok((user_ids, product_ids))
}

/// Deterministic orders over a catalog: 1 to 3 distinct lines, popular products more often.
#[derive(Debug)]
pub(crate) struct OrderMaker {
    state: u64,
    users: Vec<UserId>,
    products: Vec<ProductId>,
}

impl OrderMaker {
    pub(crate) fn new(seed: u64, users: Vec<UserId>, products: Vec<ProductId>) -> Self {
        Self {
            state: seed,
            users,
            products,
        }
    }

    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next order and its number of lines.
    pub(crate) fn order(&mut self) -> (NewOrder, usize) {
        let pick = (self.next() % self.users.len() as u64) as usize;
        let user = self.users[pick];
        let lines = 1 + (self.next() % 3) as usize;
        let mut items: Vec<NewOrderItem> = Vec::with_capacity(lines);
        while items.len() < lines.min(self.products.len()) {
            // Square of a uniform draw: low indexes (popular products) come up more often.
            let r = (self.next() % 1000) as f64 / 1000.0;
            let idx = ((r * r) * self.products.len() as f64) as usize;
            let product = self.products[idx.min(self.products.len() - 1)];
            if items.iter().any(|i| i.product == product) {
                continue;
            }
            items.push(NewOrderItem {
                product,
                quantity: 1,
            });
        }
        let n = items.len();
        (
            NewOrder {
                user,
                items,
                shipping: ShippingAddress {
                    name: "Bench Buyer".into(),
                    line1: "1 Load Street".into(),
                    line2: None,
                    city: "Springfield".into(),
                    postal_code: "12345".into(),
                    country: "US".into(),
                },
            },
            n,
        )
    }
}

/// Products per `refresh_neighbours` call when a figure computes every neighbour list.
pub(crate) const LIST_BATCH: usize = 200;

/// Computes every marked neighbour list of `graph` (what a `NeighbourRefresher` does in the
/// background, drained): how many lists, and the seconds it took.
pub(crate) async fn neighbour_lists(
    graph: std::sync::Arc<dyn swiftbox_core::GraphStore>,
) -> swiftbox_core::Result<(u64, f64)> {
    use swiftbox_sync::neighbours::{NeighbourConfig, NeighbourRefresher};
    let t = std::time::Instant::now();
    let config = NeighbourConfig {
        batch: LIST_BATCH,
        ..NeighbourConfig::default()
    };
    let lists = NeighbourRefresher::new(graph, config)?.drain().await?;
    Ok((lists, t.elapsed().as_secs_f64()))
}
