//! Figure 6's arithmetic on examples small enough to check by hand, and the figure's whole
//! pipeline (load through `Synced`, query, score) on a small synthetic set, so it never rots.
//! Asserts how metrics are computed, never a quality number of a method.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use swiftbox_bench::movielens::Rating;
use swiftbox_bench::quality::{
    coverage, random_split, temporal_split, ItemKnn, MetricSum, MostPopular, Split,
};
use swiftbox_bench::{run, Backend, BenchConfig};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn r(user: u32, item: u32, timestamp: i64) -> Rating {
    Rating {
        user,
        item,
        stars: 5,
        timestamp,
    }
}

#[test]
fn metrics_match_a_hand_computed_example() {
    let mut sum = MetricSum::new(3);
    // One hit at rank 2 of 3, two relevant items: P 1/3, R 1/2, NDCG (1/log2 3) / (1 + 1/log2 3).
    sum.add(&[1, 2, 3], &HashSet::from([2, 5]));
    // No hit.
    sum.add(&[4, 5, 6], &HashSet::from([7]));
    // A short list with one hit: precision still divides by k.
    sum.add(&[8], &HashSet::from([8]));
    // No test items: not counted.
    sum.add(&[9], &HashSet::new());
    let m = sum.mean();
    let l3 = 1.0 / 3f64.log2();
    assert_eq!(m.users, 3);
    assert!(
        close(m.precision, (1.0 / 3.0 + 0.0 + 1.0 / 3.0) / 3.0),
        "{m:?}"
    );
    assert!(close(m.recall, (0.5 + 0.0 + 1.0) / 3.0), "{m:?}");
    assert!(close(m.ndcg, (l3 / (1.0 + l3) + 0.0 + 1.0) / 3.0), "{m:?}");
    assert!(close(m.hit_rate, 2.0 / 3.0), "{m:?}");
    // Only the first k count.
    let mut sum = MetricSum::new(2);
    sum.add(&[1, 2, 3], &HashSet::from([3]));
    assert_eq!(sum.mean().hit_rate, 0.0);
}

#[test]
fn baselines_match_a_hand_computed_example() {
    // u1 {1, 2}, u2 {1, 2, 3}, u3 {2, 3}, u4 {1}: item degrees 3, 3, 2;
    // cosine(1, 2) = 2/3, cosine(1, 3) = 1/sqrt 6, cosine(2, 3) = 2/sqrt 6.
    let train = vec![
        r(1, 1, 0),
        r(1, 2, 0),
        r(2, 1, 0),
        r(2, 2, 0),
        r(2, 3, 0),
        r(3, 2, 0),
        r(3, 3, 0),
        r(4, 1, 0),
    ];
    let popular = MostPopular::fit(&train);
    assert_eq!(popular.recommend(&HashSet::new(), 10), vec![1, 2, 3]);
    assert_eq!(popular.recommend(&HashSet::from([1]), 10), vec![2, 3]);

    let knn = ItemKnn::fit(&train, 10);
    let n1 = knn.neighbours(1);
    assert_eq!(n1.iter().map(|n| n.0).collect::<Vec<_>>(), vec![2, 3]);
    assert!(close(n1[0].1, 2.0 / 3.0) && close(n1[1].1, 1.0 / 6f64.sqrt()));
    assert!(close(knn.neighbours(3)[0].1, 2.0 / 6f64.sqrt()));
    assert_eq!(knn.recommend(&HashSet::from([1]), 10), vec![2, 3]);
    assert_eq!(knn.recommend(&HashSet::from([2, 3]), 10), vec![1]);
    // One neighbour per item: 1 -> 2, 2 -> 3, 3 -> 2; u4 scores only 2, popular fills 3.
    let knn = ItemKnn::fit(&train, 1);
    assert_eq!(knn.neighbours(2)[0].0, 3);
    assert_eq!(knn.recommend(&HashSet::from([1]), 10), vec![2, 3]);
}

