//! The soak: concurrent writers in two application instances, two workers, faults injected
//! while they write, and the [history checker](super::check_history) at the end.
//!
//! Two instances (two [`Synced`] over connections of their own, as two API processes would
//! have) each run [`Soak::writers`] writers over one shared shop, so writers of both instances
//! update, order, review and delete the same entities at once, and a [`SyncWorker`] on
//! [`Partition::ALL`](crate::Partition::ALL) each (two workers draining one queue). Every
//! [`Soak::phase_writes`] writes the soak takes the next step of a cycle: each fault the
//! [`SoakTarget`] offers (injected, held while writes go on, healed), then its own steps:
//!
//! - **instance dropped**: one instance's writers and worker are aborted mid-call (as a killed
//!   process would be: calls cut between the primary write and the graph apply, an apply cut
//!   before its acknowledgement) and a new instance opened in its place;
//! - **repair under load**: [`Reconciler::check`] then [`Reconciler::repair`] while writers go
//!   on (a repair must not undo writes made since its check);
//! - **resync under load**: [`Reconciler::resync`] of the whole shop while writers go on.
//!
//! When [`Soak::run_for`] has passed (or [`Soak::max_writes`] writes were made) the writers stop,
//! every fault is healed, and the soak waits for the workers to settle everything (bounded by
//! [`Soak::patience`]; the time it took is the *time to converge*), then checks the history.
//! Time bounds how long the soak runs and how long a fault is held, never what it asserts.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use swiftbox_core::prelude::*;
use swiftbox_core::{
    CategoryId, Currency, EntityKind, EntityRef, GraphStore, Money, NewCategory, NewOrder,
    NewOrderItem, NewProduct, NewReview, NewUser, OrderId, OrderStatus, OrderStatusPatch,
    ProductId, ProductPatch, ReviewId, ReviewPatch, UserId, UserPatch,
};
use tokio::task::JoinHandle;

use super::history::{check_history, History, HistoryCounts, HistoryVerdict, Outcome};
use super::workload::{shipping, Rng};
use super::{must, owed_zero, test_worker_config};
use crate::{SyncConfig, Synced, WorkerHandle};

/// The servers (or in-memory stores) a [`soak`] runs on, and the faults it can inject there.
#[async_trait]
pub trait SoakTarget: Send + Sync {
    /// The primary store.
    type Primary: PrimaryBackend;
    /// The graph.
    type Graph: GraphStore;

    /// Opens one more application instance: stores on connections of its own, to the same
    /// databases as every other instance.
    async fn open(&self) -> (Arc<Self::Primary>, Arc<Self::Graph>);

    /// The faults this target can inject, by name, in the order the soak cycles through them.
    fn faults(&self) -> Vec<&'static str>;

    /// Injects the fault `name` (freezes or kills a server, ...).
    async fn inject(&self, name: &str);

    /// Heals the fault `name` (thaws the server, starts it again on its data, ...). Called
    /// once after each [`SoakTarget::inject`], and once more for every fault at the end: it
    /// must do nothing when the fault is not in place.
    async fn heal(&self, name: &str);
}

/// The soak's knobs.
#[derive(Debug, Clone)]
pub struct Soak {
    /// Writers per instance (two instances).
    pub writers: usize,
    /// How long writers write (faults included); the soak runs at least one whole cycle of
    /// steps whatever this says.
    pub run_for: Duration,
    /// A bound on writes tried, whatever `run_for` says.
    pub max_writes: u64,
    /// Writes between two steps of the fault cycle, and while a fault is held.
    pub phase_writes: u64,
    /// The longest wait for `phase_writes` writes between two steps (a slow server makes
    /// few writes; the cycle goes on regardless).
    pub phase_max: Duration,
    /// The longest a fault is held (writes may not advance while a primary store is frozen).
    pub hold_max: Duration,
    /// Each write is given up after this long (its outcome is then unknown).
    pub write_timeout: Duration,
    /// Longest wait for the workers to settle everything at the end.
    pub patience: Duration,
    /// The decorator's configuration in each instance.
    pub sync: SyncConfig,
    /// Seed of the writers' choices.
    pub seed: u64,
}

