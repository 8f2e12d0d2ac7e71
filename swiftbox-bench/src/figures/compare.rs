//! Compares a graph's answer with the primary-only answer: same products in the same order,
//! same names, reasons and counts, scores equal up to floating-point summation order.

use std::fmt::Debug;

use swiftbox_core::{Recommendation, ScoredProduct, SimilarUser};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// `None` when both lists have the same length and `same` holds position by position, else
/// what differs first.
fn first_difference<T: Debug>(
    graph: &[T],
    baseline: &[T],
    same: impl Fn(&T, &T) -> bool,
) -> Option<String> {
    if graph.len() != baseline.len() {
        return Some(format!(
            "graph gave {} results, primary-only {}",
            graph.len(),
            baseline.len()
        ));
    }
    graph
        .iter()
        .zip(baseline)
        .position(|(g, b)| !same(g, b))
        .map(|i| {
            format!(
                "position {i}: graph {:?}, primary-only {:?}",
                graph[i], baseline[i]
            )
        })
}

/// Scored products: `None` when equal.
pub(crate) fn scored(graph: &[ScoredProduct], baseline: &[ScoredProduct]) -> Option<String> {
    first_difference(graph, baseline, |g, b| {
        g.product == b.product && g.name == b.name && close(g.score, b.score)
    })
}

/// Recommendations: `None` when equal.
pub(crate) fn recommendations(
    graph: &[Recommendation],
    baseline: &[Recommendation],
) -> Option<String> {
    first_difference(graph, baseline, |g, b| {
        g.product == b.product
            && g.name == b.name
            && g.reason == b.reason
            && close(g.score, b.score)
    })
}

/// Similar users: `None` when equal.
pub(crate) fn similar(graph: &[SimilarUser], baseline: &[SimilarUser]) -> Option<String> {
    first_difference(graph, baseline, |g, b| {
        g.user == b.user
            && g.username == b.username
            && g.shared == b.shared
            && close(g.similarity, b.similarity)
    })
}
