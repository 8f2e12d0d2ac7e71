//! Per-product purchase timelines for `trending`, in one-hour buckets that carry a precomputed
//! decay sum for the default half-life, so a query touches buckets, not purchases.
//!
//! Trending's score is `sum(quantity * 0.5^(age_ms / half_life_ms))` over the purchases in the
//! window. With whole-millisecond times, `age_ms = now_ms - t_ms`, and for a bucket starting at
//! `s` each term factors as `quantity * 2^((t_ms - s) / h) * 0.5^((now_ms - s) / h)`. The first
//! factor does not depend on the query: for `h` = 24 hours it lies in `[1, 2^(1/24))`, so its
//! `f64` value is exactly `m * 2^-52` for an integer `m`, and the bucket keeps `sum(quantity *
//! m)` as an exact `i128`. That sum is independent of the order lines arrived or left in (a
//! removal subtracts exactly), so a query's answer depends only on the data and the query. A
//! bucket lying wholly inside the window costs one multiplication (the second factor is shared
//! by every product's bucket with the same start); a bucket the window cuts, a bucket holding a
//! line with a sub-millisecond time, any other half-life, a `now` with sub-millisecond part, or
//! a bucket whose exact sum overflowed is summed purchase by purchase as the trait docs define
//! it (in time order). The two agree to a few ulps per term. The arithmetic (bucket width,
//! `m`, a bucket's value) is [`crate::graph::trend`]'s, shared with the other backends.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::fast::HashMap;
use crate::graph::trend as shared;
use crate::id::{OrderId, ProductId};

type Ts = DateTime<Utc>;

fn is_whole_ms(t: &Ts) -> bool {
    t.timestamp_subsec_nanos().is_multiple_of(1_000_000)
}

/// The bucket key (hour) of a time.
pub(super) fn bucket_of(t: &Ts) -> i64 {
    shared::bucket_of_ms(t.timestamp_millis())
}

/// `quantity * m` of one line, `None` when it cannot enter the exact sum.
fn fixed_term(start_ms: i64, t: &Ts, qty: i64) -> Option<i128> {
    if !is_whole_ms(t) {
        return None;
    }
    let m = shared::mantissa(start_ms, t.timestamp_millis());
    i128::from(qty).checked_mul(i128::from(m))
}

/// The purchase lines of one product in one hour.
#[derive(Debug, Default)]
struct Bucket {
    /// (time, order) -> quantity.
    lines: BTreeMap<(Ts, OrderId), i64>,
    /// Exact `sum(quantity * m)` of the lines; `None` when a line could not enter it
    /// (sub-millisecond time, overflow): then the bucket is always summed line by line.
    fixed: Option<i128>,
}

impl Bucket {
    fn start_ms(key: i64) -> i64 {
        shared::bucket_start_ms(key)
    }

    /// Recomputes the exact sum from the lines.
    fn refix(&mut self, key: i64) {
        let start = Self::start_ms(key);
        self.fixed = self.lines.iter().try_fold(0i128, |acc, ((t, _), q)| {
            fixed_term(start, t, *q).and_then(|x| acc.checked_add(x))
        });
    }
}

/// One product's purchases by time.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    buckets: BTreeMap<i64, Bucket>,
}

/// What a query needs beside the timelines, computed once per query.
pub(super) struct Window {
    lo: Ts,
    now: Ts,
    half_life_ms: f64,
    /// Whether bucket sums may be used (24 h half-life, whole-ms `now`).
    cached: bool,
    now_ms: i64,
    first_bucket: i64,
    /// `0.5^((now_ms - start) / h)` per bucket from `first_bucket` on, filled lazily.
    decay: Vec<Option<f64>>,
}

