//! The sync fault scenarios, as public async functions any pair of backends can run (feature
//! `scenarios`): this crate's tests run them on the memory stores, the workspace's server tests
//! on MongoDB and Neo4j. In the manner of `object_store::integration`.
//!
//! Each scenario takes a **fresh, empty** primary store and graph of its own (it compares the
//! whole graph with the whole primary store), drives them through [`Synced`], [`SyncWorker`]
//! and [`Reconciler`], injects faults with [`FaultyGraph`], and panics with a message when a
//! guarantee does not hold. Waiting (for a worker to catch up) is bounded by
//! [`Scenario::patience`] so a broken sync fails instead of hanging; nothing asserts on time.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use swiftbox_core::{
    Currency, EntityKind, EntityRef, GraphChange, GraphRecord, GraphStore, Money, NewCategory,
    NewOrder, NewOrderItem, NewProduct, NewReview, NewUser, OrderId, OrderStatus, OrderStatusPatch,
    OwedQuery, PageRequest, Partition, PrimaryStore, ProductId, ProductPatch, ProductQuery,
    ReviewId, ReviewPatch, ShippingAddress, UserId, UserPatch,
};

use crate::testing::FaultyGraph;
use crate::{
    Backoff, DriftReport, Reconciler, StaleReason, SyncConfig, SyncWorker, Synced, WorkerConfig,
};

/// Knobs shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Writes in the outage scenario (the issue asks for 10,000).
    pub outage_writes: usize,
    /// Other changes applied around the poison change (the issue asks for 1,000).
    pub poison_others: usize,
    /// Writes in the partition, replay and resync scenarios.
    pub writes: usize,
    /// Longest wait for a worker to catch up before the scenario fails.
    pub patience: Duration,
    /// Seed of the workload.
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            outage_writes: 10_000,
            poison_others: 1_000,
            writes: 1_500,
            patience: Duration::from_secs(300),
            seed: 7,
        }
    }
}

/// A worker configuration for tests: no grace, short backoff, small batches.
pub fn test_worker_config() -> WorkerConfig {
    WorkerConfig {
        batch_size: 200,
        grace: Duration::ZERO,
        backoff: Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(100),
        },
        idle_poll: Duration::from_millis(10),
        ..WorkerConfig::default()
    }
}

fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Polls `done` every 50 ms until it is true, for at most `patience` (polling faster only
/// steals time from the worker being waited for, on a real server most of all).
async fn wait_until<F, Fut>(patience: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(patience, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting: {what}");
}

async fn owed<P: PrimaryStore>(p: &P) -> u64 {
    must(p.sync_stats().await, "sync stats").owed
}

/// A tiny deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
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
    categories: Vec<swiftbox_core::CategoryId>,
    users: Vec<UserId>,
    products: Vec<ProductId>,
    orders: Vec<OrderId>,
    reviews: Vec<ReviewId>,
    reviewed: HashSet<(UserId, ProductId)>,
    counts: WorkloadCounts,
}

fn shipping() -> ShippingAddress {
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
            prefix: format!("w{:x}", crate::jitter::random_u64() & 0xffff_ffff),
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

/// Purchases the graph should hold, computed from the primary store's orders directly (not
/// through `expected_graph`): one per item of a live product in an order of a live user.
pub async fn expected_purchases<P: PrimaryStore>(p: &P) -> u64 {
    let mut live_users = HashSet::new();
    let mut page = PageRequest::first(1000);
    loop {
        let users = must(p.list_users(page.clone()).await, "list users");
        live_users.extend(users.items.iter().map(|u| u.id));
        match users.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    let mut live_products = HashSet::new();
    let mut page = PageRequest::first(1000);
    loop {
        let products = must(
            p.list_products(ProductQuery {
                category: None,
                page: page.clone(),
            })
            .await,
            "list products",
        );
        live_products.extend(products.items.iter().map(|p| p.id));
        match products.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    let mut purchases = 0;
    let mut page = PageRequest::first(1000);
    loop {
        let orders = must(p.list_orders(page.clone()).await, "list orders");
        for o in orders.items.iter().filter(|o| live_users.contains(&o.user)) {
            purchases += o
                .items
                .iter()
                .filter(|i| live_products.contains(&i.product))
                .count() as u64;
        }
        match orders.next {
            Some(next) => page = PageRequest::after(next, 1000),
            None => break,
        }
    }
    purchases
}

/// Asserts zero drift and that the graph counts each purchase exactly once.
pub async fn assert_in_sync<P: PrimaryStore, G: GraphStore>(primary: &Arc<P>, graph: &Arc<G>) {
    let reconciler = Reconciler::new(Arc::clone(primary), Arc::clone(graph));
    let drift = must(reconciler.check().await, "check");
    assert!(drift.is_clean(), "drift after catching up:\n{drift}");
    let counts = must(graph.counts().await, "graph counts");
    let expected = expected_purchases(&**primary).await;
    assert_eq!(
        counts.purchases, expected,
        "PURCHASED relationships in the graph vs order items of live users and products"
    );
}

/// Graph outage: `outage_writes` mixed writes, the middle 60% while the graph fails every call,
/// all succeed on the primary; a worker running throughout catches up once the graph is back;
/// then no drift and no purchase counted twice.
pub async fn graph_outage<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::default());
    let worker = must(store.worker(test_worker_config()), "worker").spawn();
    let mut load = Workload::new(s.seed);
    let stretch = s.outage_writes / 5;
    load.run(&store, stretch).await;
    graph.faults().set_down(true);
    load.run(&store, s.outage_writes - 2 * stretch).await;
    let during = must(primary.sync_stats().await, "stats");
    assert!(during.owed > 0, "writes during the outage must stay owed");
    graph.faults().set_down(false);
    load.run(&store, stretch).await;
    wait_until(s.patience, "worker to drain after the outage", || {
        owed_zero(&*primary)
    })
    .await;
    must(worker.shutdown().await, "worker shutdown");
    let m = store.metrics().snapshot();
    assert!(
        m.inline_failed > 0,
        "the outage must have failed inline applies: {m:?}"
    );
    assert!(graph.faults().injected() > 0);
    assert_in_sync(&primary, &graph).await;
}

// Whether nothing at all is owed (set-aside changes included), as an `FnMut() -> Future<bool>`
// for `wait_until`: one owed change fetched, not a full `sync_stats` (which counts every kind).
async fn owed_zero<P: PrimaryStore>(p: &P) -> bool {
    let query = OwedQuery {
        include_set_aside: true,
        ..OwedQuery::oldest(1)
    };
    must(p.owed_changes(&query).await, "owed changes").is_empty()
}

/// The stores of a scenario: the primary, the graph behind a [`FaultyGraph`], and a decorator.
type Setup<P, G> = (Arc<P>, Arc<FaultyGraph<G>>, Synced<P, FaultyGraph<G>>);

fn setup<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, config: SyncConfig) -> Setup<P, G> {
    let primary = Arc::new(primary);
    let graph = Arc::new(FaultyGraph::new(graph));
    let store = Synced::from_arcs(Arc::clone(&primary), Arc::clone(&graph), config);
    (primary, graph, store)
}

/// Crash between the two writes: the primary write commits, then the process "dies" before the
/// graph apply (the write's future is dropped while the graph hangs, and a write goes through
/// the raw primary store, as code without the decorator would); a new worker on the same
/// primary store applies both.
pub async fn crash_between_writes<P: PrimaryStore, G: GraphStore>(primary: P, graph: G) {
    let config = SyncConfig {
        inline: true,
        inline_timeout: Duration::from_secs(3600),
    };
    let (primary, graph, store) = setup(primary, graph, config);
    graph.faults().set_hang(true);
    let name = format!("crash{:x}", crate::jitter::random_u64() & 0xffff_ffff);
    let write = tokio::spawn({
        let store = store.clone();
        let name = name.clone();
        async move {
            store
                .create_user(NewUser::new(name.clone(), format!("{name}@example.com")))
                .await
        }
    });
    wait_until(Duration::from_secs(60), "the inline apply to start", || {
        let hung = graph.faults().hung_calls();
        async move { hung >= 1 }
    })
    .await;
    write.abort();
    assert!(write.await.is_err(), "the write task was cut off mid-apply");
    drop(store);
    graph.faults().set_hang(false);

    let user = must(primary.credentials(&name).await, "credentials")
        .map(|c| c.user)
        .unwrap_or_else(|| panic!("the primary write committed before the crash"));
    let entity = EntityRef::new(EntityKind::User, user.id);
    assert!(
        must(primary.owed_change(&entity).await, "owed change").is_some(),
        "the graph change is still owed after the crash"
    );
    // Code that writes the primary store directly also leaves the change owed.
    let raw = must(
        primary
            .create_category(NewCategory::new(format!("{name}-raw")))
            .await,
        "raw write",
    );
    assert_eq!(owed(&*primary).await, 2);

    let worker = must(
        SyncWorker::with_config(
            Arc::clone(&primary),
            Arc::clone(&graph),
            test_worker_config(),
        ),
        "worker",
    );
    let round = must(worker.drain().await, "drain");
    assert_eq!(round.acked, 2, "{round:?}");
    assert_eq!(owed(&*primary).await, 0);
    let users = must(graph.records(EntityKind::User, None, 10).await, "records");
    assert!(users.iter().any(|r| r.entity() == entity));
    let categories = must(
        graph.records(EntityKind::Category, None, 10).await,
        "records",
    );
    assert!(categories
        .iter()
        .any(|r| r.entity() == EntityRef::new(EntityKind::Category, raw.id)));
    assert_in_sync(&primary, &graph).await;
}

/// Replay and reordering: the owed changes, snapshotted after every step of a workload (so
/// older versions of an entity appear in earlier snapshots), are applied batch by batch with
/// each batch shuffled and doubled, every batch followed by a replay of the one before it; the
/// graph ends exactly as the primary store expects (as applying each change once, in order),
/// with each purchase counted once.
pub async fn replay_and_reorder<P: PrimaryStore, G: GraphStore>(
    primary: P,
    graph: G,
    s: &Scenario,
) {
    let primary = Arc::new(primary);
    let graph = Arc::new(graph);
    // Deferred mode and no worker: every change stays owed, so each snapshot holds them all.
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    let mut load = Workload::new(s.seed ^ 0x5eed);
    let mut batches: Vec<Vec<GraphChange>> = Vec::new();
    let steps = 10;
    for _ in 0..steps {
        load.run(&store, s.writes / steps).await;
        let owed = must(
            primary.owed_changes(&OwedQuery::oldest(10_000)).await,
            "owed changes",
        );
        batches.push(owed.into_iter().map(|o| o.change).collect());
    }
    let mut rng = Rng(s.seed);
    let mut stale = 0;
    for i in 0..batches.len() {
        let mut order = vec![i];
        if i > 0 {
            order.push(i - 1);
        }
        for b in order {
            let mut twice: Vec<GraphChange> =
                batches[b].iter().chain(&batches[b]).cloned().collect();
            rng.shuffle(&mut twice);
            // Split in two calls too, so replays also arrive in separate calls. A change whose
            // referenced node came in the other half is deferred; like a worker, retry it after.
            // (Replays of the older batch may stay deferred: they reference entities deleted
            // since, which is exactly why the graph refuses them.)
            let mid = twice.len() / 2;
            let mut deferred = HashSet::new();
            for part in [&twice[..mid], &twice[mid..]] {
                let report = must(graph.apply(part).await, "apply");
                stale += report.stale;
                deferred.extend(report.deferred);
            }
            let retry: Vec<GraphChange> = batches[b]
                .iter()
                .filter(|c| deferred.contains(&c.entity()))
                .cloned()
                .collect();
            if !retry.is_empty() {
                let report = must(graph.apply(&retry).await, "retry deferred");
                assert!(b != i || report.deferred.is_empty(), "{report:?}");
            }
        }
    }
    assert!(
        stale > 0,
        "replays of older versions must have been ignored as stale"
    );
    assert_in_sync(&primary, &graph).await;
}

/// Tampering: a node deleted, a stale property written and a foreign node added directly in
/// the graph; `check()` names exactly those three, `repair()` writes exactly those three, and
/// the graph is in sync again.
pub async fn tampering<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::default());
    let mut load = Workload::new(s.seed ^ 0x7a3);
    load.run(&store, 300).await;
    let lonely = load.product(&store).await; // no orders, no reviews: deleting it cascades nothing
    let victim = load.users()[0];
    // Some changes are held back inline by design (an order whose product was deleted is
    // deferred until the primary recomputes it), so let a worker settle them first.
    must(
        must(store.worker(test_worker_config()), "worker")
            .drain()
            .await,
        "drain",
    );
    let reconciler = store.reconciler();
    let before = must(reconciler.check().await, "check");
    assert!(before.is_clean(), "in sync before tampering:\n{before}");

    let product = must(primary.get_product(&lonely).await, "product");
    let user = must(primary.get_user(&victim).await, "user");
    let foreign = UserId::generate();
    let tampered_user = match swiftbox_core::changes::user_record(&user) {
        GraphRecord::User(mut n) => {
            n.email = "tampered@example.com".into();
            GraphRecord::User(n)
        }
        other => other,
    };
    let foreign_user = GraphRecord::User(swiftbox_core::graph::UserNode {
        id: foreign,
        username: "nobody".into(),
        email: "nobody@example.com".into(),
        version: 1,
    });
    let tamper = [
        GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Product, lonely),
            version: product.version,
        },
        GraphChange::Upsert(tampered_user),
        GraphChange::Upsert(foreign_user),
    ];
    let report = must(graph.apply(&tamper).await, "tamper");
    assert_eq!(report.applied, 3, "{report:?}");

    let drift = must(reconciler.check().await, "check");
    assert_tamper_drift(&drift, lonely, foreign, victim);

    assert_repairs_exactly(&reconciler, &graph, &drift).await;
    assert_in_sync(&primary, &graph).await;
}

