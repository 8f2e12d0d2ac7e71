//! [`Workload`]: deterministic mixed writes through any primary store.

use std::collections::HashSet;

use swiftbox_core::{
    Currency, Money, NewCategory, NewOrder, NewOrderItem, NewProduct, NewReview, NewUser, OrderId,
    OrderStatus, OrderStatusPatch, PrimaryStore, ProductId, ProductPatch, ReviewId, ReviewPatch,
    ShippingAddress, UserId, UserPatch,
};

use super::must;

/// A tiny deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// What a [`Workload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadCounts {
    /// Writes by operation name.
    pub by_op: std::collections::BTreeMap<&'static str, u64>,
}

/// Deterministic mixed writes (users, categories, products, updates, orders, reviews, deletes)
/// through any [`PrimaryStore`]; every write is expected to succeed. Names carry a random
/// prefix so workloads never collide on unique fields.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    prefix: String,
    seq: u64,
    pub(super) categories: Vec<swiftbox_core::CategoryId>,
    users: Vec<UserId>,
    products: Vec<ProductId>,
    orders: Vec<OrderId>,
    reviews: Vec<ReviewId>,
    reviewed: HashSet<(UserId, ProductId)>,
    counts: WorkloadCounts,
}

pub(super) fn shipping() -> ShippingAddress {
    ShippingAddress {
        name: "Test Buyer".into(),
        line1: "1 Test Street".into(),
        line2: None,
        city: "Testville".into(),
        postal_code: "12345".into(),
        country: "US".into(),
    }
}

fn remove_at<T>(v: &mut Vec<T>, i: usize) -> T {
    v.swap_remove(i)
}

