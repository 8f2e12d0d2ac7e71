//! What a run measured: rows of figures beside their baselines, correctness checks, and the
//! context (dataset, servers, machine, load) needed to read them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::quality::{Coverage, TopN};

/// One measured figure, beside its baseline when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Figure number (1 resync, 2 write overhead, 3 sync lag, 4/5 queries, 6 recommendation
    /// quality, 7 scale-out).
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
    /// Whether the goal is met (in every pass, when several were run).
    pub met: Option<bool>,
    /// The goal is not settled by the passes: met in some and missed in others, or the spread
    /// of the passes (of the value or the ratio) is wider than the median's distance to the
    /// goal's bound on it (see [`Row::bounds`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsettled: bool,
    /// The goal's bound on the value (e.g. below 100 for "p99 < 100 ms"), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_bound: Option<Bound>,
    /// The goal's bound on the ratio (e.g. at least 10 for ">= 10x"), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_bound: Option<Bound>,
    /// The lowest and highest ratio of the passes, when there were several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_range: Option<(f64, f64)>,
    /// Passes behind the value (the median of theirs), and their lowest and highest value.
    pub passes: usize,
    /// The lowest and highest value of the passes, when there were several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64)>,
    /// Number of samples behind the value (and the baseline).
    pub samples: String,
    /// One-minute load average when the measurement ended.
    pub load: f64,
    /// Anything needed to read the row honestly (with several passes, the first pass's).
    pub note: String,
    /// With several passes, each pass's value and note, in pass order (in the JSON only: what
    /// a pass far from the median saw, such as figure 3's slowest apply).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pass_notes: Vec<(f64, String)>,
    /// Figure 7: the cell and quantity of the row (printed in the figure's own table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<ScaleCell>,
}

/// One numeric part of a goal: a quantity must stay below, or reach at least, a number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Bound {
    /// Met when the quantity is below the number.
    Below(f64),
    /// Met when the quantity is at most the number.
    AtMost(f64),
    /// Met when the quantity is at least the number.
    AtLeast(f64),
}

/// How the passes stand against one [`Bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Every pass meets it, and the spread is narrower than the distance to it.
    Met,
    /// Every pass misses it, and the spread is narrower than the distance to it.
    Missed,
    /// The passes disagree, or their spread is wider than the median's distance to it.
    Close,
}

impl Bound {
    fn meets(self, x: f64) -> bool {
        match self {
            Bound::Below(b) => x < b,
            Bound::AtMost(b) => x <= b,
            Bound::AtLeast(b) => x >= b,
        }
    }

    fn number(self) -> f64 {
        match self {
            Bound::Below(b) | Bound::AtMost(b) | Bound::AtLeast(b) => b,
        }
    }

    /// Where passes whose values span `(lo, hi)` stand, their median being `median`: a bound is
    /// a threshold, so every value meets it when both ends do, and misses it when both miss.
    fn standing(self, (lo, hi): (f64, f64), median: f64) -> Standing {
        let close = hi - lo > (median - self.number()).abs();
        match (
            self.meets(lo) && self.meets(hi),
            !self.meets(lo) && !self.meets(hi),
        ) {
            (true, _) if !close => Standing::Met,
            (_, true) if !close => Standing::Missed,
            _ => Standing::Close,
        }
    }
}

/// Figure 7: one cell of the scale-out grid (workers at an offered write rate) and which of
/// its quantities a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleCell {
    /// Leased workers draining the owed changes.
    pub workers: u32,
    /// Offered writes (orders) per second.
    pub offered: u32,
    /// The quantity.
    pub metric: ScaleMetric,
}