/// Poison: one change the graph refuses every time is set aside after `set_aside_after`
/// attempts, while `poison_others` other changes apply; status reports it; once cured and
/// released it applies too.
pub async fn poison<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::deferred());
    let mut load = Workload::new(s.seed ^ 0xbad);
    // The poison is owed first, so it heads every batch until it is set aside.
    let bad = load.user(&store).await;
    let bad_ref = EntityRef::new(EntityKind::User, bad);
    graph.faults().poison(bad_ref.clone());
    // Count the entities created here (a product may bring its category along) instead of
    // asking the store after each one: on a real server that count is a dozen queries.
    let mut others = 0;
    while others < s.poison_others {
        let categories = load.categories.len();
        if others % 2 == 0 {
            load.user(&store).await;
        } else {
            load.product(&store).await;
        }
        others += 1 + (load.categories.len() - categories);
    }
    assert_eq!(
        owed(&*primary).await as usize,
        others + 1,
        "every write is owed, the poison included"
    );
    let config = WorkerConfig {
        set_aside_after: 3,
        batch_size: 100,
        ..test_worker_config()
    };
    let worker = must(store.worker(config), "worker");
    let total = must(worker.drain().await, "drain");
    assert_eq!(total.set_aside, 1, "{total:?}");
    assert_eq!(total.failed, 3, "{total:?}");
    assert_eq!(total.acked as usize, others, "{total:?}");

    let status = must(store.reconciler().status().await, "status");
    assert_eq!(
        (status.primary.owed, status.primary.set_aside),
        (1, 1),
        "{status}"
    );
    let last = status.last_error().unwrap_or_default();
    assert!(
        last.contains("poison"),
        "status names the failure: {status}"
    );
    let owed_bad =
        must(primary.owed_change(&bad_ref).await, "owed").map(|o| (o.set_aside, o.attempts));
    assert_eq!(owed_bad, Some((true, 3)));
    let drift = must(store.reconciler().check().await, "check");
    assert_eq!(drift.entities(), vec![bad_ref.clone()], "{drift}");

    graph.faults().cure(&bad_ref);
    assert_eq!(
        must(primary.release_set_aside(Some(&bad_ref)).await, "release"),
        1
    );
    let total = must(worker.drain().await, "drain");
    assert_eq!(total.acked, 1, "{total:?}");
    assert_in_sync(&primary, &graph).await;
}