impl Default for Soak {
    fn default() -> Self {
        Self {
            writers: 3,
            run_for: Duration::from_secs(20),
            max_writes: 100_000,
            phase_writes: 200,
            phase_max: Duration::from_secs(5),
            hold_max: Duration::from_secs(3),
            write_timeout: Duration::from_secs(10),
            patience: Duration::from_secs(300),
            sync: SyncConfig::default(),
            seed: 11,
        }
    }
}

/// What a [`soak`] did and found.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Writes as the writers saw them end.
    pub writes: HistoryCounts,
    /// Steps of the fault cycle taken, by name.
    pub faults: BTreeMap<String, u64>,
    /// Time spent in each kind of step (injecting, holding and healing a fault; a repair; a
    /// resync; replacing an instance), by name.
    pub step_time: BTreeMap<String, Duration>,
    /// How long writers wrote.
    pub wrote_for: Duration,
    /// From the last fault healed to nothing owed.
    pub converge: Duration,
    /// Changes still set aside at the end.
    pub set_aside: u64,
    /// What the history checker found.
    pub verdict: HistoryVerdict,
}

impl SoakReport {
    /// True when the history checker found nothing wrong and nothing was left set aside.
    pub fn is_clean(&self) -> bool {
        self.verdict.is_clean() && self.set_aside == 0
    }

    /// Panics with the report's table unless [`SoakReport::is_clean`].
    pub fn assert_clean(&self) {
        assert!(
            self.is_clean(),
            "the soak found a broken guarantee:\n{self}"
        );
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.writes;
        writeln!(f, "| soak | |")?;
        writeln!(f, "|---|---|")?;
        writeln!(f, "| wrote for | {:.1} s |", self.wrote_for.as_secs_f64())?;
        writeln!(f, "| writes acknowledged | {} |", w.acknowledged)?;
        writeln!(f, "| writes refused (raced a delete) | {} |", w.refused)?;
        writeln!(f, "| writes of unknown outcome | {} |", w.unknown)?;
        let total: u64 = self.faults.values().sum();
        let each: Vec<String> = self
            .faults
            .iter()
            .map(|(name, n)| format!("{name} x{n}"))
            .collect();
        writeln!(f, "| faults injected | {total} ({}) |", each.join(", "))?;
        let spent: Vec<String> = self
            .step_time
            .iter()
            .map(|(name, t)| format!("{name} {:.1} s", t.as_secs_f64()))
            .collect();
        writeln!(f, "| time in steps | {} |", spent.join(", "))?;
        write!(f, "{}", self.verdict)?;
        writeln!(f, "| set aside at the end | {} |", self.set_aside)?;
        writeln!(
            f,
            "| time to converge | {:.1} s |",
            self.converge.as_secs_f64()
        )
    }
}

/// The soak's own steps, after the target's faults in each cycle.
const DROP_INSTANCE: &str = "instance dropped";
const REPAIR: &str = "repair under load";
const RESYNC: &str = "resync under load";

/// The shop the writers share.
#[derive(Debug, Default)]
struct Pool {
    categories: Vec<CategoryId>,
    users: Vec<UserId>,
    products: Vec<ProductId>,
    orders: Vec<OrderId>,
    reviews: Vec<ReviewId>,
    reviewed: HashSet<(UserId, ProductId)>,
    seq: u64,
}

impl Pool {
    fn name(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("soak-{what}-{}", self.seq)
    }
}

/// What writers share.
struct Shared {
    pool: Mutex<Pool>,
    history: History,
    stop: AtomicBool,
    tried: AtomicU64,
    max_writes: u64,
    write_timeout: Duration,
}

/// One application instance: a decorator, its worker, its writers.
struct Instance<P: PrimaryBackend, G: GraphStore> {
    store: Synced<P, G>,
    worker: WorkerHandle,
    writers: Vec<JoinHandle<()>>,
}

