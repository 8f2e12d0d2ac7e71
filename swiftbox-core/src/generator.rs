//! A deterministic, seeded demo shop: users with category tastes, categories, products whose
//! popularity follows a power law (so supernodes exist), orders and product views. Used by the
//! quickstart, the tests and the benchmarks.
//!
//! The same [`ShopSpec`] always gives the same shop, on every platform and with every
//! dependency version: the generator has its own PRNG (SplitMix64) and samples with integer
//! weights only.
//!
//! Two ways to use a shop:
//! - as pure data, with deterministic ids: [`DemoShop::graph_changes`] (every entity as a
//!   [`GraphChange::Upsert`] exactly as [`crate::changes`] derives it, with timestamps spread
//!   over [`ShopSpec::days`]) and [`DemoShop::views`];
//! - through a store: [`DemoShop::load_into`] writes it with the [`PrimaryStore`] API (the
//!   store makes the ids and stamps orders with the current time; the returned [`ShopIds`]
//!   maps generated indexes to them), then [`DemoShop::record_views`] records the views.
//!
//! ```
//! use swiftbox_core::generator::{DemoShop, ShopSpec};
//!
//! let shop = DemoShop::generate(&ShopSpec::tiny());
//! assert_eq!(shop.users().len(), 30);
//! assert_eq!(shop, DemoShop::generate(&ShopSpec::tiny()));
//! ```

mod rng;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};

use crate::changes;
use crate::domain::*;
use crate::error::Result;
use crate::graph::{GraphChange, GraphStore};
use crate::id::{CategoryId, OrderId, ProductId, UserId};
use crate::money::{Currency, Money};
use crate::primary::PrimaryStore;
use rng::{mix, SplitMix64, Zipf};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopSpec {
    /// Seed: the same spec gives the same shop.
    pub seed: u64,
    /// Number of users. The last tenth only browse (views, no orders): cold-start users.
    pub users: usize,
    /// Number of categories.
    pub categories: usize,
    /// Number of products.
    pub products: usize,
    /// Number of orders.
    pub orders: usize,
    /// Lines per order: 1..=this, uniformly (at least 1).
    pub max_items_per_order: usize,
    /// Number of product views.
    pub views: usize,
    /// Orders and views are spread over this many days before [`ShopSpec::now`] (at least 1).
    pub days: u32,
    /// The end of the generated history.
    pub now: DateTime<Utc>,
}

impl ShopSpec {
    /// The fixed default end of history, 2025-01-01T00:00:00Z, so the data never drifts with the
    /// clock; use [`ShopSpec::ending_at`] for history that ends now.
    pub fn default_now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_735_689_600, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    fn preset(
        users: usize,
        categories: usize,
        products: usize,
        orders: usize,
        views: usize,
    ) -> Self {
        Self {
            seed: 42,
            users,
            categories,
            products,
            orders,
            max_items_per_order: 3,
            views,
            days: 30,
            now: Self::default_now(),
        }
    }

    /// Quickstart size: 30 users, 5 categories, 40 products, 150 orders, 600 views.
    pub fn tiny() -> Self {
        Self::preset(30, 5, 40, 150, 600)
    }

    /// S: 2k users, 20 categories, 500 products, 10k orders (about 20k purchases), 20k views.
    pub fn small() -> Self {
        Self::preset(2_000, 20, 500, 10_000, 20_000)
    }

    /// M: 20k users, 50 categories, 5k products, 100k orders (about 200k purchases), 200k views.
    pub fn medium() -> Self {
        Self::preset(20_000, 50, 5_000, 100_000, 200_000)
    }

    /// L: 100k users, 100 categories, 20k products, 500k orders (about 1M purchases), 1M views.
    pub fn large() -> Self {
        Self::preset(100_000, 100, 20_000, 500_000, 1_000_000)
    }

    /// The same spec with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same spec with history ending at `now` (truncated to milliseconds).
    pub fn ending_at(mut self, now: DateTime<Utc>) -> Self {
        self.now = crate::time::truncate(now);
        self
    }
}

/// A generated user: index into [`DemoShop::users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenUser {
    /// Deterministic id.
    pub id: UserId,
    /// Unique username.
    pub username: String,
    /// Unique e-mail.
    pub email: String,
    /// Indexes of the categories this user favours (1 to 3), most favoured first.
    pub tastes: Vec<u32>,
}

