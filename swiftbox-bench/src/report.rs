//! What a run measured: rows of figures beside their baselines, correctness checks, and the
//! context (dataset, servers, machine, load) needed to read them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::quality::{Coverage, TopN};

/// One measured figure, beside its baseline when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Figure number (1 resync, 2 write overhead, 3 sync lag, 4/5 queries, 6 recommendation quality).
    pub figure: u8,
    /// Dataset scale (`XS`, `S`, `M`, `L`, or `-` when the figure has its own small catalog).
    pub scale: String,
    /// Backends, e.g. `memory`, `mongo+neo4j`.
    pub backend: String,
    /// What was measured.
    pub what: String,
    /// The measured value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The baseline's value, in the same unit.
    pub baseline: Option<f64>,
    /// What the baseline is.
    pub baseline_what: Option<String>,
    /// The ratio that the goal is about (see `ratio_what`).
    pub ratio: Option<f64>,
    /// How the ratio is formed.
    pub ratio_what: Option<String>,
    /// The goal, in words.
    pub goal: Option<String>,
    /// Whether the goal is met.
    pub met: Option<bool>,
    /// Number of samples behind the value (and the baseline).
    pub samples: String,
    /// One-minute load average when the measurement ended.
    pub load: f64,
    /// Anything needed to read the row honestly.
    pub note: String,
}

impl Row {
    /// A row with the given identity and value; everything else empty.
    pub fn new(
        figure: u8,
        scale: impl Into<String>,
        backend: impl Into<String>,
        what: impl Into<String>,
        value: f64,
        unit: impl Into<String>,
    ) -> Self {
        Self {
            figure,
            scale: scale.into(),
            backend: backend.into(),
            what: what.into(),
            value,
            unit: unit.into(),
            baseline: None,
            baseline_what: None,
            ratio: None,
            ratio_what: None,
            goal: None,
            met: None,
            samples: String::new(),
            load: load_average(),
            note: String::new(),
        }
    }

    /// Sets the baseline.
    pub fn baseline(mut self, value: f64, what: impl Into<String>) -> Self {
        self.baseline = Some(value);
        self.baseline_what = Some(what.into());
        self
    }

    /// Sets the ratio.
    pub fn ratio(mut self, ratio: f64, what: impl Into<String>) -> Self {
        self.ratio = Some(ratio);
        self.ratio_what = Some(what.into());
        self
    }

    /// Sets the goal and whether it is met.
    pub fn goal(mut self, goal: impl Into<String>, met: bool) -> Self {
        self.goal = Some(goal.into());
        self.met = Some(met);
        self
    }

    /// Sets the sample counts.
    pub fn samples(mut self, samples: impl Into<String>) -> Self {
        self.samples = samples.into();
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// Figure 6: one method's top-10 quality on one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct QualityRow {
    /// `random` or `temporal`.
    pub protocol: String,
    /// The method (a baseline, or SwiftBox's query).
    pub method: String,
    /// Where it ran (`memory`, `neo4j`, or the bench itself for baselines).
    pub backend: String,
    /// The metrics.
    pub metrics: TopN,
    /// The published P@10, R@10, NDCG@10 for this method and protocol, when there are some.
    pub reference: Option<[f64; 3]>,
    /// Anything needed to read the row.
    pub note: String,
}

/// Figure 6: how well one method's per-item lists ("customers also bought") cover the
/// held-out purchases.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    /// `random` or `temporal`.
    pub protocol: String,
    /// The method.
    pub method: String,
    /// Where it ran.
    pub backend: String,
    /// The coverage.
    pub coverage: Coverage,
}

/// A correctness check of what was measured (never a time).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// Details (what differed).
    pub detail: String,
}

