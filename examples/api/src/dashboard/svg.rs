//! Coordinates for the dashboard's SVG: the owed-changes chart and the recommendation graph.
//! Only numbers are computed here; the templates draw them and escape every label.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::operator::Sample;

/// The chart: two lines over the samples' time span, each on its own scale.
#[derive(Debug)]
pub(super) struct Chart {
    pub(super) width: u32,
    pub(super) height: u32,
    /// `x,y x,y ...` of owed changes.
    pub(super) owed: String,
    /// `x,y x,y ...` of the oldest owed age.
    pub(super) age: String,
    /// The top of each scale.
    pub(super) owed_max: u64,
    pub(super) age_max: u64,
    /// Seconds the x axis spans.
    pub(super) span_secs: i64,
    /// Samples drawn.
    pub(super) samples: usize,
}

const CHART_WIDTH: u32 = 560;
const CHART_HEIGHT: u32 = 140;
const PAD: f64 = 12.0;
/// The x axis spans at least this long, so a fresh service's chart does not zoom into seconds.
const MIN_SPAN_SECS: i64 = 60;

impl Chart {
    pub(super) fn new(samples: &[Sample]) -> Self {
        let owed_max = samples.iter().map(|s| s.owed).max().unwrap_or(0).max(1);
        let age_max = samples
            .iter()
            .map(|s| s.oldest_owed_age_secs)
            .max()
            .unwrap_or(0)
            .max(1);
        let end = samples.last().map_or(DateTime::<Utc>::UNIX_EPOCH, |s| s.at);
        let first = samples.first().map_or(end, |s| s.at);
        let span_secs = (end - first).num_seconds().max(MIN_SPAN_SECS);
        let start = end - chrono::Duration::seconds(span_secs);
        let (w, h) = (f64::from(CHART_WIDTH), f64::from(CHART_HEIGHT));
        let x = |at: DateTime<Utc>| {
            let t = (at - start).num_milliseconds() as f64 / (span_secs as f64 * 1000.0);
            PAD + t.clamp(0.0, 1.0) * (w - 2.0 * PAD)
        };
        let y = |v: u64, max: u64| h - PAD - (v as f64 / max as f64) * (h - 2.0 * PAD);
        let line = |value: &dyn Fn(&Sample) -> u64, max: u64| {
            let mut points = String::new();
            for s in samples {
                let _ = write!(points, "{:.1},{:.1} ", x(s.at), y(value(s), max));
            }
            points.trim_end().to_owned()
        };
        Self {
            width: CHART_WIDTH,
            height: CHART_HEIGHT,
            owed: line(&|s| s.owed, owed_max),
            age: line(&|s| s.oldest_owed_age_secs, age_max),
            owed_max,
            age_max,
            span_secs,
            samples: samples.len(),
        }
    }
}

/// A box in the graph.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) label: String,
    /// The full text, shown on hover.
    pub(super) title: String,
    /// `user`, `bought`, `candidate` or `popular`.
    pub(super) class: &'static str,
}

/// A line between two boxes.
#[derive(Debug)]
pub(super) struct Edge {
    pub(super) x1: u32,
    pub(super) y1: u32,
    pub(super) x2: u32,
    pub(super) y2: u32,
    /// `bought` (user to product) or `because` (a bought product to what it led to).
    pub(super) class: &'static str,
}

/// The recommendation graph: the user, the products they bought, the recommended products;
/// edges from the user to each bought product and from each `because` product to what it led
/// to.
#[derive(Debug, Default)]
pub(super) struct Graph {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) node_width: u32,
    pub(super) node_height: u32,
    pub(super) nodes: Vec<Node>,
    pub(super) edges: Vec<Edge>,
}

const NODE_W: u32 = 190;
const NODE_H: u32 = 26;
const ROW: u32 = 34;
const TOP: u32 = 30;
const COLUMNS: [u32; 3] = [8, 262, 516];
const LABEL_CHARS: usize = 24;

/// `text` cut to fit a box.
fn fit(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(LABEL_CHARS - 1).collect();
    format!("{cut}…")
}