/// Two workers on two partitions, running concurrently, drain a mixed workload with no loss;
/// each does part of the work; both shut down cleanly.
pub async fn two_partitions<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let primary = Arc::new(primary);
    let graph = Arc::new(graph);
    let store = Synced::from_arcs(
        Arc::clone(&primary),
        Arc::clone(&graph),
        SyncConfig::deferred(),
    );
    let mut load = Workload::new(s.seed ^ 0x2);
    load.run(&store, s.writes).await;
    let owed_before = owed(&*primary).await;
    assert!(owed_before > 0);
    let handles: Vec<_> = (0..2)
        .map(|index| {
            let config = WorkerConfig {
                partition: Partition { index, count: 2 },
                ..test_worker_config()
            };
            must(
                SyncWorker::with_config(Arc::clone(&primary), Arc::clone(&graph), config),
                "worker",
            )
            .spawn()
        })
        .collect();
    wait_until(s.patience, "two partitioned workers to drain", || {
        owed_zero(&*primary)
    })
    .await;
    let mut acked = Vec::new();
    for h in handles {
        acked.push(h.metrics().applied);
        must(h.shutdown().await, "shutdown");
    }
    assert!(
        acked.iter().all(|a| *a > 0),
        "both partitions did work: {acked:?}"
    );
    assert_in_sync(&primary, &graph).await;
}