/// What a figure 7 row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScaleMetric {
    /// Writes per second the primary achieved.
    Achieved,
    /// Orders per second the workers made visible in the graph.
    Synced,
    /// Purchases (order lines) per second the workers wrote into the graph.
    Purchases,
    /// Sync lag p50, ms.
    LagP50,
    /// Sync lag p99, ms.
    LagP99,
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
            unsettled: false,
            value_bound: None,
            ratio_bound: None,
            ratio_range: None,
            passes: 1,
            range: None,
            samples: String::new(),
            load: load_average(),
            note: String::new(),
            pass_notes: Vec::new(),
            cell: None,
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

    /// Sets the goal's bounds on the value and on the ratio (`Bound::Below(100.0)` for "p99 <
    /// 100 ms"), by which passes whose spread is wider than the distance to a bound leave the
    /// goal *unsettled* (issue 18: such a figure is not "met"), unless another bound is
    /// clearly missed.
    pub fn bounds(mut self, value: Option<Bound>, ratio: Option<Bound>) -> Self {
        self.value_bound = value;
        self.ratio_bound = ratio;
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

    /// Sets the figure 7 cell.
    pub fn cell(mut self, workers: u32, offered: u32, metric: ScaleMetric) -> Self {
        self.cell = Some(ScaleCell {
            workers,
            offered,
            metric,
        });
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
    /// Counted passes over the timed figures.
    pub passes: usize,
    /// Datasets used: scale name and sizes.
    pub datasets: Vec<String>,
    /// How the machine's CPUs spent the whole run (warm-up included), where `/proc/stat` says.
    pub cpu: Option<CpuShares>,
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
    /// Correctness checks (of every pass, the warm-up's included).
    pub checks: Vec<Check>,
    /// The warm-up pass's rows: reported, not counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warm_up: Vec<Row>,
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

/// The lowest and highest of `values`.
pub(crate) fn range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

impl Row {
    /// One row from the same measurement's rows of several passes: the median value, baseline
    /// and ratio, the ranges of the values and ratios, and the goal met only when every pass
    /// met it; *unsettled* when some passes met it and some did not, or when the spread of
    /// the values (or ratios) is wider than their median's distance to the goal's bound.
    fn merged(group: &[Row]) -> Row {
        let first = &group[0];
        if group.len() == 1 {
            return first.clone();
        }
        let some = |f: fn(&Row) -> Option<f64>| {
            let v: Vec<f64> = group.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| median(v))
        };
        let values: Vec<f64> = group.iter().map(|r| r.value).collect();
        let ratios: Vec<f64> = group.iter().filter_map(|r| r.ratio).collect();
        let (lo, hi) = range(&values);
        let ratio_range = (ratios.len() == group.len()).then(|| range(&ratios));
        let value = median(values.clone());
        let ratio = some(|r| r.ratio);
        let mets: Vec<bool> = group.iter().filter_map(|r| r.met).collect();
        let met = (mets.len() == group.len()).then(|| mets.iter().all(|m| *m));
        let mut standings = Vec::new();
        if let Some(b) = first.value_bound {
            standings.push(b.standing((lo, hi), value));
        }
        if let (Some(b), Some(r), Some(span)) = (first.ratio_bound, ratio, ratio_range) {
            standings.push(b.standing(span, r));
        }
        let missed = standings.contains(&Standing::Missed);
        let unsettled = met.is_some()
            && !missed
            && ((mets.iter().any(|m| *m) && mets.iter().any(|m| !*m))
                || standings.contains(&Standing::Close));
        Row {
            value,
            baseline: some(|r| r.baseline),
            ratio,
            met,
            unsettled,
            passes: group.len(),
            range: Some((lo, hi)),
            ratio_range,
            load: median(group.iter().map(|r| r.load).collect()),
            pass_notes: group.iter().map(|r| (r.value, r.note.clone())).collect(),
            ..first.clone()
        }
    }
}

impl Report {
    /// One report from several passes of the same figures: each measurement (figure, scale,
    /// backend, what) becomes one row by [`Row::merged`], in the order of first appearance;
    /// the checks of every pass are kept; figure 6's rows and the context are the first
    /// pass's.
    pub fn merge(passes: Vec<Report>) -> Report {
        let n = passes.len();
        let mut passes = passes.into_iter();
        let Some(mut out) = passes.next() else {
            return Report::default();
        };
        out.meta.passes = n;
        let mut groups: Vec<Vec<Row>> = std::mem::take(&mut out.rows)
            .into_iter()
            .map(|r| vec![r])
            .collect();
        for pass in passes {
            for row in pass.rows {
                let key = |r: &Row| (r.figure, r.scale.clone(), r.backend.clone(), r.what.clone());
                match groups.iter_mut().find(|g| key(&g[0]) == key(&row)) {
                    Some(g) => g.push(row),
                    None => groups.push(vec![row]),
                }
            }
            out.checks.extend(pass.checks);
            for note in pass.meta.notes {
                if !out.meta.notes.contains(&note) {
                    out.meta.notes.push(note);
                }
            }
        }
        out.rows = groups.iter().map(|g| Row::merged(g)).collect();
        out
    }

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

    /// A Markdown table of the rows (medians of the counted passes, with their range), the
    /// warm-up pass's rows apart, then the checks' summary.
    pub fn table(&self) -> String {
        let mut out = rows_table(&self.rows);
        if self.rows.iter().any(|r| r.cell.is_some()) {
            let _ = writeln!(out, "\nfigure 7, scale-out (medians, ranges):\n");
            out.push_str(&scale_table(&self.rows));
        }
        if !self.warm_up.is_empty() {
            let _ = writeln!(out, "\nwarm-up pass (not counted):\n");
            out.push_str(&rows_table(&self.warm_up));
            if self.warm_up.iter().any(|r| r.cell.is_some()) {
                out.push('\n');
                out.push_str(&scale_table(&self.warm_up));
            }
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

/// Figure 7's table: one line per backend and cell (workers at an offered rate), its
/// quantities side by side as median (range).
fn scale_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| backend | workers | offered writes/s | achieved writes/s | synced orders/s | graph purchases/s | lag p50 ms | lag p99 ms | n | load |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let mut cells: Vec<(&str, u32, u32)> = Vec::new();
    for r in rows {
        if let Some(c) = &r.cell {
            let key = (r.backend.as_str(), c.workers, c.offered);
            if !cells.contains(&key) {
                cells.push(key);
            }
        }
    }
    for (backend, workers, offered) in cells {
        let of = |metric: ScaleMetric| {
            rows.iter().find(|r| {
                r.backend == backend
                    && r.cell
                        == Some(ScaleCell {
                            workers,
                            offered,
                            metric,
                        })
            })
        };
        let show = |metric: ScaleMetric| match of(metric) {
            Some(r) => match r.range {
                Some((lo, hi)) => format!("{} ({}-{})", num(r.value), num(lo), num(hi)),
                None => num(r.value),
            },
            None => String::new(),
        };
        let (passes, load) = of(ScaleMetric::Synced).map_or((0, 0.0), |r| (r.passes, r.load));
        let _ = writeln!(
            out,
            "| {backend} | {workers} | {offered} | {} | {} | {} | {} | {} | {passes} | {load:.1} |",
            show(ScaleMetric::Achieved),
            show(ScaleMetric::Synced),
            show(ScaleMetric::Purchases),
            show(ScaleMetric::LagP50),
            show(ScaleMetric::LagP99),
        );
    }
    out
}

/// The Markdown table of `rows`; of figure 7's, only the synced rate (with the cell's notes):
/// the rest is in [`scale_table`].
fn rows_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| fig | scale | backend | measured | value (median, range) | baseline | ratio | goal | met | n | load | note |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let shown = |r: &&Row| !matches!(r.cell, Some(c) if c.metric != ScaleMetric::Synced);
    for r in rows.iter().filter(shown) {
        let baseline = match (&r.baseline, &r.baseline_what) {
            (Some(v), Some(w)) => format!("{} {} ({w})", num(*v), r.unit),
            _ => String::new(),
        };
        let ratio = match (&r.ratio, &r.ratio_what) {
            (Some(v), Some(w)) => format!("{}x ({w})", num(*v)),
            _ => String::new(),
        };
        let value = match r.range {
            Some((lo, hi)) => format!(
                "{} {} ({}-{}, {} passes)",
                num(r.value),
                r.unit,
                num(lo),
                num(hi),
                r.passes
            ),
            None => format!("{} {}", num(r.value), r.unit),
        };
        let met = match (r.met, r.unsettled) {
            (_, true) => "unsettled",
            (Some(true), _) => "yes",
            (Some(false), _) => "NO",
            (None, _) => "",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {value} | {} | {} | {} | {} | {} | {:.1} | {} |",
            r.figure,
            r.scale,
            r.backend,
            r.what,
            baseline,
            ratio,
            r.goal.as_deref().unwrap_or(""),
            met,
            r.samples,
            r.load,
            r.note
        );
    }
    out
}

/// A number with about three significant digits.
pub(crate) fn num(v: f64) -> String {
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

/// The machine's CPU time so far, all CPUs together, from the first line of `/proc/stat` (in
/// clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// user, nice, system, irq and softirq.
    busy: u64,
    iowait: u64,
    /// Time the hypervisor gave to someone else while this machine wanted to run.
    steal: u64,
    /// Every kind of time above, plus idle.
    total: u64,
}

impl CpuTimes {
    /// Now; `None` where `/proc/stat` cannot be read.
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// From the text of `/proc/stat`: its first line, `cpu user nice system idle iowait irq
    /// softirq steal ...` (guest time is already counted in user and nice).
    fn parse(text: &str) -> Option<Self> {
        let mut fields = text.lines().next()?.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = fields
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
            return None;
        };
        let busy = user + nice + system + irq + softirq;
        Some(Self {
            busy,
            iowait,
            steal,
            total: busy + idle + iowait + steal,
        })
    }

    /// How the time since `start` was spent; `None` when no time passed (or the counters went
    /// back).
    pub fn since(self, start: Self) -> Option<CpuShares> {
        let total = self.total.checked_sub(start.total).filter(|t| *t > 0)? as f64;
        let share = |now: u64, then: u64| now.saturating_sub(then) as f64 / total * 100.0;
        Some(CpuShares {
            busy: share(self.busy, start.busy),
            iowait: share(self.iowait, start.iowait),
            steal: share(self.steal, start.steal),
        })
    }
}

/// Shares of the machine's CPU time over a span, in percent of all CPUs' time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuShares {
    /// Running anything (ours or not).
    pub busy: f64,
    /// Idle with I/O outstanding.
    pub iowait: f64,
    /// Taken by the hypervisor for other machines: a host busy with other tenants.
    pub steal: f64,
}

