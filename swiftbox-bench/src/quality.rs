//! Offline recommendation quality (figure 6, issue 16): the splits, the top-N metrics and the
//! two baselines SwiftBox is compared with, all over plain ids so they can be checked by hand.
//!
//! - Implicit feedback: every rating is a purchase, whatever its stars.
//! - [`random_split`]: one random 80/20 split of all interactions (Fisher-Yates with a fixed
//!   seed); [`temporal_split`]: each user's last 20% by timestamp held out (ties by item id).
//! - Metrics at `k` ([`MetricSum`]), averaged over the users with test items: precision
//!   (hits / `k`), recall (hits / test items), NDCG (binary gain, `1 / log2(rank + 1)`,
//!   ideal DCG over `min(test items, k)` hits) and hit rate (at least one hit).
//! - Baselines ([`MostPopular`], [`ItemKnn`]) rank only items the user has not bought in train.

use std::collections::{HashMap, HashSet};

use crate::movielens::Rating;

/// Train and test interactions.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Train interactions, oldest first (timestamp, then user, then item): the order they are
    /// written to SwiftBox in.
    pub train: Vec<Rating>,
    /// Held-out interactions.
    pub test: Vec<Rating>,
}

impl Split {
    fn sorted(mut train: Vec<Rating>, test: Vec<Rating>) -> Self {
        train.sort_by_key(|r| (r.timestamp, r.user, r.item));
        Self { train, test }
    }

    /// Each user's train items.
    pub fn train_items(&self) -> HashMap<u32, HashSet<u32>> {
        let mut m: HashMap<u32, HashSet<u32>> = HashMap::new();
        for r in &self.train {
            m.entry(r.user).or_default().insert(r.item);
        }
        m
    }

    /// Each user's test items (users without test items are absent).
    pub fn test_items(&self) -> HashMap<u32, HashSet<u32>> {
        let mut m: HashMap<u32, HashSet<u32>> = HashMap::new();
        for r in &self.test {
            m.entry(r.user).or_default().insert(r.item);
        }
        m
    }
}

/// SplitMix64: a small, fixed, portable generator (the split must not depend on a crate's
/// version).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A random split of all interactions: shuffled with `seed`, the first `round(n *
/// test_fraction)` held out.
pub fn random_split(ratings: &[Rating], test_fraction: f64, seed: u64) -> Split {
    let mut all = ratings.to_vec();
    let mut rng = SplitMix64(seed);
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i + 1));
    }
    let n_test = (all.len() as f64 * test_fraction).round() as usize;
    let train = all.split_off(n_test.min(all.len()));
    Split::sorted(train, all)
}

/// A temporal split: each user's interactions by timestamp (then item id); the last
/// `floor(n * test_fraction)` are test, the rest train.
pub fn temporal_split(ratings: &[Rating], test_fraction: f64) -> Split {
    let mut by_user: HashMap<u32, Vec<Rating>> = HashMap::new();
    for r in ratings {
        by_user.entry(r.user).or_default().push(*r);
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut rs) in by_user {
        rs.sort_by_key(|r| (r.timestamp, r.item));
        let held = ((rs.len() as f64) * test_fraction + 1e-9).floor() as usize;
        test.extend(rs.split_off(rs.len() - held.min(rs.len())));
        train.extend(rs);
    }
    test.sort_by_key(|r| (r.user, r.item));
    Split::sorted(train, test)
}

/// Top-N metrics averaged over users.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TopN {
    /// Precision at k.
    pub precision: f64,
    /// Recall at k.
    pub recall: f64,
    /// NDCG at k.
    pub ndcg: f64,
    /// Hit rate at k.
    pub hit_rate: f64,
    /// Users averaged over.
    pub users: usize,
}

/// Sums of per-user metrics at `k`.
#[derive(Debug, Clone)]
pub struct MetricSum {
    k: usize,
    sum: TopN,
}

impl MetricSum {
    /// Empty sums for cut-off `k` (> 0).
    pub fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            sum: TopN::default(),
        }
    }

    /// Adds one user: `recommended` best first (only its first `k` count), `relevant` the
    /// user's test items (a user without any is not counted).
    pub fn add(&mut self, recommended: &[u32], relevant: &HashSet<u32>) {
        if relevant.is_empty() {
            return;
        }
        let top = &recommended[..recommended.len().min(self.k)];
        let mut hits = 0usize;
        let mut dcg = 0.0;
        for (rank, item) in top.iter().enumerate() {
            if relevant.contains(item) {
                hits += 1;
                dcg += 1.0 / ((rank + 2) as f64).log2();
            }
        }
        let ideal: f64 = (0..relevant.len().min(self.k))
            .map(|rank| 1.0 / ((rank + 2) as f64).log2())
            .sum();
        self.sum.precision += hits as f64 / self.k as f64;
        self.sum.recall += hits as f64 / relevant.len() as f64;
        self.sum.ndcg += dcg / ideal;
        self.sum.hit_rate += if hits > 0 { 1.0 } else { 0.0 };
        self.sum.users += 1;
    }

    /// The averages.
    pub fn mean(&self) -> TopN {
        let n = self.sum.users.max(1) as f64;
        TopN {
            precision: self.sum.precision / n,
            recall: self.sum.recall / n,
            ndcg: self.sum.ndcg / n,
            hit_rate: self.sum.hit_rate / n,
            users: self.sum.users,
        }
    }
}