/// One column of the graph being laid out.
pub(super) struct Column<'a> {
    /// (label, hover text, class) of each box, top to bottom.
    pub(super) boxes: Vec<(&'a str, String, &'static str)>,
}

impl Graph {
    /// Lays out three columns (user, bought, recommended) and the edges between them: `bought`
    /// edges from the user to every bought box, and `links` as (bought index, recommended
    /// index) pairs.
    pub(super) fn new(
        user: Column<'_>,
        bought: Column<'_>,
        recommended: Column<'_>,
        links: &[(usize, usize)],
    ) -> Self {
        let rows = [&user, &bought, &recommended]
            .iter()
            .map(|c| c.boxes.len())
            .max()
            .unwrap_or(0)
            .max(1) as u32;
        let height = TOP + rows * ROW + 8;
        // Each column centred vertically.
        let place = |column: &Column<'_>, col: usize| -> Vec<Node> {
            let n = column.boxes.len() as u32;
            let offset = TOP + (rows - n) * ROW / 2;
            column
                .boxes
                .iter()
                .enumerate()
                .map(|(i, (label, title, class))| Node {
                    x: COLUMNS[col],
                    y: offset + i as u32 * ROW,
                    label: fit(label),
                    title: title.clone(),
                    class,
                })
                .collect()
        };
        let users = place(&user, 0);
        let products = place(&bought, 1);
        let candidates = place(&recommended, 2);
        let mid = NODE_H / 2;
        let mut edges = Vec::new();
        for u in &users {
            for p in &products {
                edges.push(Edge {
                    x1: u.x + NODE_W,
                    y1: u.y + mid,
                    x2: p.x,
                    y2: p.y + mid,
                    class: "bought",
                });
            }
        }
        for (from, to) in links {
            if let (Some(p), Some(c)) = (products.get(*from), candidates.get(*to)) {
                edges.push(Edge {
                    x1: p.x + NODE_W,
                    y1: p.y + mid,
                    x2: c.x,
                    y2: c.y + mid,
                    class: "because",
                });
            }
        }
        Self {
            width: COLUMNS[2] + NODE_W + 8,
            height,
            node_width: NODE_W,
            node_height: NODE_H,
            nodes: users
                .into_iter()
                .chain(products)
                .chain(candidates)
                .collect(),
            edges,
        }
    }

    /// The x of each column's heading.
    pub(super) fn headings(&self) -> [(u32, &'static str); 3] {
        [
            (COLUMNS[0], "user"),
            (COLUMNS[1], "bought (seeds)"),
            (COLUMNS[2], "recommended"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scales_each_line_to_its_own_maximum() {
        let at = |s: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(s);
        let samples = [
            Sample {
                at: at(0),
                owed: 0,
                set_aside: 0,
                oldest_owed_age_secs: 0,
            },
            Sample {
                at: at(120),
                owed: 4,
                set_aside: 1,
                oldest_owed_age_secs: 30,
            },
        ];
        let chart = Chart::new(&samples);
        assert_eq!(
            (chart.owed_max, chart.age_max, chart.span_secs),
            (4, 30, 120)
        );
        // First point bottom left, last top right, on both lines.
        assert_eq!(chart.owed, "12.0,128.0 548.0,12.0");
        assert_eq!(chart.age, chart.owed);
        assert_eq!(Chart::new(&[]).owed, "");
    }

    #[test]
    fn the_graph_links_seeds_to_what_they_led_to() {
        let col = |labels: &[&'static str], class| Column {
            boxes: labels.iter().map(|l| (*l, l.to_string(), class)).collect(),
        };
        let graph = Graph::new(
            col(&["ann"], "user"),
            col(&["a", "b"], "bought"),
            col(&["c"], "candidate"),
            &[(1, 0), (5, 0)],
        );
        assert_eq!(graph.nodes.len(), 4);
        // Two `bought` edges, one `because` edge (the out-of-range link is dropped).
        let classes: Vec<_> = graph.edges.iter().map(|e| e.class).collect();
        assert_eq!(classes, ["bought", "bought", "because"]);
        assert_eq!(fit(&"x".repeat(40)).chars().count(), LABEL_CHARS);
    }
}
