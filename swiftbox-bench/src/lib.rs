//! # swiftbox-bench
//!
//! Measures what SwiftBox exists for, each figure beside the naive way in the same run, at
//! growing scale (results and how to read them in `BENCHMARKS.md`):
//!
//! 1. resync throughput into the graph ([`swiftbox_sync::Reconciler::resync`], batched) versus
//!    one `apply` call per change (the seed's way);
//! 2. write overhead of a synced order placement (inline and deferred) versus the plain
//!    primary store;
//! 3. sync lag under a sustained write load with a [`swiftbox_sync::SyncWorker`] running;
//! 4. query latency of the graph versus the same answer computed from the primary store alone
//!    ([`baseline::PrimaryOnly`]); 5. the memory graph at scale L;
//! 6. recommendation *quality* on MovieLens-100k (issue 16): precision, recall, NDCG and hit
//!    rate at 10 of `recommendations_for` beside the most popular and ItemKNN baselines, on a
//!    random and a temporal split ([`quality`], [`movielens`]); only when asked for
//!    (`--figures 6`), since it fetches the data from PyPI on its first run;
//! 7. scale-out (issue 19): sync throughput and lag with 1, 2 and 4 workers sharing the owed
//!    changes by lease ([`swiftbox_sync::lease`]), each on its own primary connection, at
//!    rising write rates, until the primary or the graph stops following; only when asked for
//!    (`--figures 7`: minutes, not seconds).
//!
//! [`run`] measures and returns a [`Report`]; the `swiftbox-bench` binary prints it as a table
//! and writes it as JSON. In quick mode ([`BenchConfig::quick`]) the datasets are tiny and the
//! iterations few, and what matters is the *correctness checks* every figure makes (the graph's
//! answers equal the primary-only answers, resync and sync produced the expected counts); the
//! crate's test runs it, so the harness never rots. Times are reported, never asserted.
//!
//! ```
//! use swiftbox_bench::{run, Backend, BenchConfig};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> swiftbox_core::Result<()> {
//! let mut config = BenchConfig::quick(vec![Backend::Memory], None);
//! config.figures = vec![1];
//! let report = run(&config).await?;
//! assert!(report.failed_checks().is_empty());
//! println!("{}", report.table());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    missing_debug_implementations,
    clippy::future_not_send
)]

/// Prints a progress line to stderr, with the seconds since the process started.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[{:>7.1}s] {}", $crate::started().elapsed().as_secs_f64(), format!($($arg)*))
    };
}
pub(crate) use progress;

fn started() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

pub mod baseline;
pub mod compare;
pub mod env;
mod figures;
pub mod movielens;
pub mod observed;
pub mod quality;
pub mod report;
pub mod stats;

use swiftbox_core::generator::ShopSpec;
use swiftbox_core::Result;

pub use env::ServerConfig;
pub use report::{Check, CoverageRow, Meta, QualityRow, Report, Row, ScaleCell, ScaleMetric};

use env::{Env, GraphKind, PrimaryKind};

/// A dataset size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scale {
    /// Quick mode: 300 users, 120 products, 1,500 orders (about 3k purchases).
    XS,
    /// 2k users, 500 products, 10k orders (about 20k purchases).
    S,
    /// 20k users, 5k products, 100k orders (about 200k purchases).
    M,
    /// 100k users, 20k products, 500k orders (about 1M purchases).
    L,
}

impl Scale {
    /// The generator's spec (no views: the benchmark's questions do not use them, and the
    /// primary-only baseline could not see them).
    pub fn spec(self) -> ShopSpec {
        let mut spec = match self {
            Scale::XS => {
                let mut s = ShopSpec::small();
                s.users = 300;
                s.categories = 8;
                s.products = 120;
                s.orders = 1_500;
                s
            }
            Scale::S => ShopSpec::small(),
            Scale::M => ShopSpec::medium(),
            Scale::L => ShopSpec::large(),
        };
        spec.views = 0;
        spec
    }

    /// `XS`, `S`, `M` or `L`.
    pub fn name(self) -> &'static str {
        match self {
            Scale::XS => "XS",
            Scale::S => "S",
            Scale::M => "M",
            Scale::L => "L",
        }
    }

    /// Parses `xs`, `s`, `m`, `l` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "xs" => Some(Scale::XS),
            "s" => Some(Scale::S),
            "m" => Some(Scale::M),
            "l" => Some(Scale::L),
            _ => None,
        }
    }
}

/// Which pair of backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `MemoryStore` and `MemoryGraph`.
    Memory,
    /// `MongoStore` and `Neo4jGraph` on the servers of [`BenchConfig::servers`].
    Servers,
}