/// A generated product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenProduct {
    /// Deterministic id.
    pub id: ProductId,
    /// Name.
    pub name: String,
    /// Index of its category.
    pub category: u32,
    /// Unit price.
    pub price: Money,
    /// Units in stock before any order (always enough for every generated order).
    pub initial_stock: i64,
}

/// One line of a generated order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenItem {
    /// Product index.
    pub product: u32,
    /// Units, 1..=3.
    pub quantity: u32,
}

/// A generated order; its lines are `DemoShop::items()[first_item..first_item + items]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOrder {
    /// Deterministic id.
    pub id: OrderId,
    /// User index.
    pub user: u32,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Index of its first line.
    pub first_item: u32,
    /// Number of lines.
    pub items: u32,
}

/// A generated product view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenView {
    /// User index.
    pub user: u32,
    /// Product index.
    pub product: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// The ids of a shop's entities by generated index: deterministic ones ([`DemoShop::ids`]) or
/// the ones a store gave them ([`LoadSummary::ids`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopIds {
    /// Category ids by index.
    pub categories: Vec<CategoryId>,
    /// User ids by index.
    pub users: Vec<UserId>,
    /// Product ids by index.
    pub products: Vec<ProductId>,
    /// Order ids by index.
    pub orders: Vec<OrderId>,
}

/// What [`DemoShop::load_into`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// The store's ids for each generated entity.
    pub ids: ShopIds,
    /// Order lines written.
    pub purchases: u64,
}

/// A generated shop. Compact (flat vectors of small records) so the L preset fits easily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoShop {
    spec: ShopSpec,
    categories: Vec<(CategoryId, String)>,
    users: Vec<GenUser>,
    products: Vec<GenProduct>,
    orders: Vec<GenOrder>,
    items: Vec<GenItem>,
    views: Vec<GenView>,
}

const CATEGORY_NAMES: [&str; 20] = [
    "Books",
    "Electronics",
    "Games",
    "Garden",
    "Kitchen",
    "Toys",
    "Sports",
    "Music",
    "Fashion",
    "Beauty",
    "Health",
    "Office",
    "Pets",
    "Tools",
    "Grocery",
    "Automotive",
    "Baby",
    "Outdoors",
    "Art",
    "Travel",
];
const ADJECTIVES: [&str; 12] = [
    "Classic", "Smart", "Compact", "Deluxe", "Eco", "Vintage", "Pro", "Mini", "Ultra", "Cosy",
    "Rugged", "Silent",
];
const NOUNS: [&str; 12] = [
    "Lamp", "Kit", "Set", "Bottle", "Speaker", "Backpack", "Board", "Mug", "Guide", "Chair",
    "Watch", "Brush",
];
const FIRST_NAMES: [&str; 16] = [
    "ann", "bob", "carla", "dev", "emma", "femi", "greta", "hiro", "ines", "jon", "kofi", "lena",
    "milo", "nora", "omar", "pia",
];

/// A deterministic v4-shaped UUID for entity `index` of kind `tag`.
fn det_id(seed: u64, tag: u64, index: usize) -> u128 {
    let a = mix(seed ^ mix(tag.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64));
    let b = mix(a ^ 0xd1b5_4a32_d192_ed03);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .as_u128()
}

impl DemoShop {
    /// Generates the shop `spec` describes.
    pub fn generate(spec: &ShopSpec) -> Self {
        let mut rng = SplitMix64::new(spec.seed);
        let n_cat = spec.categories.max(1);
        let categories: Vec<(CategoryId, String)> = (0..n_cat)
            .map(|i| {
                let base = CATEGORY_NAMES[i % CATEGORY_NAMES.len()];
                let name = match i / CATEGORY_NAMES.len() {
                    0 => base.to_owned(),
                    round => format!("{base} {}", round + 1),
                };
                (CategoryId::from_u128(det_id(spec.seed, 1, i)), name)
            })
            .collect();

        // Category popularity is itself Zipf-like; products land in categories the same way.
        let cat_zipf = Zipf::new(n_cat);
        let mut products: Vec<GenProduct> = (0..spec.products)
            .map(|i| {
                let category = cat_zipf.sample(&mut rng).unwrap_or(0) as u32;
                let name = format!(
                    "{} {} {}",
                    ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize],
                    NOUNS[rng.below(NOUNS.len() as u64) as usize],
                    i + 1
                );
                GenProduct {
                    id: ProductId::from_u128(det_id(spec.seed, 3, i)),
                    name,
                    category,
                    price: Money::new(199 + 50 * rng.below(400) as i64, Currency::USD),
                    initial_stock: 0,
                }
            })
            .collect();
        // Popularity rank = product index (product 0 is the biggest supernode), globally and
        // within each category.
        let global = Zipf::new(products.len());
        let mut by_category: Vec<Vec<u32>> = vec![Vec::new(); n_cat];
        for (i, p) in products.iter().enumerate() {
            by_category[p.category as usize].push(i as u32);
        }
        let cat_zipfs: Vec<Zipf> = by_category.iter().map(|v| Zipf::new(v.len())).collect();