impl Workload {
    /// A workload from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            prefix: format!("w{:x}", fastrand::u32(..)),
            seq: 0,
            categories: Vec::new(),
            users: Vec::new(),
            products: Vec::new(),
            orders: Vec::new(),
            reviews: Vec::new(),
            reviewed: HashSet::new(),
            counts: WorkloadCounts::default(),
        }
    }

    /// What it did so far.
    pub fn counts(&self) -> &WorkloadCounts {
        &self.counts
    }

    /// Live users it created.
    pub fn users(&self) -> &[UserId] {
        &self.users
    }

    /// Live products it created.
    pub fn products(&self) -> &[ProductId] {
        &self.products
    }

    fn name(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{}-{what}-{}", self.prefix, self.seq)
    }

    fn count(&mut self, op: &'static str) {
        *self.counts.by_op.entry(op).or_default() += 1;
    }

    /// Counts a write on a review, which may be gone with its user or product (NotFound).
    fn unless_gone(&mut self, done: swiftbox_core::Result<()>, op: &'static str) {
        match done {
            Ok(()) => self.count(op),
            Err(swiftbox_core::Error::NotFound { .. }) => {}
            Err(e) => panic!("{op}: {e}"),
        }
    }

    /// Makes `writes` writes through `store`, panicking on the first that fails.
    pub async fn run<S: PrimaryStore>(&mut self, store: &S, writes: usize) {
        for _ in 0..writes {
            self.step(store).await;
        }
    }

    /// Creates a user and returns it.
    pub async fn user<S: PrimaryStore>(&mut self, store: &S) -> UserId {
        let name = self.name("user");
        let u = must(
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await,
            "create user",
        );
        self.users.push(u.id);
        self.count("create_user");
        u.id
    }

    /// Creates a product (and a category when there is none) and returns it.
    pub async fn product<S: PrimaryStore>(&mut self, store: &S) -> ProductId {
        if self.categories.len() < 3 {
            let name = self.name("category");
            let c = must(
                store.create_category(NewCategory::new(name)).await,
                "create category",
            );
            self.categories.push(c.id);
            self.count("create_category");
        }
        let category = self.categories[self.rng.below(self.categories.len())];
        let name = self.name("product");
        let price = Money::new(100 + self.rng.below(10_000) as i64, Currency::USD);
        let p = must(
            store
                .create_product(NewProduct {
                    name,
                    description: String::new(),
                    price,
                    images: vec![],
                    category,
                    stock: 1_000_000_000,
                })
                .await,
            "create product",
        );
        self.products.push(p.id);
        self.count("create_product");
        p.id
    }

    async fn step<S: PrimaryStore>(&mut self, store: &S) {
        if self.users.len() < 10 {
            self.user(store).await;
            return;
        }
        if self.products.len() < 10 {
            self.product(store).await;
            return;
        }
        let users = self.users.len();
        let products = self.products.len();
        match self.rng.below(100) {
            0..=11 => {
                self.user(store).await;
            }
            12..=23 => {
                self.product(store).await;
            }
            24..=33 => {
                let id = self.products[self.rng.below(products)];
                let price = Money::new(100 + self.rng.below(10_000) as i64, Currency::USD);
                let patch = ProductPatch {
                    price: Some(price),
                    name: Some(self.name("renamed")),
                    ..ProductPatch::default()
                };
                must(store.update_product(&id, patch).await, "update product");
                self.count("update_product");
            }
            34..=38 => {
                let id = self.users[self.rng.below(users)];
                let email = format!("{}@example.org", self.name("mail"));
                let patch = UserPatch {
                    email: Some(email),
                    ..UserPatch::default()
                };
                must(store.update_user(&id, patch).await, "update user");
                self.count("update_user");
            }
            39..=68 => {
                let user = self.users[self.rng.below(users)];
                let lines = 1 + self.rng.below(3);
                let mut chosen = HashSet::new();
                let mut items = Vec::new();
                for _ in 0..lines {
                    let product = self.products[self.rng.below(products)];
                    if chosen.insert(product) {
                        let quantity = 1 + self.rng.below(3) as i64;
                        items.push(NewOrderItem { product, quantity });
                    }
                }
                let order = must(
                    store
                        .place_order(NewOrder {
                            user,
                            items,
                            shipping: shipping(),
                        })
                        .await,
                    "place order",
                );
                self.orders.push(order.id);
                self.count("place_order");
            }
            69..=73 if !self.orders.is_empty() => {
                let id = self.orders[self.rng.below(self.orders.len())];
                let patch = OrderStatusPatch {
                    status: Some(OrderStatus::Shipped),
                    payment_status: None,
                };
                must(store.update_order_status(&id, patch).await, "update order");
                self.count("update_order_status");
            }
            74..=81 => {
                let user = self.users[self.rng.below(users)];
                let product = self.products[self.rng.below(products)];
                if self.reviewed.insert((user, product)) {
                    let r = must(
                        store
                            .create_review(NewReview {
                                user,
                                product,
                                rating: 1 + self.rng.below(5) as i64,
                                comment: String::new(),
                            })
                            .await,
                        "create review",
                    );
                    self.reviews.push(r.id);
                    self.count("create_review");
                }
            }
            82..=85 if !self.reviews.is_empty() => {
                let id = self.reviews[self.rng.below(self.reviews.len())];
                let patch = ReviewPatch {
                    rating: Some(1 + self.rng.below(5) as i64),
                    comment: None,
                };
                let done = store.update_review(&id, patch).await.map(drop);
                self.unless_gone(done, "update_review");
            }
            86..=88 if !self.reviews.is_empty() => {
                let i = self.rng.below(self.reviews.len());
                let id = remove_at(&mut self.reviews, i);
                let done = store.delete_review(&id).await;
                self.unless_gone(done, "delete_review");
            }
            89..=93 => {
                let i = self.rng.below(users);
                let id = remove_at(&mut self.users, i);
                must(store.delete_user(&id).await, "delete user");
                self.count("delete_user");
            }
            94..=99 => {
                let i = self.rng.below(products);
                let id = remove_at(&mut self.products, i);
                must(store.delete_product(&id).await, "delete product");
                self.count("delete_product");
            }
            _ => {
                self.user(store).await;
            }
        }
    }
}