/// What to run, and how much.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Quick mode: few iterations, correctness first.
    pub quick: bool,
    /// Dataset scales for figures 1 and 4/5.
    pub scales: Vec<Scale>,
    /// Backend pairs.
    pub backends: Vec<Backend>,
    /// Figures to run (1 resync, 2 write overhead, 3 sync lag, 4 queries; 5 is 4 on the
    /// memory backend at L; 6 quality and 7 scale-out, never in the full run's defaults;
    /// quick mode runs 7 on its small grid).
    pub figures: Vec<u8>,
    /// The real servers (needed for [`Backend::Servers`]).
    pub servers: Option<ServerConfig>,
    /// Datasets with more orders than this are not loaded into MongoDB with `load_into` (too
    /// slow on FerretDB: see `BENCHMARKS.md`, "Which primary"); their graph is
    /// resynced from a `MemoryStore` loaded the same way, and the primary-only baseline runs on
    /// that `MemoryStore`, the most favourable primary there is. Default 0: never.
    pub mongo_load_max_orders: usize,
    /// Orders applied one call each for figure 1's baseline, on the memory graph and on Neo4j.
    pub single_apply_orders: (usize, usize),
    /// Graph query repetitions per input (figures 4 and 5; default 100, so a query's p99 over
    /// its 400 calls, 200 for trending, is its fourth slowest, not one slow call).
    pub query_reps: usize,
    /// Primary-only computations per query type (figure 4).
    pub baseline_samples: usize,
    /// Users and products of the catalogs figures 2 and 3 write orders against.
    pub catalog: (usize, usize),
    /// Orders per mode for figure 2 (memory, servers).
    pub write_orders: (usize, usize),
    /// Figure 3's load: writes per second and seconds (with the servers, this load runs with a
    /// `MemoryStore` primary and the Neo4j graph, isolating the sync path).
    pub lag_load: (u32, u32),
    /// Figure 3: seconds of the same load offered first as a warm-up, waited out and not
    /// counted (default 3; 0 in quick mode).
    pub lag_warmup: u32,
    /// Figure 3's loads with MongoDB as the primary: writes per second, one run per rate (the
    /// lock path's scaling, issue 18 part 4); empty (`--mongo-lag-rate 0`) skips them.
    pub mongo_lag_rates: Vec<u32>,
    /// Figure 3: how many `SyncWorker`s drain the queue, one per `Partition` (default 1).
    pub lag_workers: u32,
    /// Figure 7: the leased worker counts of the grid (default 1, 2, 4).
    pub scale_workers: Vec<u32>,
    /// Figure 7: the offered writes/s of the grid with a memory primary, climbed until the
    /// primary or the workers stop keeping up (default 100, 300, 1,000, 3,000, 6,000).
    pub scale_rates: Vec<u32>,
    /// Figure 7: the same with MongoDB as the primary (default 10, 30, 100: FerretDB here
    /// took about 10-30 writes/s).
    pub scale_mongo_rates: Vec<u32>,
    /// Figure 7: seconds of load per cell, and seconds of the same load offered first and not
    /// counted (default 3 and 1).
    pub scale_load: (u32, u32),
    /// Figure 7: the workers' lease ttl (default 2 s).
    pub scale_lease_ttl: std::time::Duration,
    /// Figure 1: `ReconcilerConfig::batch_size` of the timed resync (default: the
    /// reconciler's default).
    pub resync_batch: usize,
    /// Figure 1: `ReconcilerConfig::batches_in_flight` of the timed resync (default: the
    /// reconciler's default, 2).
    pub resync_in_flight: usize,
    /// Figure 6: where the recbole wheel is downloaded to and read from (default
    /// [`movielens::default_cache`]).
    pub data_cache: std::path::PathBuf,
    /// Figure 6: ratings to evaluate instead of MovieLens-100k (tests use a small set of
    /// their own, so they need no download).
    pub ratings: Option<std::sync::Arc<Vec<movielens::Rating>>>,
    /// Counted passes over the timed figures (1-5): each row then gives the median of the
    /// passes and their range, and a goal met in some passes and missed in others is
    /// *unsettled* (default 3; 1 in quick mode). Figure 6 is exact and runs in the first
    /// counted pass only.
    pub repeat: usize,
    /// Leave every Neo4j namespace in place instead of wiping it (to measure a graph's size on
    /// disk; a note names them). Default off.
    pub keep_graphs: bool,
    /// One pass first that warms the servers and the process (JIT, plan caches, page cache),
    /// reported apart from the counted passes, never hidden (default on; off in quick mode).
    pub warm_up: bool,
}