impl Window {
    /// The window `[now - window, now]` with the given half-life in milliseconds.
    pub(super) fn new(lo: Ts, now: Ts, half_life_ms: i64) -> Self {
        let first_bucket = bucket_of(&lo);
        let span = (bucket_of(&now) - first_bucket + 1).max(0) as usize;
        Self {
            lo,
            now,
            half_life_ms: half_life_ms as f64,
            cached: half_life_ms == shared::CACHED_HALF_LIFE_MS && is_whole_ms(&now),
            now_ms: now.timestamp_millis(),
            first_bucket,
            decay: vec![None; span],
        }
    }

    fn decay(&mut self, key: i64) -> f64 {
        let slot = (key - self.first_bucket) as usize;
        let (now_ms, start) = (self.now_ms, Bucket::start_ms(key));
        *self.decay[slot].get_or_insert_with(|| shared::bucket_decay(now_ms, start))
    }

    fn exact(&self, t: &Ts, qty: i64) -> f64 {
        let age_ms = (self.now - *t).num_milliseconds() as f64;
        qty as f64 * 0.5f64.powf(age_ms / self.half_life_ms)
    }
}

impl Timeline {
    pub(super) fn insert(&mut self, at: Ts, order: OrderId, qty: i64) {
        let key = bucket_of(&at);
        let bucket = self.buckets.entry(key).or_insert_with(|| Bucket {
            lines: BTreeMap::new(),
            fixed: Some(0),
        });
        let old = bucket.lines.insert((at, order), qty);
        if old.is_some() {
            bucket.refix(key);
        } else {
            let term = fixed_term(Bucket::start_ms(key), &at, qty);
            bucket.fixed = bucket
                .fixed
                .zip(term)
                .and_then(|(sum, x)| sum.checked_add(x));
        }
    }

    pub(super) fn remove(&mut self, at: Ts, order: OrderId) {
        let key = bucket_of(&at);
        let Some(bucket) = self.buckets.get_mut(&key) else {
            return;
        };
        let Some(qty) = bucket.lines.remove(&(at, order)) else {
            return;
        };
        if bucket.lines.is_empty() {
            self.buckets.remove(&key);
            return;
        }
        match (bucket.fixed, fixed_term(Bucket::start_ms(key), &at, qty)) {
            (Some(sum), Some(x)) => bucket.fixed = sum.checked_sub(x),
            _ => bucket.refix(key),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The product's trending score over the window, `None` when it has no purchase in it.
    pub(super) fn score(&self, w: &mut Window) -> Option<f64> {
        let mut any = false;
        let mut score = 0.0;
        let range = (
            Bound::Included(bucket_of(&w.lo)),
            Bound::Included(bucket_of(&w.now)),
        );
        for (key, bucket) in self.buckets.range(range) {
            if let Some(summary) = bucket.summary() {
                any |= summary.add_to(*key, self, w, &mut score);
            }
        }
        any.then_some(score)
    }

    /// The summary of the bucket `key`, `None` when it holds no line.
    pub(super) fn summary(&self, key: i64) -> Option<Summary> {
        self.buckets.get(&key).and_then(Bucket::summary)
    }

    /// Adds the lines of bucket `key` inside the window to `acc` one by one, in time order;
    /// whether there was one.
    fn add_lines(&self, key: i64, w: &Window, acc: &mut f64) -> bool {
        let Some(bucket) = self.buckets.get(&key) else {
            return false;
        };
        let mut any = false;
        let inside = bucket.lines.range((
            Bound::Included((w.lo, OrderId::from_u128(0))),
            Bound::Included((w.now, OrderId::from_u128(u128::MAX))),
        ));
        for ((t, _), q) in inside {
            any = true;
            *acc += w.exact(t, *q);
        }
        any
    }
}

/// What a bucket contributes without reading its lines: its exact sum and its first and last
/// line times (a copy kept per hour by [`Hours`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Summary {
    fixed: Option<i128>,
    first: Ts,
    last: Ts,
}

impl Bucket {
    fn summary(&self) -> Option<Summary> {
        let ((first, _), _) = self.lines.first_key_value()?;
        let ((last, _), _) = self.lines.last_key_value()?;
        Some(Summary {
            fixed: self.fixed,
            first: *first,
            last: *last,
        })
    }
}

impl Summary {
    /// Adds bucket `key`'s share of the score to `acc`: its exact sum when the bucket lies
    /// wholly in the window and sums may be used, else its lines in the window one by one (read
    /// from `timeline`). Returns whether anything was added. [`Timeline::score`] and the
    /// per-hour index both go through here, so they add the same terms in the same order.
    fn add_to(&self, key: i64, timeline: &Timeline, w: &mut Window, acc: &mut f64) -> bool {
        let whole = self.first >= w.lo && self.last <= w.now;
        match self.fixed {
            Some(sum) if whole && w.cached => {
                *acc += shared::bucket_value(sum, w.decay(key));
                true
            }
            _ => timeline.add_lines(key, w, acc),
        }
    }
}

/// Every product's bucket summaries by hour, so trending over the whole shop walks the hours
/// of the window and, in each, the products that sold in it, reading packed summaries instead
/// of each product's timeline (at scale L the per-product walk took about 39 ms, memory-bound).
#[derive(Debug, Default)]
pub(super) struct Hours {
    hours: BTreeMap<i64, HashMap<ProductId, Summary>>,
}

impl Hours {
    /// Records the current summary of `product`'s bucket `key` (`None`: the bucket is gone).
    pub(super) fn refresh(&mut self, product: ProductId, key: i64, summary: Option<Summary>) {
        match summary {
            Some(s) => {
                self.hours.entry(key).or_default().insert(product, s);
            }
            None => {
                if let Some(map) = self.hours.get_mut(&key) {
                    map.remove(&product);
                    if map.is_empty() {
                        self.hours.remove(&key);
                    }
                }
            }
        }
    }