        let users: Vec<GenUser> = (0..spec.users)
            .map(|i| {
                let username = format!("{}{}", FIRST_NAMES[i % FIRST_NAMES.len()], i + 1);
                let mut tastes = Vec::new();
                for _ in 0..=rng.below(3) {
                    let c = cat_zipf.sample(&mut rng).unwrap_or(0) as u32;
                    if !tastes.contains(&c) {
                        tastes.push(c);
                    }
                }
                GenUser {
                    id: UserId::from_u128(det_id(spec.seed, 2, i)),
                    email: format!("{username}@example.com"),
                    username,
                    tastes,
                }
            })
            .collect();

        let pick = |rng: &mut SplitMix64, user: &GenUser| -> Option<u32> {
            if rng.percent(75) {
                let c = user.tastes[rng.below(user.tastes.len() as u64) as usize] as usize;
                if let Some(k) = cat_zipfs[c].sample(rng) {
                    return Some(by_category[c][k]);
                }
            }
            global.sample(rng).map(|p| p as u32)
        };

        let span_ms = i64::from(spec.days.max(1)) * 86_400_000;
        let buyers = (spec.users - spec.users / 10).max(1).min(spec.users);
        let max_items = spec.max_items_per_order.clamp(1, NewOrder::MAX_ITEMS) as u64;
        let mut orders = Vec::with_capacity(spec.orders);
        let mut items: Vec<GenItem> = Vec::with_capacity(spec.orders * 2);
        if !users.is_empty() && !global.is_empty() {
            for _ in 0..spec.orders {
                let user = rng.below(buyers as u64) as u32;
                let first_item = items.len() as u32;
                let lines = 1 + rng.below(max_items);
                for _ in 0..lines * 3 {
                    if (items.len() as u32 - first_item) as u64 == lines {
                        break;
                    }
                    let Some(product) = pick(&mut rng, &users[user as usize]) else {
                        break;
                    };
                    if items[first_item as usize..]
                        .iter()
                        .any(|it| it.product == product)
                    {
                        continue;
                    }
                    let quantity = match rng.below(100) {
                        0..=79 => 1,
                        80..=94 => 2,
                        _ => 3,
                    };
                    items.push(GenItem { product, quantity });
                }
                let placed_at = spec.now - Duration::milliseconds(rng.below(span_ms as u64) as i64);
                orders.push((placed_at, user, first_item, items.len() as u32 - first_item));
            }
        }
        // Chronological, so loading through a store replays history in order.
        orders.sort_by_key(|o| (o.0, o.2));
        let orders = orders
            .into_iter()
            .enumerate()
            .map(|(i, (placed_at, user, first_item, n))| GenOrder {
                id: OrderId::from_u128(det_id(spec.seed, 4, i)),
                user,
                placed_at,
                first_item,
                items: n,
            })
            .collect::<Vec<_>>();

        for it in &items {
            products[it.product as usize].initial_stock += i64::from(it.quantity);
        }
        for p in &mut products {
            p.initial_stock += 5 + rng.below(50) as i64;
        }

        let mut views = Vec::with_capacity(spec.views);
        if !users.is_empty() && !global.is_empty() {
            for _ in 0..spec.views {
                let user = rng.below(users.len() as u64) as u32;
                if let Some(product) = pick(&mut rng, &users[user as usize]) {
                    let at = spec.now - Duration::milliseconds(rng.below(span_ms as u64) as i64);
                    views.push(GenView { user, product, at });
                }
            }
        }