impl BenchConfig {
    /// The full run: S and M, every figure.
    pub fn full(backends: Vec<Backend>, servers: Option<ServerConfig>) -> Self {
        Self {
            quick: false,
            scales: vec![Scale::S, Scale::M],
            backends,
            figures: vec![1, 2, 3, 4, 5],
            servers,
            mongo_load_max_orders: 0,
            single_apply_orders: (20_000, 2_000),
            query_reps: 100,
            baseline_samples: 4,
            write_orders: (5_000, 300),
            lag_load: (500, 10),
            lag_warmup: 3,
            mongo_lag_rates: vec![20, 50, 100],
            catalog: (50, 100),
            lag_workers: 1,
            scale_workers: vec![1, 2, 4],
            scale_rates: vec![100, 300, 1_000, 3_000, 6_000],
            scale_mongo_rates: vec![10, 30, 100],
            scale_load: (3, 1),
            scale_lease_ttl: std::time::Duration::from_secs(2),
            resync_batch: swiftbox_sync::ReconcilerConfig::default().batch_size,
            resync_in_flight: swiftbox_sync::ReconcilerConfig::default().batches_in_flight,
            data_cache: movielens::default_cache(),
            ratings: None,
            repeat: 3,
            warm_up: true,
            keep_graphs: false,
        }
    }

    /// Quick mode: scale XS, a few iterations, every figure, correctness checked.
    pub fn quick(backends: Vec<Backend>, servers: Option<ServerConfig>) -> Self {
        Self {
            quick: true,
            scales: vec![Scale::XS],
            single_apply_orders: (100, 50),
            query_reps: 1,
            baseline_samples: 4,
            write_orders: (20, 10),
            lag_load: (50, 1),
            lag_warmup: 0,
            mongo_lag_rates: vec![10],
            catalog: (10, 20),
            figures: vec![1, 2, 3, 4, 5, 7],
            scale_workers: vec![1, 2],
            scale_rates: vec![50],
            scale_mongo_rates: vec![10],
            scale_load: (1, 0),
            repeat: 1,
            warm_up: false,
            ..Self::full(backends, servers)
        }
    }

    fn wants(&self, figure: u8) -> bool {
        self.figures.contains(&figure)
    }
}

fn backend_kinds(backend: Backend, orders: usize, cfg: &BenchConfig) -> (PrimaryKind, GraphKind) {
    match backend {
        Backend::Memory => (PrimaryKind::Memory, GraphKind::Memory),
        Backend::Servers if orders > cfg.mongo_load_max_orders => {
            (PrimaryKind::Memory, GraphKind::Neo4j)
        }
        Backend::Servers => (PrimaryKind::Mongo, GraphKind::Neo4j),
    }
}

fn label(p: PrimaryKind, g: GraphKind) -> &'static str {
    match (p, g) {
        (PrimaryKind::Memory, GraphKind::Memory) => "memory",
        (PrimaryKind::Memory, GraphKind::Neo4j) => "memory+neo4j",
        (PrimaryKind::Mongo, GraphKind::Neo4j) => "mongo+neo4j",
        (PrimaryKind::Mongo, GraphKind::Memory) => "mongo+memory",
    }
}

/// Runs the configured figures and returns what they measured and checked. Fails when a store
/// fails (a failed correctness check is not an error: see [`Report::failed_checks`]). Every
/// server-side database and namespace it creates is removed before it returns.
pub async fn run(cfg: &BenchConfig) -> Result<Report> {
    if cfg.backends.contains(&Backend::Servers) && cfg.servers.is_none() {
        return Err(swiftbox_core::Error::invalid(
            "servers",
            "the servers backend needs SWIFTBOX_MONGO_URI and SWIFTBOX_NEO4J_URI",
        ));
    }
    let cpu_start = report::CpuTimes::now();
    // Figure 6 is exact: only the first counted pass runs it.
    let timed = BenchConfig {
        figures: cfg.figures.iter().copied().filter(|f| *f != 6).collect(),
        ..cfg.clone()
    };
    let warm_up = if cfg.warm_up && !timed.figures.is_empty() {
        crate::progress!("warm-up pass (reported apart, not counted)");
        Some(run_pass(&timed).await?)
    } else {
        None
    };
    let repeat = if timed.figures.is_empty() {
        1
    } else {
        cfg.repeat.max(1)
    };
    let mut passes = Vec::with_capacity(repeat);
    for pass in 0..repeat {
        crate::progress!("counted pass {} of {repeat}", pass + 1);
        passes.push(run_pass(if pass == 0 { cfg } else { &timed }).await?);
    }
    let mut report = Report::merge(passes);
    if let Some(w) = warm_up {
        report.warm_up = w.rows;
        report.checks.extend(w.checks);
    }
    report.meta.cpu = cpu_start
        .zip(report::CpuTimes::now())
        .and_then(|(start, end)| end.since(start));
    Ok(report)
}

