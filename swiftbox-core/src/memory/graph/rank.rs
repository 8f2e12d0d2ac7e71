//! Products ordered by each popularity metric, overall and per category, kept up to date as
//! purchases come and go, so `popular` and the cold-start fill of `recommendations_for` read
//! the first entries instead of scoring every product.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::fast::HashMap;
use crate::graph::PopularityMetric;
use crate::id::ProductId;

/// One product's metrics: order lines, units, distinct buyers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Metrics {
    pub(super) lines: u64,
    pub(super) units: i64,
    pub(super) buyers: u64,
}

impl Metrics {
    fn get(&self, metric: PopularityMetric) -> i128 {
        match metric {
            PopularityMetric::Purchases => i128::from(self.lines),
            PopularityMetric::Units => i128::from(self.units),
            PopularityMetric::Buyers => i128::from(self.buyers),
        }
    }
}

const METRICS: [PopularityMetric; 3] = [
    PopularityMetric::Purchases,
    PopularityMetric::Units,
    PopularityMetric::Buyers,
];

fn slot(metric: PopularityMetric) -> usize {
    match metric {
        PopularityMetric::Purchases => 0,
        PopularityMetric::Units => 1,
        PopularityMetric::Buyers => 2,
    }
}

/// Products with a positive score, score descending then id ascending, per metric.
#[derive(Debug, Default)]
struct Orders([BTreeSet<(Reverse<i128>, ProductId)>; 3]);

impl Orders {
    fn set(&mut self, product: ProductId, old: Metrics, new: Metrics) {
        for metric in METRICS {
            let (o, n) = (old.get(metric), new.get(metric));
            if o == n {
                continue;
            }
            let set = &mut self.0[slot(metric)];
            if o > 0 {
                set.remove(&(Reverse(o), product));
            }
            if n > 0 {
                set.insert((Reverse(n), product));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(BTreeSet::is_empty)
    }
}

/// The rankings, overall and per category (by the product's `category` property).
#[derive(Debug, Default)]
pub(super) struct Rankings {
    all: Orders,
    by_category: HashMap<String, Orders>,
}

impl Rankings {
    /// A product's metrics changed from `old` to `new` (its category is `category`, `None`
    /// when the product has no node).
    pub(super) fn update(
        &mut self,
        product: ProductId,
        category: Option<&str>,
        old: Metrics,
        new: Metrics,
    ) {
        if old == new {
            return;
        }
        self.all.set(product, old, new);
        let Some(category) = category else {
            return;
        };
        let orders = self.by_category.entry(category.to_owned()).or_default();
        orders.set(product, old, new);
        if orders.is_empty() {
            self.by_category.remove(category);
        }
    }

    /// A product moved from one category to another with these metrics.
    pub(super) fn recategorise(&mut self, product: ProductId, from: &str, to: &str, m: Metrics) {
        if from == to || m == Metrics::default() {
            return;
        }
        if let Some(orders) = self.by_category.get_mut(from) {
            orders.set(product, m, Metrics::default());
            if orders.is_empty() {
                self.by_category.remove(from);
            }
        }
        self.by_category
            .entry(to.to_owned())
            .or_default()
            .set(product, Metrics::default(), m);
    }

    /// Products with a positive score by `metric`, best first (overall, or in `category`).
    pub(super) fn ranked(
        &self,
        category: Option<&str>,
        metric: PopularityMetric,
    ) -> impl Iterator<Item = (ProductId, i128)> + '_ {
        let orders = match category {
            None => Some(&self.all),
            Some(c) => self.by_category.get(c),
        };
        orders
            .into_iter()
            .flat_map(move |o| o.0[slot(metric)].iter().map(|(Reverse(s), p)| (*p, *s)))
    }
}