/// Runs the soak on `target` (see the [module docs](self)) and returns its report; call
/// [`SoakReport::assert_clean`] on it. Panics when the workers do not settle within
/// [`Soak::patience`].
pub async fn soak<T: SoakTarget>(target: &T, s: &Soak) -> SoakReport {
    let shared = Arc::new(Shared {
        pool: Mutex::new(Pool::default()),
        history: History::new(),
        stop: AtomicBool::new(false),
        tried: AtomicU64::new(0),
        max_writes: s.max_writes,
        write_timeout: s.write_timeout,
    });
    let mut seeds = Rng(s.seed);
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(open_instance(target, s, &shared, &mut seeds).await);
    }
    let mut report = SoakReport::default();
    let mut cycle: Vec<&'static str> = target.faults();
    cycle.extend([DROP_INSTANCE, REPAIR, RESYNC]);

    let started = Instant::now();
    let mut step = 0;
    loop {
        wait_writes(&shared, s.phase_writes, s.phase_max).await;
        let cycled = step >= cycle.len();
        if (cycled && started.elapsed() >= s.run_for)
            || shared.tried.load(Ordering::SeqCst) >= s.max_writes
        {
            break;
        }
        let name = cycle[step % cycle.len()];
        step += 1;
        *report.faults.entry(name.to_owned()).or_default() += 1;
        tracing::info!(step = name, "soak step");
        let step_started = Instant::now();
        match name {
            DROP_INSTANCE => {
                let dropped = instances.remove(0);
                for w in &dropped.writers {
                    w.abort();
                }
                dropped.worker.abort();
                drop(dropped.store);
                instances.push(open_instance(target, s, &shared, &mut seeds).await);
            }
            REPAIR => {
                let reconciler = instances[0].store.reconciler();
                retried("repair under load", || async {
                    let drift = reconciler.check().await?;
                    reconciler.repair(&drift).await
                })
                .await;
            }
            RESYNC => {
                let reconciler = instances[0].store.reconciler();
                retried("resync under load", || async {
                    reconciler.resync(None, |_| {}).await
                })
                .await;
            }
            fault => {
                target.inject(fault).await;
                wait_writes(&shared, s.phase_writes, s.hold_max).await;
                target.heal(fault).await;
            }
        }
        *report.step_time.entry(name.to_owned()).or_default() += step_started.elapsed();
    }
    shared.stop.store(true, Ordering::SeqCst);
    for instance in &mut instances {
        for w in instance.writers.drain(..) {
            // A writer ends within one write timeout of `stop`; an aborted one is fine too.
            let _ = w.await;
        }
    }
    report.wrote_for = started.elapsed();
    for fault in target.faults() {
        target.heal(fault).await;
    }

    let healed = Instant::now();
    let primary = Arc::clone(instances[0].store.primary_arc());
    let waited = tokio::time::timeout(s.patience, async {
        while !owed_zero(&*primary).await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    report.converge = healed.elapsed();
    let stats = must(primary.sync_stats().await, "sync stats");
    report.set_aside = stats.set_aside;
    assert!(
        waited.is_ok() || stats.owed == stats.set_aside,
        "the workers did not settle within {} s: {} owed ({} set aside), last error {:?}",
        s.patience.as_secs(),
        stats.owed,
        stats.set_aside,
        stats.last_error
    );
    let graph = Arc::clone(instances[0].store.graph_arc());
    for instance in instances {
        must(instance.worker.shutdown().await, "worker shutdown");
    }
    report.writes = shared.history.counts();
    report.verdict = check_history(&shared.history, &primary, &graph).await;
    report
}

/// Runs `op` until it succeeds, again after a retryable error (a deadlock the graph detected
/// between the maintenance and the live writes, a server not answering yet), as an operator
/// would, at most 10 times; panics on any other error.
async fn retried<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = swiftbox_core::Result<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() && attempt < 10 => {
                tracing::info!(error = %e, attempt, "{what}: retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => panic!("{what} (attempt {attempt}): {e}"),
        }
    }
}