/// One pass over the configured figures, on an environment of its own (its databases and
/// namespaces removed at the end).
async fn run_pass(cfg: &BenchConfig) -> Result<Report> {
    let env = Env::new(cfg.servers.clone()).keeping_graphs(cfg.keep_graphs);
    let mut report = Report::default();
    let result = Box::pin(run_in(cfg, &env, &mut report)).await;
    let cleanup = env.cleanup().await;
    for ns in env.kept_graphs() {
        report
            .meta
            .notes
            .push(format!("--keep-graphs: Neo4j namespace {ns} left in place"));
    }
    result?;
    cleanup?;
    Ok(report)
}

/// Every figure's future is boxed: inline, their state machines add up to more than a test
/// thread's 2 MiB stack in a debug build (`tests/quick.rs` overflowed it).
async fn run_in(cfg: &BenchConfig, env: &Env, report: &mut Report) -> Result<()> {
    report.meta = Meta {
        started: chrono::Utc::now().to_rfc3339(),
        commit: std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        quick: cfg.quick,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_at_start: report::load_average(),
        ..Meta::default()
    };
    if env.has_servers() && cfg.backends.contains(&Backend::Servers) {
        let (mongo, neo4j) = env.server_versions().await?;
        report.meta.mongo_server = Some(mongo);
        report.meta.neo4j_server = Some(neo4j);
    }
    for backend in &cfg.backends {
        let (p, g) = backend_kinds(*backend, 0, cfg);
        if cfg.wants(2) {
            Box::pin(figures::writes::run(env, report, cfg, p, g, label(p, g))).await?;
        }
        if cfg.wants(3) {
            let (rate, secs) = cfg.lag_load;
            if *backend == Backend::Servers {
                let m = PrimaryKind::Memory;
                Box::pin(figures::lag::run(
                    env,
                    report,
                    cfg,
                    (rate, secs),
                    m,
                    g,
                    label(m, g),
                ))
                .await?;
                for &rate in &cfg.mongo_lag_rates {
                    Box::pin(figures::lag::run(
                        env,
                        report,
                        cfg,
                        (rate, secs),
                        p,
                        g,
                        label(p, g),
                    ))
                    .await?;
                }
            } else {
                Box::pin(figures::lag::run(
                    env,
                    report,
                    cfg,
                    (rate, secs),
                    p,
                    g,
                    label(p, g),
                ))
                .await?;
            }
        }
        if cfg.wants(7) {
            // As figure 3: with the servers, a memory primary first (the graph's limit), then
            // MongoDB (the primary's).
            let mut runs = vec![(PrimaryKind::Memory, &cfg.scale_rates)];
            if *backend == Backend::Servers {
                runs.push((p, &cfg.scale_mongo_rates));
            }
            for (p, rates) in runs {
                if !rates.is_empty() {
                    Box::pin(figures::scale::run(
                        env,
                        report,
                        cfg,
                        rates,
                        p,
                        g,
                        label(p, g),
                    ))
                    .await?;
                }
            }
        }
    }
    for scale in &cfg.scales {
        let spec = scale.spec();
        for backend in &cfg.backends {
            let (p, g) = backend_kinds(*backend, spec.orders, cfg);
            if !(cfg.wants(1) || cfg.wants(4) || cfg.wants(5)) {
                continue;
            }
            if *backend == Backend::Servers && p == PrimaryKind::Memory {
                report.meta.notes.push(format!(
                    "{}: {} orders are more than --mongo-max-orders {}: the Neo4j graph is resynced \
                     from a MemoryStore loaded with load_into, and the primary-only baseline runs \
                     on that MemoryStore (in-process, no network: the most favourable primary)",
                    scale.name(),
                    spec.orders,
                    cfg.mongo_load_max_orders
                ));
            }
            let prepared = Box::pin(figures::resync::run(
                env,
                report,
                cfg,
                *scale,
                p,
                g,
                label(p, g),
            ))
            .await?;
            let query_figure = if *backend == Backend::Memory && *scale == Scale::L {
                5
            } else {
                4
            };
            if cfg.wants(query_figure) {
                Box::pin(figures::queries::run(
                    report,
                    cfg,
                    *scale,
                    &prepared,
                    query_figure,
                ))
                .await?;
            }
            prepared.dispose(env).await?;
        }
    }
    figures::queries::growth_rows(report);
    if cfg.wants(6) {
        let (name, ratings) = match &cfg.ratings {
            Some(r) => ("custom", std::sync::Arc::clone(r)),
            None => {
                crate::progress!("fig6: MovieLens-100k from {:?}", cfg.data_cache);
                let r = movielens::fetch(&cfg.data_cache)?;
                ("ml-100k", std::sync::Arc::new(r))
            }
        };
        Box::pin(figures::quality::run(env, report, cfg, name, &ratings)).await?;
    }
    Ok(())
}