        Self {
            spec: spec.clone(),
            categories,
            users,
            products,
            orders,
            items,
            views,
        }
    }

    /// The spec this shop was generated from.
    pub fn spec(&self) -> &ShopSpec {
        &self.spec
    }

    /// Categories: deterministic id and unique name, by index.
    pub fn categories(&self) -> &[(CategoryId, String)] {
        &self.categories
    }

    /// Users by index.
    pub fn users(&self) -> &[GenUser] {
        &self.users
    }

    /// Products by index; index 0 is the most popular.
    pub fn products(&self) -> &[GenProduct] {
        &self.products
    }

    /// Orders, oldest first.
    pub fn orders(&self) -> &[GenOrder] {
        &self.orders
    }

    /// The lines of one order.
    pub fn items_of(&self, order: &GenOrder) -> &[GenItem] {
        let start = order.first_item as usize;
        self.items
            .get(start..start + order.items as usize)
            .unwrap_or(&[])
    }

    /// Number of order lines (purchases) in all orders.
    pub fn purchases(&self) -> usize {
        self.items.len()
    }

    /// The deterministic ids of the pure-data shop.
    pub fn ids(&self) -> ShopIds {
        ShopIds {
            categories: self.categories.iter().map(|c| c.0).collect(),
            users: self.users.iter().map(|u| u.id).collect(),
            products: self.products.iter().map(|p| p.id).collect(),
            orders: self.orders.iter().map(|o| o.id).collect(),
        }
    }

    /// Product views (user, product, time by index), to record with [`GraphStore::record_view`].
    pub fn views(&self) -> &[GenView] {
        &self.views
    }

    fn created_at(&self) -> DateTime<Utc> {
        self.spec.now - Duration::days(i64::from(self.spec.days.max(1)) + 1)
    }

    /// Category `i` as the primary store would hold it (version 1).
    pub fn category(&self, i: usize) -> Option<Category> {
        let (id, name) = self.categories.get(i)?;
        Some(Category {
            id: *id,
            name: name.clone(),
            parent: None,
            version: 1,
            created_at: self.created_at(),
        })
    }

    /// User `i` as the primary store would hold it (version 1, no password).
    pub fn user(&self, i: usize) -> Option<User> {
        let u = self.users.get(i)?;
        Some(User {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            profile: Profile::default(),
            is_admin: false,
            has_password: false,
            version: 1,
            created_at: self.created_at(),
        })
    }

    /// Product `i` as the primary store would hold it after every order (version 1).
    pub fn product(&self, i: usize) -> Option<Product> {
        let p = self.products.get(i)?;
        let (category, category_name) = self.categories.get(p.category as usize)?.clone();
        Some(Product {
            id: p.id,
            name: p.name.clone(),
            description: format!("{} from the {category_name} aisle", p.name),
            price: p.price,
            images: vec![format!("https://cdn.example/p/{}.png", p.id)],
            category,
            category_name,
            stock: p.initial_stock,
            version: 1,
            created_at: self.created_at(),
            updated_at: self.created_at(),
        })
    }

    fn shipping_for(user: &GenUser) -> ShippingAddress {
        ShippingAddress {
            name: user.username.clone(),
            line1: format!("{} Demo Street", user.username.len() * 7 + 1),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
        }
    }

    /// Order `i` as the primary store would hold it (version 1).
    pub fn order(&self, i: usize) -> Option<Order> {
        let o = self.orders.get(i)?;
        let user = self.users.get(o.user as usize)?;
        let mut total = Money::new(0, Currency::USD);
        let mut items = Vec::with_capacity(o.items as usize);
        for it in self.items_of(o) {
            let p = self.products.get(it.product as usize)?;
            total.minor += p.price.minor * i64::from(it.quantity);
            items.push(OrderItem {
                product: p.id,
                quantity: i64::from(it.quantity),
                unit_price: p.price,
            });
        }
        Some(Order {
            id: o.id,
            user: user.id,
            items,
            shipping: Self::shipping_for(user),
            payment_status: PaymentStatus::Paid,
            status: OrderStatus::Delivered,
            total,
            placed_at: o.placed_at,
            version: 1,
        })
    }

    /// Every entity as a graph upsert, in dependency order (categories, users, products,
    /// orders), exactly as [`crate::changes`] derives them. Lazy, so the L preset need not
    /// hold a million records at once.
    pub fn graph_changes_iter(&self) -> impl Iterator<Item = GraphChange> + '_ {
        let cats = (0..self.categories.len()).filter_map(|i| self.category(i));
        let users = (0..self.users.len()).filter_map(|i| self.user(i));
        let products = (0..self.products.len()).filter_map(|i| self.product(i));
        let orders = (0..self.orders.len()).filter_map(|i| self.order(i));
        cats.map(|c| GraphChange::Upsert(changes::category_record(&c)))
            .chain(users.map(|u| GraphChange::Upsert(changes::user_record(&u))))
            .chain(products.map(|p| GraphChange::Upsert(changes::product_record(&p))))
            .chain(orders.map(|o| changes::order_change(&o, true, |_| true)))
    }

    /// [`DemoShop::graph_changes_iter`], collected.
    pub fn graph_changes(&self) -> Vec<GraphChange> {
        self.graph_changes_iter().collect()
    }

    /// Writes the shop through `store` (which should be empty): categories, users (no
    /// passwords), products with enough stock, then orders oldest first, up to 16 calls in
    /// flight. The store makes the ids and stamps orders with the current time. Fails on the
    /// first refused write.
    pub async fn load_into(&self, store: &dyn PrimaryStore) -> Result<LoadSummary> {
        const IN_FLIGHT: usize = 16;
        let mut ids = ShopIds::default();
        for (_, name) in &self.categories {
            ids.categories.push(
                store
                    .create_category(NewCategory::new(name.clone()))
                    .await?
                    .id,
            );
        }
        ids.users = futures::stream::iter(self.users.iter())
            .map(|u| async move {
                let new = NewUser::new(u.username.clone(), u.email.clone());
                store.create_user(new).await.map(|u| u.id)
            })
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;
        let cat_ids = &ids.categories;
        ids.products = futures::stream::iter(0..self.products.len())
            .map(|i| async move {
                let p = self.product(i).ok_or_else(|| {
                    crate::Error::invalid("products", "generated index out of range")
                })?;
                let category =
                    *cat_ids
                        .get(self.products[i].category as usize)
                        .ok_or_else(|| {
                            crate::Error::invalid("category", "generated index out of range")
                        })?;
                let new = NewProduct {
                    name: p.name,
                    description: p.description,
                    price: p.price,
                    images: p.images,
                    category,
                    stock: p.stock,
                };
                store.create_product(new).await.map(|p| p.id)
            })
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;
        let (users, products) = (&ids.users, &ids.products);
        ids.orders = futures::stream::iter(self.orders.iter())
            .map(|o| async move {
                let user = &self.users[o.user as usize];
                let new = NewOrder {
                    user: users[o.user as usize],
                    items: self
                        .items_of(o)
                        .iter()
                        .map(|it| NewOrderItem {
                            product: products[it.product as usize],
                            quantity: i64::from(it.quantity),
                        })
                        .collect(),
                    shipping: Self::shipping_for(user),
                };
                store.place_order(new).await.map(|o| o.id)
            })
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(LoadSummary {
            ids,
            purchases: self.items.len() as u64,
        })
    }

    /// Records every view in `graph` under `ids` ([`DemoShop::ids`] for a graph built from
    /// [`DemoShop::graph_changes`], [`LoadSummary::ids`] after [`DemoShop::load_into`]), up to 16
    /// calls in flight; returns how many were recorded.
    pub async fn record_views(&self, graph: &dyn GraphStore, ids: &ShopIds) -> Result<u64> {
        let missing = || crate::Error::invalid("ids", "do not cover the shop's users and products");
        let resolved = self
            .views
            .iter()
            .map(|v| {
                let user = ids.users.get(v.user as usize).ok_or_else(missing)?;
                let product = ids.products.get(v.product as usize).ok_or_else(missing)?;
                Ok((*user, *product, v.at))
            })
            .collect::<Result<Vec<_>>>()?;
        futures::stream::iter(resolved.iter())
            .map(|(u, p, at)| graph.record_view(u, p, *at))
            .buffered(16)
            .try_fold(0u64, |n, ()| async move { Ok(n + 1) })
            .await
    }
}

#[cfg(test)]
mod tests;