    /// Every product's score over the window (products without a purchase in it left out),
    /// equal to [`Timeline::score`] of each: the same terms, added in the same order (hours
    /// ascending, lines by time).
    pub(super) fn scores(
        &self,
        timelines: &HashMap<ProductId, Timeline>,
        w: &mut Window,
    ) -> Vec<(ProductId, f64)> {
        let mut acc: HashMap<ProductId, f64> = HashMap::default();
        let range = (
            Bound::Included(bucket_of(&w.lo)),
            Bound::Included(bucket_of(&w.now)),
        );
        for (key, products) in self.hours.range(range) {
            for (product, summary) in products {
                let Some(timeline) = timelines.get(product) else {
                    continue;
                };
                let mut total = acc.get(product).copied().unwrap_or(0.0);
                if summary.add_to(*key, timeline, w, &mut total) {
                    acc.insert(*product, total);
                }
            }
        }
        acc.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn exact_sum(lines: &[(Ts, i64)], now: Ts, window: Duration, half_life: Duration) -> f64 {
        let h = half_life.num_milliseconds() as f64;
        lines
            .iter()
            .filter(|(t, _)| *t >= now - window && *t <= now)
            .map(|(t, q)| *q as f64 * 0.5f64.powf((now - *t).num_milliseconds() as f64 / h))
            .sum()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    /// Bucket sums, cut buckets, sub-ms lines and removals all give the definition's value.
    #[test]
    fn bucketed_score_matches_the_definition() {
        let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut tl = Timeline::default();
        let mut lines = Vec::new();
        for i in 0..2_000i64 {
            let mut t = base + Duration::milliseconds(i * 611_113);
            if i % 97 == 0 {
                t += Duration::nanoseconds(1_234);
            }
            let q = 1 + i % 5;
            tl.insert(t, OrderId::from_u128(i as u128), q);
            lines.push((t, q));
        }
        for i in (0..2_000i64).step_by(7) {
            let (t, _) = lines[i as usize];
            tl.remove(t, OrderId::from_u128(i as u128));
        }
        let kept: Vec<(Ts, i64)> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 7 != 0)
            .map(|(_, l)| *l)
            .collect();
        let h24 = Duration::hours(24);
        for (now_off, window, h) in [
            (Duration::days(10), Duration::days(7), h24),
            (Duration::days(14), Duration::days(7), h24),
            (
                Duration::days(5) + Duration::nanoseconds(500),
                Duration::days(2),
                h24,
            ),
            (Duration::days(9), Duration::days(3), Duration::hours(3)),
        ] {
            let now = base + now_off;
            let mut w = Window::new(now - window, now, h.num_milliseconds());
            let got = tl.score(&mut w).unwrap();
            let want = exact_sum(&kept, now, window, h);
            assert!(close(got, want), "{got} vs {want}");
        }
        let before = base - Duration::days(1);
        let mut w = Window::new(before - Duration::days(7), before, h24.num_milliseconds());
        assert_eq!(tl.score(&mut w), None);
    }

    /// The per-hour index gives every product exactly (bit for bit) its timeline's score, with
    /// lines inserted, moved and removed, sub-millisecond lines, windows cutting buckets, and
    /// another half-life; products with nothing in the window are left out.
    #[test]
    fn the_hour_index_scores_every_product_as_its_timeline_does() {
        let base = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut timelines: HashMap<ProductId, Timeline> = HashMap::default();
        let mut hours = Hours::default();
        let add = |tl: &mut HashMap<ProductId, Timeline>,
                   h: &mut Hours,
                   p: u128,
                   t: Ts,
                   o: u128,
                   q: i64| {
            let product = ProductId::from_u128(p);
            let timeline = tl.entry(product).or_default();
            timeline.insert(t, OrderId::from_u128(o), q);
            h.refresh(product, bucket_of(&t), timeline.summary(bucket_of(&t)));
        };
        let mut lines = Vec::new();
        for i in 0..3_000u128 {
            let p = i % 37;
            let mut t = base + Duration::milliseconds((i as i64) * 397_331);
            if i % 89 == 0 {
                t += Duration::nanoseconds(777);
            }
            let q = 1 + (i % 4) as i64;
            add(&mut timelines, &mut hours, p, t, i, q);
            lines.push((p, t, i));
        }
        // Remove every fifth line (emptying some buckets and products).
        for (p, t, o) in lines.iter().step_by(5) {
            let product = ProductId::from_u128(*p);
            let timeline = timelines.get_mut(&product).unwrap();
            timeline.remove(*t, OrderId::from_u128(*o));
            hours.refresh(product, bucket_of(t), timeline.summary(bucket_of(t)));
            if timeline.is_empty() {
                timelines.remove(&product);
            }
        }
        let h24 = Duration::hours(24);
        for (now_off, window, h) in [
            (Duration::days(10), Duration::days(7), h24),
            (
                Duration::days(14) + Duration::minutes(17),
                Duration::days(7),
                h24,
            ),
            (
                Duration::days(5) + Duration::nanoseconds(500),
                Duration::days(2),
                h24,
            ),
            (Duration::days(9), Duration::days(3), Duration::hours(3)),
            (Duration::days(40), Duration::days(7), h24),
        ] {
            let now = base + now_off;
            let mut w = Window::new(now - window, now, h.num_milliseconds());
            let mut got = hours.scores(&timelines, &mut w);
            got.sort_by_key(|(p, _)| *p);
            let mut want: Vec<(ProductId, f64)> = timelines
                .iter()
                .filter_map(|(p, tl)| {
                    let mut w = Window::new(now - window, now, h.num_milliseconds());
                    tl.score(&mut w).map(|s| (*p, s))
                })
                .collect();
            want.sort_by_key(|(p, _)| *p);
            assert_eq!(got.len(), want.len(), "now +{now_off}");
            for ((gp, gs), (wp, ws)) in got.iter().zip(&want) {
                assert_eq!(gp, wp);
                assert_eq!(
                    gs.to_bits(),
                    ws.to_bits(),
                    "{gp}: {gs} vs {ws} at now +{now_off}"
                );
            }
        }
    }
}