/// Resync: a graph left empty (deferred mode, no worker) is rebuilt in batches; the run is
/// interrupted by a graph failure, resumed from the last checkpoint, and ends in sync, with
/// progress reported for every kind; an extra node is removed on the way.
pub async fn resync_resumes<P: PrimaryStore, G: GraphStore>(primary: P, graph: G, s: &Scenario) {
    let (primary, graph, store) = setup(primary, graph, SyncConfig::deferred());
    let mut load = Workload::new(s.seed ^ 0x4e5);
    load.run(&store, s.writes).await;
    let extra = UserId::generate();
    must(
        graph
            .apply(&[GraphChange::Upsert(GraphRecord::User(
                swiftbox_core::graph::UserNode {
                    id: extra,
                    username: "extra".into(),
                    email: "extra@example.com".into(),
                    version: 1,
                },
            ))])
            .await,
        "extra node",
    );
    let reconciler = must(
        Reconciler::new(Arc::clone(&primary), Arc::clone(&graph)).with_config(
            crate::ReconcilerConfig {
                batch_size: 50,
                // One batch at a time: a failed batch of a concurrent group is retried alone,
                // and this scenario needs the injected failure to interrupt the run.
                batches_in_flight: 1,
                ..crate::ReconcilerConfig::default()
            },
        ),
        "reconciler",
    );
    graph.faults().fail_nth_call(12);
    let mut last = None;
    let first = reconciler
        .resync(None, |p| last = Some(p.checkpoint.clone()))
        .await;
    let err = match first {
        Ok(r) => panic!("the injected failure must interrupt the resync: {r:?}"),
        Err(e) => e,
    };
    assert!(err.is_retryable(), "{err}");
    let checkpoint = last.unwrap_or_else(|| panic!("progress reported before the failure"));
    let resumed_from = crate::apply::kind_rank(checkpoint.kind);
    let mut kinds = HashMap::new();
    let report = must(
        reconciler
            .resync(Some(checkpoint), |p| {
                kinds.insert(p.kind, (p.done_in_kind, p.total_in_kind));
            })
            .await,
        "resumed resync",
    );
    assert!(report.upserted > 0, "{report:?}");
    assert_eq!(
        kinds.len(),
        EntityKind::ALL.len() - resumed_from,
        "progress for every kind from the checkpoint on: {kinds:?}"
    );
    for (kind, (done, total)) in &kinds {
        assert!(
            done <= &(total + 1),
            "{kind}: {done} of {total} (one extra user)"
        );
    }
    // Tombstones of entities deleted before the graph ever saw them stay owed; a worker
    // settles them (deleting what the graph never had is harmless).
    let worker = must(store.worker(test_worker_config()), "worker");
    must(worker.drain().await, "drain");
    assert_eq!(owed(&*primary).await, 0);
    assert_in_sync(&primary, &graph).await;
}

