//! The [`GraphStore`] conformance suite: public async checks, each taking a FRESH, EMPTY graph
//! with the default [`crate::GraphLimits`], and panicking (like `assert!`) when the graph
//! misbehaves. [`fixture`] is the small fixed shop most checks load; every expected answer is
//! worked out by hand from the documented semantics, in the comments beside it.
//!
//! Run them all with [`crate::graph_conformance_tests!`]:
//!
//! ```ignore
//! swiftbox_core::graph_conformance_tests!(|| async { swiftbox_core::memory::MemoryGraph::new() });
//! ```
//!
//! Decisions the suite pins down where the trait docs leave room (every backend must agree):
//! a product's category in queries is its `category` property; deletions are remembered with
//! their version (tombstones), so an older upsert arriving later is stale; "recent buyers
//! (cap n) other than the user" caps first and drops the user afterwards (likewise for
//! products); `records` refuses a `limit` of 0; `counts` lists every kind, zeros included.

pub mod fixture;
mod queries;
mod writes;

pub use queries::*;
pub use writes::*;

use std::fmt::Debug;

use crate::error::Result;
use crate::graph::{Reason, Recommendation, ScoredProduct};
use crate::id::ProductId;

/// Generates one `#[tokio::test]` per check of [`crate::conformance::graph`], each on a fresh
/// graph from `$make`: an expression of a closure returning a future of the graph (anything
/// implementing `GraphStore`). The calling crate needs `tokio` (features `macros`,
/// `rt-multi-thread`) among its dev-dependencies.
///
/// ```ignore
/// swiftbox_core::graph_conformance_tests!(|| async { MemoryGraph::new() });
/// ```
#[macro_export]
macro_rules! graph_conformance_tests {
    ($make:expr) => {
        $crate::graph_conformance_tests!(@checks $make;
            empty_graph_has_nothing,
            fixture_loads_with_exact_counts,
            records_page_by_id,
            recommendations_collaborative_then_fill,
            recommendations_cold_start,
            neighbour_lists_follow_marks,
            also_bought_ranks_co_buyers,
            popular_by_metric_and_category,
            trending_decays_with_age,
            purchase_history_newest_first,
            similar_users_by_jaccard,
            fan_out_is_capped,
            limits_are_validated,
            replay_is_idempotent,
            batch_order_does_not_matter,
            older_versions_are_stale,
            missing_references_are_deferred,
            deleting_a_user_detaches_it,
            deleting_a_product_detaches_it,
            deleting_orders_reviews_categories,
            product_category_moves,
            record_view_semantics,
            forgetting_tombstones,
        );
    };
    (@checks $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let make = $make;
                let graph = make().await;
                $crate::conformance::graph::$check(&graph).await;
            }
        )+
    };
}

/// Unwraps a result of the graph under test, failing the check with the error otherwise.
#[track_caller]
fn ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Refreshes neighbour lists until no product is marked.
async fn refresh_all(graph: &dyn crate::graph::GraphStore) {
    for _ in 0..10_000 {
        let done = ok(
            graph.refresh_neighbours(100).await,
            "refreshing neighbour lists",
        );
        if done.marked == 0 {
            return;
        }
    }
    panic!("neighbour lists still marked after 10,000 refreshes");
}

/// Whether two scores agree to a relative 1e-9.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Asserts a ranked list of scored products: exact order, scores within 1e-9 relative.
#[track_caller]
fn assert_scored(actual: &[ScoredProduct], expected: &[(ProductId, f64)], what: &str) {
    let got: Vec<(ProductId, f64)> = actual.iter().map(|s| (s.product, s.score)).collect();
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(g, e)| g.0 == e.0 && close(g.1, e.1));
    assert!(same, "{what}:\n got      {got:?}\n expected {expected:?}");
}

/// Asserts ranked recommendations: exact order and reasons, scores within 1e-9 relative.
#[track_caller]
fn assert_recs(actual: &[Recommendation], expected: &[(ProductId, f64, Reason)], what: &str) {
    let got: Vec<(ProductId, f64, Reason)> = actual
        .iter()
        .map(|r| (r.product, r.score, r.reason.clone()))
        .collect();
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(g, e)| g.0 == e.0 && close(g.1, e.1) && g.2 == e.2);
    assert!(same, "{what}:\n got      {got:?}\n expected {expected:?}");
}

/// Asserts two values are equal with a readable message.
#[track_caller]
fn assert_same<T: PartialEq + Debug>(actual: T, expected: T, what: &str) {
    assert!(
        actual == expected,
        "{what}:\n got      {actual:?}\n expected {expected:?}"
    );
}