#[test]
fn coverage_matches_a_hand_computed_example() {
    let split = Split {
        train: vec![r(1, 1, 0), r(2, 3, 0)],
        test: vec![r(1, 2, 1), r(1, 3, 1), r(2, 2, 1)],
    };
    let lists = HashMap::from([(1, vec![2, 1]), (3, vec![1, 2, 4])]);
    let c = coverage(&split, &lists);
    // u1 sees {2}: covers (1, 2), not (1, 3); u2 sees {1, 2, 4}: covers (2, 2).
    assert_eq!(c.pairs, 3);
    assert!(close(c.covered, 2.0 / 3.0), "{c:?}");
    assert!(close(c.shown, (1.0 + 3.0) / 2.0), "{c:?}");
}

#[test]
fn splits_are_reproducible_and_temporal_holds_out_the_latest() {
    let ratings: Vec<Rating> = (0..50u32)
        .flat_map(|u| (0..10u32).map(move |i| r(u, (u + i * 7) % 40, i64::from(i))))
        .collect();
    let a = random_split(&ratings, 0.2, 16);
    assert_eq!(a.test.len(), 100);
    assert_eq!(a.test, random_split(&ratings, 0.2, 16).test);
    assert_ne!(a.test, random_split(&ratings, 0.2, 17).test);
    let t = temporal_split(&ratings, 0.2);
    assert_eq!(t.test.len(), 100);
    assert!(t.test.iter().all(|x| x.timestamp >= 8), "{:?}", t.test);
    let mut all: Vec<(u32, u32)> = a
        .train
        .iter()
        .chain(&a.test)
        .map(|x| (x.user, x.item))
        .collect();
    all.sort_unstable();
    let mut expected: Vec<(u32, u32)> = ratings.iter().map(|x| (x.user, x.item)).collect();
    expected.sort_unstable();
    assert_eq!(all, expected, "every interaction once");
    assert!(a.train.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));

    // User 1: 5 interactions -> 1 held out (the latest); user 2: 3 -> floor(0.6) = 0.
    let small = [
        (1, 10, 5),
        (1, 11, 1),
        (1, 12, 9),
        (1, 13, 3),
        (1, 14, 7),
        (2, 10, 1),
        (2, 11, 2),
    ];
    let small: Vec<Rating> = small.iter().map(|(u, i, t)| r(*u, *i, *t)).collect();
    let t = temporal_split(&small, 0.2);
    assert_eq!(t.test, vec![r(1, 12, 9)]);
    assert_eq!(t.train.len(), 6);
}

/// Figure 6 end to end on a small synthetic shop: two taste groups of users, each buying
/// mostly within its group's items.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_6_runs_on_a_small_set() {
    let mut ratings = Vec::new();
    for u in 0..40u32 {
        let group = u % 2;
        for k in 0..12u32 {
            let item = if k < 10 {
                group * 20 + (u * 3 + k * 7) % 20
            } else {
                40 + (u + k) % 5
            };
            ratings.push(r(u, item, i64::from(u * 100 + k)));
        }
    }
    ratings.sort_by_key(|x| (x.user, x.item));
    ratings.dedup_by_key(|x| (x.user, x.item));
    let mut config = BenchConfig::quick(vec![Backend::Memory], None);
    config.figures = vec![6];
    config.ratings = Some(Arc::new(ratings));
    let report = run(&config).await.expect("figure 6 on the memory backends");
    let failed = report.failed_checks();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    for protocol in ["random", "temporal"] {
        for method in [
            "most popular",
            "ItemKNN cosine",
            "SwiftBox recommendations_for",
        ] {
            let row = report
                .quality
                .iter()
                .find(|q| q.protocol == protocol && q.method.starts_with(method))
                .unwrap_or_else(|| panic!("no {protocol} row for {method}:\n{}", report.table()));
            assert!(row.metrics.users > 0, "{row:?}");
            let m = row.metrics;
            for v in [m.precision, m.recall, m.ndcg, m.hit_rate] {
                assert!((0.0..=1.0).contains(&v), "{row:?}");
            }
        }
        assert!(report
            .coverage
            .iter()
            .any(|c| c.protocol == protocol && c.method == "SwiftBox also_bought"));
    }
}