/// The first `k` of `ranked` that `skip` does not reject.
fn first_unseen(ranked: &[u32], skip: &HashSet<u32>, k: usize) -> Vec<u32> {
    ranked
        .iter()
        .copied()
        .filter(|i| !skip.contains(i))
        .take(k)
        .collect()
}

/// Most popular: items by train interactions descending, then id ascending; the user's train
/// items skipped.
#[derive(Debug, Clone)]
pub struct MostPopular {
    ranked: Vec<u32>,
}

impl MostPopular {
    /// Counts the train interactions.
    pub fn fit(train: &[Rating]) -> Self {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for r in train {
            *counts.entry(r.item).or_default() += 1;
        }
        let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Self {
            ranked: ranked.into_iter().map(|(i, _)| i).collect(),
        }
    }

    /// The top `k` items the user has not bought.
    pub fn recommend(&self, bought: &HashSet<u32>, k: usize) -> Vec<u32> {
        first_unseen(&self.ranked, bought, k)
    }
}

/// Item-based kNN (Deshpande and Karypis) with cosine similarity on binary interactions:
/// `sim(i, j) = |U(i) ∩ U(j)| / sqrt(|U(i)| |U(j)|)`; each item keeps its `neighbours` most
/// similar items (similarity descending, then id ascending); a user's score for an item is the
/// sum of its similarities to the user's train items that list it as a neighbour. Ranked by
/// score descending, then id ascending; topped up with [`MostPopular`] when fewer than `k`
/// items score.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    neighbours: HashMap<u32, Vec<(u32, f64)>>,
    popular: MostPopular,
}

impl ItemKnn {
    /// Computes the similarities from the train interactions.
    pub fn fit(train: &[Rating], neighbours: usize) -> Self {
        let mut users: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut degree: HashMap<u32, u64> = HashMap::new();
        for r in train {
            users.entry(r.user).or_default().push(r.item);
            *degree.entry(r.item).or_default() += 1;
        }
        let mut co: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
        for items in users.values_mut() {
            items.sort_unstable();
            items.dedup();
            for a in items.iter() {
                let row = co.entry(*a).or_default();
                for b in items.iter().filter(|b| *b != a) {
                    *row.entry(*b).or_default() += 1;
                }
            }
        }
        let neighbours = co
            .into_iter()
            .map(|(a, row)| {
                let da = degree[&a] as f64;
                let mut sims: Vec<(u32, f64)> = row
                    .into_iter()
                    .map(|(b, n)| (b, n as f64 / (da * degree[&b] as f64).sqrt()))
                    .collect();
                sims.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
                sims.truncate(neighbours);
                (a, sims)
            })
            .collect();
        Self {
            neighbours,
            popular: MostPopular::fit(train),
        }
    }

    /// An item's neighbours, most similar first.
    pub fn neighbours(&self, item: u32) -> &[(u32, f64)] {
        self.neighbours.get(&item).map_or(&[], Vec::as_slice)
    }

    /// The top `k` items for a user who bought `bought` in train.
    pub fn recommend(&self, bought: &HashSet<u32>, k: usize) -> Vec<u32> {
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for j in bought {
            for (i, s) in self.neighbours(*j) {
                if !bought.contains(i) {
                    *scores.entry(*i).or_default() += s;
                }
            }
        }
        let mut ranked: Vec<(u32, f64)> = scores.into_iter().collect();
        ranked.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut out: Vec<u32> = ranked.into_iter().take(k).map(|(i, _)| i).collect();
        if out.len() < k {
            let mut skip = bought.clone();
            skip.extend(out.iter().copied());
            out.extend(self.popular.recommend(&skip, k - out.len()));
        }
        out
    }
}

/// Item-to-item coverage ("customers also bought"): the share of held-out `(user, item)` pairs
/// whose item is in the list of at least one of the user's train items, and the mean number of
/// distinct items those lists put in front of a user (what the share is bought with).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Coverage {
    /// Held-out pairs covered / held-out pairs.
    pub covered: f64,
    /// Mean distinct unseen items per user in the union of the lists.
    pub shown: f64,
    /// Held-out pairs counted.
    pub pairs: usize,
}

/// [`Coverage`] of per-item lists `lists` (item -> related items) on `split`.
pub fn coverage(split: &Split, lists: &HashMap<u32, Vec<u32>>) -> Coverage {
    let train = split.train_items();
    let (mut covered, mut pairs, mut shown, mut users) = (0usize, 0usize, 0usize, 0usize);
    for (user, test) in split.test_items() {
        let empty = HashSet::new();
        let bought = train.get(&user).unwrap_or(&empty);
        let union: HashSet<u32> = bought
            .iter()
            .filter_map(|j| lists.get(j))
            .flatten()
            .copied()
            .filter(|i| !bought.contains(i))
            .collect();
        users += 1;
        shown += union.len();
        pairs += test.len();
        covered += test.iter().filter(|i| union.contains(i)).count();
    }
    Coverage {
        covered: covered as f64 / pairs.max(1) as f64,
        shown: shown as f64 / users.max(1) as f64,
        pairs,
    }
}