/// Waits until `writes` more writes were tried, or `at_most` passed.
async fn wait_writes(shared: &Shared, writes: u64, at_most: Duration) {
    let target = shared.tried.load(Ordering::SeqCst) + writes;
    let _ = tokio::time::timeout(at_most, async {
        while shared.tried.load(Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn open_instance<T: SoakTarget>(
    target: &T,
    s: &Soak,
    shared: &Arc<Shared>,
    seeds: &mut Rng,
) -> Instance<T::Primary, T::Graph> {
    let (primary, graph) = target.open().await;
    let store = Synced::from_arcs(primary, graph, s.sync.clone());
    let worker = must(store.worker(test_worker_config()), "worker").spawn();
    let writers = (0..s.writers)
        .map(|_| {
            let store = store.clone();
            let shared = Arc::clone(shared);
            let rng = Rng(seeds.next_u64());
            tokio::spawn(write_until_stopped(store, shared, rng))
        })
        .collect();
    Instance {
        store,
        worker,
        writers,
    }
}

async fn write_until_stopped<P: PrimaryBackend, G: GraphStore>(
    store: Synced<P, G>,
    shared: Arc<Shared>,
    mut rng: Rng,
) {
    while !shared.stop.load(Ordering::SeqCst)
        && shared.tried.fetch_add(1, Ordering::SeqCst) < shared.max_writes
    {
        one_write(&store, &shared, &mut rng).await;
        // An in-memory write never waits: without this, writers would keep the runtime's
        // threads busy and starve the soak's own timers and the workers.
        tokio::task::yield_now().await;
    }
}

/// Runs `call` under the write timeout; `None` when it timed out.
async fn bounded<T>(
    shared: &Shared,
    call: impl std::future::Future<Output = swiftbox_core::Result<T>>,
) -> Option<swiftbox_core::Result<T>> {
    tokio::time::timeout(shared.write_timeout, call).await.ok()
}

/// Records the end of a write whose call returned `result` (`None`: it timed out), naming
/// the entity and version an acknowledged one returned; gives back what it returned.
fn record<T>(
    shared: &Shared,
    result: Option<swiftbox_core::Result<T>>,
    entity: impl Fn(&T) -> (EntityRef, u64),
) -> Option<T> {
    match result {
        Some(Ok(v)) => {
            let (e, version) = entity(&v);
            shared.history.acknowledged(e, version);
            Some(v)
        }
        Some(r @ Err(_)) => {
            shared.history.not_acknowledged(Outcome::of(&r));
            None
        }
        None => {
            shared.history.not_acknowledged(Outcome::Unknown);
            None
        }
    }
}

/// A delete of `entity` by `call`, recorded.
async fn delete(
    shared: &Shared,
    entity: EntityRef,
    call: impl std::future::Future<Output = swiftbox_core::Result<()>>,
) {
    shared.history.deleting(entity.clone());
    let outcome = match bounded(shared, call).await {
        None => Outcome::Unknown,
        Some(r) => Outcome::of(&r),
    };
    shared.history.deleted(entity, outcome);
}

fn pick<T: Copy>(rng: &mut Rng, v: &[T]) -> Option<T> {
    (!v.is_empty()).then(|| v[rng.below(v.len())])
}

/// Takes a random element out of `v` (to delete it), unless that would leave `keep` or fewer.
fn take<T>(rng: &mut Rng, v: &mut Vec<T>, keep: usize) -> Option<T> {
    (v.len() > keep).then(|| v.swap_remove(rng.below(v.len())))
}

/// One write, chosen at random over the shared shop.
async fn one_write<P: PrimaryBackend, G: GraphStore>(
    store: &Synced<P, G>,
    shared: &Shared,
    rng: &mut Rng,
) {
    use EntityKind as K;
    let roll = rng.below(100);
    // The shop first gets its categories, then ten users and ten products.
    let roll = {
        let p = shared.pool.lock();
        if p.categories.len() < 3 {
            200
        } else if p.users.len() < 10 {
            0
        } else if p.products.len() < 10 {
            10
        } else {
            roll
        }
    };
    match roll {
        0..=9 => {
            let name = shared.pool.lock().name("user");
            let new = NewUser::new(name.clone(), format!("{name}@example.com"));
            let r = bounded(shared, store.create_user(new)).await;
            if let Some(u) = record(shared, r, |u| (EntityRef::new(K::User, u.id), u.version)) {
                shared.pool.lock().users.push(u.id);
            }
        }
        10..=17 => {
            let (name, category) = {
                let mut p = shared.pool.lock();
                let c = pick(rng, &p.categories);
                (p.name("product"), c)
            };
            let Some(category) = category else { return };
            let new = NewProduct {
                name,
                description: String::new(),
                price: Money::new(100 + rng.below(10_000) as i64, Currency::USD),
                images: vec![],
                category,
                stock: 1_000_000_000,
            };
            let r = bounded(shared, store.create_product(new)).await;
            if let Some(p) = record(shared, r, |p| (EntityRef::new(K::Product, p.id), p.version)) {
                shared.pool.lock().products.push(p.id);
            }
        }
        18..=29 => {
            let Some(id) = pick(rng, &shared.pool.lock().products) else {
                return;
            };
            let patch = ProductPatch {
                price: Some(Money::new(100 + rng.below(10_000) as i64, Currency::USD)),
                ..ProductPatch::default()
            };
            let r = bounded(shared, store.update_product(&id, patch)).await;
            record(shared, r, |p| (EntityRef::new(K::Product, p.id), p.version));
        }
        30..=37 => {
            let (id, mail) = {
                let mut p = shared.pool.lock();
                (pick(rng, &p.users), p.name("mail"))
            };
            let Some(id) = id else { return };
            let patch = UserPatch {
                email: Some(format!("{mail}@example.org")),
                ..UserPatch::default()
            };
            let r = bounded(shared, store.update_user(&id, patch)).await;
            record(shared, r, |u| (EntityRef::new(K::User, u.id), u.version));
        }
        38..=62 => {
            let (user, items) = {
                let p = shared.pool.lock();
                let user = pick(rng, &p.users);
                let mut chosen = HashSet::new();
                let mut items = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    if let Some(product) = pick(rng, &p.products) {
                        if chosen.insert(product) {
                            let quantity = 1 + rng.below(3) as i64;
                            items.push(NewOrderItem { product, quantity });
                        }
                    }
                }
                (user, items)
            };
            let Some(user) = user else { return };
            let new = NewOrder {
                user,
                items,
                shipping: shipping(),
            };
            let r = bounded(shared, store.place_order(new)).await;
            if let Some(o) = record(shared, r, |o| (EntityRef::new(K::Order, o.id), o.version)) {
                shared.pool.lock().orders.push(o.id);
            }
        }
        63..=67 => {
            let Some(id) = pick(rng, &shared.pool.lock().orders) else {
                return;
            };
            let patch = OrderStatusPatch {
                status: Some(OrderStatus::Shipped),
                payment_status: None,
            };
            let r = bounded(shared, store.update_order_status(&id, patch)).await;
            record(shared, r, |o| (EntityRef::new(K::Order, o.id), o.version));
        }
        68..=75 => {
            let pair = {
                let mut p = shared.pool.lock();
                let pair = pick(rng, &p.users).zip(pick(rng, &p.products));
                pair.filter(|pair| p.reviewed.insert(*pair))
            };
            let Some((user, product)) = pair else { return };
            let new = NewReview {
                user,
                product,
                rating: 1 + rng.below(5) as i64,
                comment: String::new(),
            };
            let r = bounded(shared, store.create_review(new)).await;
            if let Some(r) = record(shared, r, |r| (EntityRef::new(K::Review, r.id), r.version)) {
                shared.pool.lock().reviews.push(r.id);
            }
        }
        76..=79 => {
            let Some(id) = pick(rng, &shared.pool.lock().reviews) else {
                return;
            };
            let patch = ReviewPatch {
                rating: Some(1 + rng.below(5) as i64),
                comment: None,
            };
            let r = bounded(shared, store.update_review(&id, patch)).await;
            record(shared, r, |r| (EntityRef::new(K::Review, r.id), r.version));
        }
        80..=82 => {
            let Some(id) = take(rng, &mut shared.pool.lock().reviews, 0) else {
                return;
            };
            delete(
                shared,
                EntityRef::new(K::Review, id),
                store.delete_review(&id),
            )
            .await;
        }
        83..=87 => {
            let Some(id) = take(rng, &mut shared.pool.lock().users, 10) else {
                return;
            };
            delete(shared, EntityRef::new(K::User, id), store.delete_user(&id)).await;
        }
        88..=92 => {
            let Some(id) = take(rng, &mut shared.pool.lock().products, 10) else {
                return;
            };
            delete(
                shared,
                EntityRef::new(K::Product, id),
                store.delete_product(&id),
            )
            .await;
        }
        200 => {
            let name = shared.pool.lock().name("category");
            let r = bounded(shared, store.create_category(NewCategory::new(name))).await;
            if let Some(c) = record(shared, r, |c| {
                (EntityRef::new(K::Category, c.id), c.version)
            }) {
                shared.pool.lock().categories.push(c.id);
            }
        }
        _ => {
            let Some(id) = pick(rng, &shared.pool.lock().orders) else {
                return;
            };
            let r = bounded(shared, store.get_order(&id)).await;
            // A read, to keep the mix honest; not part of the history.
            drop(r);
        }
    }
}