/// The context of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meta {
    /// Start time (UTC, RFC 3339).
    pub started: String,
    /// `git rev-parse --short HEAD` of the working directory, when available.
    pub commit: Option<String>,
    /// Whether this was a quick run.
    pub quick: bool,
    /// Logical CPUs available.
    pub cpus: usize,
    /// One-minute load average at the start.
    pub load_at_start: f64,
    /// MongoDB-wire server version, when servers were used.
    pub mongo_server: Option<String>,
    /// Neo4j server version, when servers were used.
    pub neo4j_server: Option<String>,
    /// Datasets used: scale name and sizes.
    pub datasets: Vec<String>,
    /// What the run did differently from the plan, and why.
    pub notes: Vec<String>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Context.
    pub meta: Meta,
    /// Figures.
    pub rows: Vec<Row>,
    /// Correctness checks.
    pub checks: Vec<Check>,
    /// Figure 6: top-10 quality per protocol and method.
    pub quality: Vec<QualityRow>,
    /// Figure 6: also-bought coverage per protocol and method.
    pub coverage: Vec<CoverageRow>,
    /// Graph query medians by (graph, query, scale, purchases), for the growth rows.
    #[serde(skip)]
    pub(crate) query_points: Vec<QueryPoint>,
}

/// One graph query median at one scale.
#[derive(Debug, Clone)]
pub(crate) struct QueryPoint {
    pub(crate) graph: &'static str,
    pub(crate) query: &'static str,
    pub(crate) scale: &'static str,
    pub(crate) purchases: usize,
    pub(crate) p50_ms: f64,
}

impl Report {
    /// Records a check.
    pub fn check(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        let check = Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        };
        if !check.ok {
            eprintln!("CHECK FAILED: {}: {}", check.name, check.detail);
        }
        self.checks.push(check);
    }

    /// The checks that failed.
    pub fn failed_checks(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    /// A Markdown table of the rows, then the checks' summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| fig | scale | backend | measured | value | baseline | ratio | goal | met | n | load | note |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let baseline = match (&r.baseline, &r.baseline_what) {
                (Some(v), Some(w)) => format!("{} {} ({w})", num(*v), r.unit),
                _ => String::new(),
            };
            let ratio = match (&r.ratio, &r.ratio_what) {
                (Some(v), Some(w)) => format!("{}x ({w})", num(*v)),
                _ => String::new(),
            };
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} {} | {} | {} | {} | {} | {} | {:.1} | {} |",
                r.figure,
                r.scale,
                r.backend,
                r.what,
                num(r.value),
                r.unit,
                baseline,
                ratio,
                r.goal.as_deref().unwrap_or(""),
                met,
                r.samples,
                r.load,
                r.note
            );
        }
        if !self.quality.is_empty() {
            let _ = writeln!(
                out,
                "\n| protocol | method | backend | P@10 | R@10 | NDCG@10 | HR@10 | users | published P@10 / R@10 / NDCG@10 | note |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            for q in &self.quality {
                let m = &q.metrics;
                let reference = q
                    .reference
                    .map(|r| format!("{:.4} / {:.4} / {:.4}", r[0], r[1], r[2]))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {reference} | {} |",
                    q.protocol,
                    q.method,
                    q.backend,
                    m.precision,
                    m.recall,
                    m.ndcg,
                    m.hit_rate,
                    m.users,
                    q.note
                );
            }
        }
        if !self.coverage.is_empty() {
            let _ = writeln!(
                out,
                "\n| protocol | item-to-item lists (10 per item) | backend | held-out pairs covered | unseen items shown per user | pairs |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for c in &self.coverage {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.4} | {:.1} | {} |",
                    c.protocol,
                    c.method,
                    c.backend,
                    c.coverage.covered,
                    c.coverage.shown,
                    c.coverage.pairs
                );
            }
        }
        let failed = self.failed_checks();
        let _ = writeln!(
            out,
            "\ncorrectness checks: {} passed, {} failed",
            self.checks.len() - failed.len(),
            failed.len()
        );
        for c in failed {
            let _ = writeln!(out, "  FAILED {}: {}", c.name, c.detail);
        }
        out
    }
}

/// A number with about three significant digits.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The one-minute load average (0 where `/proc/loadavg` is unreadable).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}