/// Inline behaviour: writes apply inline and leave nothing owed; a graph that hangs past
/// [`SyncConfig::inline_timeout`] or fails leaves the write successful and the change owed;
/// views go to the graph and report its outage as retryable.
pub async fn inline_apply<P: PrimaryStore, G: GraphStore>(primary: P, graph: G) {
    let config = SyncConfig {
        inline: true,
        inline_timeout: Duration::from_millis(200),
    };
    let (primary, graph, store) = setup(primary, graph, config);
    let mut load = Workload::new(0x11);
    let user = load.user(&store).await;
    let product = load.product(&store).await;
    assert_eq!(
        owed(&*primary).await,
        0,
        "inline apply acknowledged everything"
    );
    must(store.record_view(&user, &product).await, "record view");
    assert_eq!(must(graph.counts().await, "counts").views, 1);

    graph.faults().set_hang(true);
    let slow = load.user(&store).await; // returns after the timeout, write committed
    graph.faults().set_hang(false);
    graph.faults().set_down(true);
    let down = load.product(&store).await;
    let err = store.record_view(&user, &product).await.err();
    assert!(
        matches!(&err, Some(e) if e.is_retryable()),
        "a view while the graph is down is refused as retryable: {err:?}"
    );
    must(store.delete_user(&user).await, "delete while down");
    graph.faults().set_down(false);
    let owed_now: HashSet<EntityRef> =
        must(primary.owed_changes(&OwedQuery::oldest(100)).await, "owed")
            .into_iter()
            .map(|o| o.entity)
            .collect();
    let expected: HashSet<EntityRef> = [
        EntityRef::new(EntityKind::User, slow),
        EntityRef::new(EntityKind::Product, down),
        EntityRef::new(EntityKind::User, user),
    ]
    .into_iter()
    .collect();
    assert!(expected.is_subset(&owed_now), "{owed_now:?}");
    let m = store.metrics().snapshot();
    assert!(m.inline_failed >= 3 && m.inline_applied >= 2, "{m:?}");
    let worker = must(store.worker(test_worker_config()), "worker");
    must(worker.drain().await, "drain");
    assert_in_sync(&primary, &graph).await;
}

/// Asserts that `drift` names exactly the three tamperings of the tampering scenarios: the
/// product `deleted` missing, the user `foreign` extra, the user `edited` stale in content.
pub fn assert_tamper_drift(
    drift: &DriftReport,
    deleted: ProductId,
    foreign: UserId,
    edited: UserId,
) {
    let missing: Vec<EntityRef> = drift.missing.iter().map(GraphRecord::entity).collect();
    let extra: Vec<EntityRef> = drift.extra.iter().map(GraphRecord::entity).collect();
    let stale: Vec<(EntityRef, StaleReason)> = drift
        .stale
        .iter()
        .map(|s| (s.expected.entity(), s.reason))
        .collect();
    assert_eq!(
        missing,
        vec![EntityRef::new(EntityKind::Product, deleted)],
        "{drift}"
    );
    assert_eq!(
        extra,
        vec![EntityRef::new(EntityKind::User, foreign)],
        "{drift}"
    );
    assert_eq!(
        stale,
        vec![(
            EntityRef::new(EntityKind::User, edited),
            StaleReason::Content
        )],
        "{drift}"
    );
    assert_eq!(drift.drift_total, 3, "{drift}");
}

/// Repairs the drift of the tampering scenarios and asserts that the repair wrote exactly the
/// drifted entities (two upserts, one delete) and nothing else.
pub async fn assert_repairs_exactly<P: PrimaryStore, G: GraphStore>(
    reconciler: &Reconciler<P, FaultyGraph<G>>,
    graph: &FaultyGraph<G>,
    drift: &DriftReport,
) {
    graph.faults().set_recording(true);
    let repaired = must(reconciler.repair(drift).await, "repair");
    graph.faults().set_recording(false);
    assert_eq!(
        (repaired.upserted, repaired.deleted),
        (2, 1),
        "{repaired:?}"
    );
    let touched: HashSet<EntityRef> = graph
        .faults()
        .take_recorded()
        .iter()
        .map(GraphChange::entity)
        .collect();
    let expected: HashSet<EntityRef> = drift.entities().into_iter().collect();
    assert_eq!(
        touched, expected,
        "repair writes exactly the drifted entities"
    );
}