/// The one-minute load average (0 where `/proc/loadavg` is unreadable).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(value: f64, met: bool, check_ok: bool) -> Report {
        let mut r = Report::default();
        r.rows
            .push(Row::new(1, "S", "memory", "resync", value, "/s").goal(">= 10", met));
        r.rows.push(Row::new(
            4,
            "S",
            "memory",
            "popular p99",
            value / 10.0,
            "ms",
        ));
        r.check("a check", check_ok, "");
        r
    }

    #[test]
    fn cpu_shares_come_from_the_first_line_of_proc_stat() {
        let start = CpuTimes::parse("cpu  100 0 50 800 20 5 5 20 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
            .expect("parsed");
        let end = CpuTimes::parse("cpu  400 0 110 1200 40 5 5 40 0 0\n").expect("parsed");
        // 360 busy, 400 idle, 20 iowait, 20 steal: 800 ticks.
        let shares = end.since(start).expect("time passed");
        assert_eq!((shares.busy, shares.iowait, shares.steal), (45.0, 2.5, 2.5));
        assert_eq!(end.since(end), None);
        assert_eq!(start.since(end), None);
        assert_eq!(CpuTimes::parse("intr 1 2 3"), None);
        assert_eq!(CpuTimes::parse("cpu 1 2 3"), None);
    }

    #[test]
    fn passes_merge_into_medians_ranges_and_unsettled_goals() {
        let merged = Report::merge(vec![
            pass(12.0, true, true),
            pass(8.0, false, true),
            pass(11.0, true, false),
        ]);
        assert_eq!(merged.meta.passes, 3);
        assert_eq!(merged.rows.len(), 2);
        let resync = &merged.rows[0];
        assert_eq!(resync.value, 11.0);
        assert_eq!(resync.range, Some((8.0, 12.0)));
        assert_eq!(resync.passes, 3);
        assert_eq!(resync.met, Some(false));
        assert!(resync.unsettled);
        let values: Vec<f64> = resync.pass_notes.iter().map(|(v, _)| *v).collect();
        assert_eq!(
            values,
            [12.0, 8.0, 11.0],
            "each pass's value, in pass order"
        );
        let popular = &merged.rows[1];
        assert_eq!(popular.value, 1.1);
        assert_eq!(popular.met, None);
        assert!(!popular.unsettled);
        assert_eq!(merged.checks.len(), 3);
        assert_eq!(merged.failed_checks().len(), 1);
        assert!(merged.table().contains("unsettled"));
    }

    /// Issue 18: a figure whose spread is wider than its distance to the goal is unsettled,
    /// even when every pass met the goal.
    #[test]
    fn a_spread_wider_than_the_distance_to_the_bound_is_unsettled() {
        let lag = |v: f64| {
            let mut r = Report::default();
            r.rows.push(
                Row::new(3, "-", "x", "lag p99", v, "ms")
                    .goal("p99 < 100 ms", v < 100.0)
                    .bounds(Some(Bound::Below(100.0)), None),
            );
            r
        };
        // Met in all three, but 55..99 is wider than 100 - 71.
        let close = Report::merge(vec![lag(55.0), lag(71.0), lag(99.0)]);
        assert_eq!(close.rows[0].met, Some(true));
        assert!(close.rows[0].unsettled);
        // Met in all three, tight: 14..15 is narrower than 100 - 14.4.
        let tight = Report::merge(vec![lag(14.0), lag(14.4), lag(15.0)]);
        assert!(!tight.rows[0].unsettled);
        // The same on the ratio.
        let ratio = |x: f64| {
            let mut r = Report::default();
            r.rows.push(
                Row::new(4, "M", "x", "p99", 5.0, "ms")
                    .ratio(x, "baseline / graph")
                    .goal(">= 10x", x >= 10.0)
                    .bounds(None, Some(Bound::AtLeast(10.0))),
            );
            r
        };
        let wide = Report::merge(vec![ratio(11.0), ratio(19.0), ratio(30.0)]);
        assert_eq!(wide.rows[0].ratio_range, Some((11.0, 30.0)));
        assert!(
            wide.rows[0].unsettled,
            "19 is 9 from the bound, the spread 19"
        );
        assert!(wide.table().contains("unsettled"));
        // A compound goal with one part clearly missed is missed, not unsettled.
        let both = |v: f64, x: f64| {
            let mut r = Report::default();
            r.rows.push(
                Row::new(1, "M", "x", "resync", v, "/s")
                    .ratio(x, "resync / per-change")
                    .goal(">= 20x and >= 30,000/s", x >= 20.0 && v >= 30_000.0)
                    .bounds(Some(Bound::AtLeast(30_000.0)), Some(Bound::AtLeast(20.0))),
            );
            r
        };
        let missed = Report::merge(vec![
            both(19_000.0, 18.0),
            both(21_000.0, 21.0),
            both(22_000.0, 19.0),
        ]);
        assert_eq!(missed.rows[0].met, Some(false));
        assert!(!missed.rows[0].unsettled, "30,000/s is clearly missed");
    }

    #[test]
    fn a_goal_met_in_every_pass_is_met_and_one_pass_is_kept_as_is() {
        let merged = Report::merge(vec![pass(12.0, true, true), pass(14.0, true, true)]);
        assert_eq!(merged.rows[0].met, Some(true));
        assert!(!merged.rows[0].unsettled);
        assert_eq!(merged.rows[0].value, 13.0);
        let one = Report::merge(vec![pass(12.0, false, true)]);
        assert_eq!(one.rows[0].range, None);
        assert_eq!(one.rows[0].met, Some(false));
        assert!(median(vec![]).is_nan());
    }
}
