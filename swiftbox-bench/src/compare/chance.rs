//! What chance alone would give (the parent module's "What chance alone would give"): the
//! probability that a test of a measurement across runs passes were every pass of every run an
//! independent draw from one continuous distribution. The tests look only at the order of the
//! passes (for odd numbers of passes, whose median is one of them), so uniform draws stand for
//! any distribution; each probability is estimated from [`TRIALS`] draws with a fixed seed.

use std::collections::HashMap;

use crate::quality::SplitMix64;
use crate::report::{median, range};

/// How many random draws estimate each probability.
const TRIALS: usize = 100_000;

/// A test of a measurement across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Test {
    /// Every run's median within every other run's range.
    Reproduces,
    /// Every two runs' ranges overlap.
    Overlap,
    /// Every run's median within the range of all the passes of the stated runs.
    WithinStated,
}

/// A run's median and range of `passes` uniform draws.
fn draw(rng: &mut SplitMix64, passes: usize) -> (f64, (f64, f64)) {
    let values: Vec<f64> = (0..passes)
        .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
        .collect();
    let spread = range(&values);
    (median(values), spread)
}

/// The probability that `test` holds for runs of `passes` passes each (and, for
/// [`Test::WithinStated`], a stated spread of `stated` passes), were every pass an independent
/// draw from one continuous distribution.
fn by_chance(passes: &[usize], stated: usize, test: Test) -> f64 {
    let within = |m: f64, (lo, hi): (f64, f64)| lo <= m && m <= hi;
    let mut rng = SplitMix64(0x5EED_0018);
    let hits = (0..TRIALS)
        .filter(|_| {
            let runs: Vec<_> = passes.iter().map(|&p| draw(&mut rng, p)).collect();
            match test {
                Test::Reproduces => runs.iter().enumerate().all(|(i, a)| {
                    runs.iter()
                        .enumerate()
                        .all(|(j, b)| i == j || within(a.0, b.1))
                }),
                Test::Overlap => runs
                    .iter()
                    .all(|a| runs.iter().all(|b| a.1 .0 <= b.1 .1 && b.1 .0 <= a.1 .1)),
                Test::WithinStated => {
                    let spread = draw(&mut rng, stated).1;
                    runs.iter().all(|r| within(r.0, spread))
                }
            }
        })
        .count();
    hits as f64 / TRIALS as f64
}

/// The chance of at most `k` successes among independent trials with the probabilities `p`
/// (the Poisson binomial distribution).
fn at_most(p: &[f64], k: usize) -> f64 {
    // dist[j]: the chance of exactly j successes so far.
    let mut dist = vec![1.0];
    for &q in p {
        let mut next = vec![0.0; dist.len() + 1];
        for (j, d) in dist.iter().enumerate() {
            next[j] += d * (1.0 - q);
            next[j + 1] += d * q;
        }
        dist = next;
    }
    dist.iter().take(k + 1).sum::<f64>().min(1.0)
}

/// The tests of a comparison's measurements, each with its probability by chance.
#[derive(Debug, Default)]
pub(super) struct Chance {
    /// Probabilities computed, by shape of runs (passes per run, stated passes) and test.
    known: HashMap<(Vec<usize>, usize, Test), f64>,
    /// Per test, each measurement's probability and whether it passed.
    seen: HashMap<Test, Vec<(f64, bool)>>,
}

impl Chance {
    /// Notes that `test` `passed` (or not) for a measurement whose runs had `passes` passes
    /// each (and a stated spread of `stated` passes). A measurement with a run of one pass
    /// (an exact figure, such as figure 6's) is left out: equal values are not chance.
    pub(super) fn note(&mut self, passes: &[usize], stated: usize, test: Test, passed: bool) {
        if passes.iter().any(|&p| p < 2) {
            return;
        }
        let p = *self
            .known
            .entry((passes.to_vec(), stated, test))
            .or_insert_with(|| by_chance(passes, stated, test));
        self.seen.entry(test).or_default().push((p, passed));
    }

    /// What chance alone gives for `test`, for a summary line: `" (pass-to-pass noise alone:
    /// about E of the N measurements expected, K or fewer with probability P ...)"`, or nothing
    /// when no measurement was noted.
    pub(super) fn said(&self, test: Test) -> String {
        let Some(seen) = self.seen.get(&test).filter(|s| !s.is_empty()) else {
            return String::new();
        };
        let p: Vec<f64> = seen.iter().map(|(p, _)| *p).collect();
        let passed = seen.iter().filter(|(_, ok)| *ok).count();
        let expected: f64 = p.iter().sum();
        let tail = match at_most(&p, passed) {
            t if t < 0.001 => "below 0.001".to_owned(),
            t => format!("{t:.3}"),
        };
        format!(
            " (pass-to-pass noise alone: about {expected:.1} of the {} measurements expected, \
             {passed} or fewer with probability {tail} were the measurements independent)",
            p.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_is_what_passes_from_one_distribution_give() {
        let close = |p: f64, want: f64| (p - want).abs() < 0.01;
        // Two ranges of three overlap unless all of one lies below all of the other:
        // 1 - 2 / C(6, 3) = 0.9.
        assert!(close(by_chance(&[3, 3], 0, Test::Overlap), 0.9));
        // One draw lies within the range of nine with probability 8 / 10.
        assert!(close(by_chance(&[1], 9, Test::WithinStated), 0.8));
        // The median of three lies outside the range of nine only when two of the three are
        // the two lowest (or highest) of all twelve: 1 - 2 * 3 / C(12, 2) = 10 / 11.
        assert!(close(by_chance(&[3], 9, Test::WithinStated), 10.0 / 11.0));
        // Three runs of three: every pair of ranges overlaps with probability 27 / 35, every
        // run's median lies within every other's range with probability 9 / 70.
        assert!(close(by_chance(&[3, 3, 3], 0, Test::Overlap), 27.0 / 35.0));
        assert!(close(
            by_chance(&[3, 3, 3], 0, Test::Reproduces),
            9.0 / 70.0
        ));
        // Runs of one pass reproduce only with equal values, which draws never give.
        assert_eq!(by_chance(&[1, 1], 0, Test::Reproduces), 0.0);
    }

    #[test]
    fn the_tail_is_the_poisson_binomial() {
        assert!((at_most(&[0.5, 0.5], 0) - 0.25).abs() < 1e-12);
        assert!((at_most(&[0.5, 0.5], 1) - 0.75).abs() < 1e-12);
        assert!((at_most(&[0.5, 0.5], 2) - 1.0).abs() < 1e-12);
        assert!((at_most(&[0.9, 0.2], 0) - 0.08).abs() < 1e-12);
        assert_eq!(at_most(&[], 0), 1.0);
    }

    #[test]
    fn a_summary_counts_only_measurements_of_several_passes() {
        let mut c = Chance::default();
        assert_eq!(c.said(Test::Overlap), "");
        c.note(&[3, 3], 0, Test::Overlap, false);
        c.note(&[1, 3], 0, Test::Overlap, true);
        let said = c.said(Test::Overlap);
        assert!(
            said.contains(
                "about 0.9 of the 1 measurements expected, 0 or fewer with probability 0."
            ),
            "{said}"
        );
    }
}
