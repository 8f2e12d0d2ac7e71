//! Projection: each product's **trend buckets**, which `trending` (the `trending` module)
//! reads instead of every purchase in its window.
//!
//! Apply keeps an internal node per product and hour that sold (`SwiftboxTrendBucket
//! {product, hour, hi, lo, v, lines}`): `hour` is the bucket key of
//! [`swiftbox_core::graph::trend`] (hours since the epoch), `hi` and `lo` the two `i64` halves of
//! the exact sum `sum(quantity * m)` of its lines for the default 24 h half-life (`m`
//! computed in Rust by [`trend::mantissa`], the memory graph's code), `v` that sum as a float
//! (`toFloat(hi) * 2^26 + toFloat(lo)`, rewritten with every change, so a query reads one
//! property instead of two), `lines` how many `PURCHASED` lines it holds (the node is deleted
//! when it reaches 0).
//!
//! The statements that remove lines return each one's timestamp, and the created lines are
//! the applied order upserts' items at the order's `placed_at`; [`Buckets`] sums them per
//! product and hour in Rust, and the apply transaction's last statement (the counter update,
//! one row per product in product id order, after the product's counter node is write-locked)
//! moves the product's buckets, so concurrent applies serialise per product as for the
//! counters. Deleting a product deletes its buckets; a product created afresh starts without.
//!
//! Exactness: [`swiftbox_core::NewOrder::MAX_QUANTITY`] bounds what apply accepts per line
//! (larger quantities are [`swiftbox_core::Error::Invalid`]), so a line adds less than 2^41 to
//! `hi` and 2^40 to `lo`, and the `i64` sums cannot overflow below 2^36 units per product and
//! hour. While a bucket holds at most 2^26 units (67 million), both halves stay below 2^53 and
//! `v` is the exact sum's `f64`, bit for bit the memory graph's; above that it is within an
//! ulp or two.
//!
//!
//! # The trend bound
//!
//! A bucket of hour `h` whose exact sum is `v` adds `v / 2^52 * 0.5^((now - h) / 24 h)` to its
//! product's score when it is inside the window, which is `v / 2^52 * 2^(h / 24) * 0.5^(now /
//! 24 h)`: the first two factors do not depend on the query. Their sum over the product's
//! buckets, `K`, times `0.5^(now / 24 h)`, is the product's score in a window holding every
//! bucket, and no window scores it higher (a window holds some of its buckets, or parts of
//! them). So the products' order by `K` is an order by upper bounds of their scores at any
//! `now`, which whole-shop `trending` reads through an index, best first, until the bounds
//! left cannot beat its answer (the `trending` module).
//!
//! The counter node keeps `ln K` as `trend_bound` (`K` itself outgrows a float within a few
//! years of the epoch), absent for a product without buckets. Apply raises it by what its
//! lines add to hours whose sum grows ([`Buckets::bound`]) and never lowers it, so removed or
//! moved lines leave it above the exact `ln K`: still a bound, only looser, until a rebuild
//! recomputes it from the buckets. Every write adds [`BOUND_SLACK`], so the float's rounding
//! never takes a bound below the exact value.
//!
//! # Older graphs
//!
//! A product's counter node carries `trend = 2` once its buckets and trend bound are complete
//! (set for a product created afresh, and by the rebuild; `1` marked complete buckets before
//! the bound existed); [`Neo4jGraph::migrate`] rebuilds the buckets and bound of every product
//! whose counter node is not so marked, from its relationships, under the counter node's
//! lock, so a graph written before they existed (or by this version applying before migrate
//! ran) answers as if they always had.

use std::collections::BTreeMap;

use neo4rs::{query, BoltType, Row};
use swiftbox_core::graph::trend;
use swiftbox_core::{Error, NewOrder, Result};

use crate::batches::Pages;
use crate::error::{self, Msg};
use crate::graph::{param, Neo4jGraph};
use crate::queries::get;

/// What one apply moves in one bucket.
#[derive(Debug, Default, Clone, Copy)]
struct HourDelta {
    hi: i64,
    lo: i64,
    lines: i64,
}

/// Per-hour bucket changes of one product in one apply (or its whole content in a rebuild).
#[derive(Debug, Default)]
pub(crate) struct Buckets(BTreeMap<i64, HourDelta>);

/// Refuses a quantity the buckets cannot sum exactly (module docs).
pub(crate) fn check_quantity(quantity: i64, field: impl Fn() -> String) -> Result<()> {
    if quantity.unsigned_abs() > NewOrder::MAX_QUANTITY.unsigned_abs() {
        return Err(Error::invalid(
            field(),
            format!(
                "{quantity} is beyond the largest quantity a line may have ({})",
                NewOrder::MAX_QUANTITY
            ),
        ));
    }
    Ok(())
}

fn overflow(what: &str) -> Error {
    Error::backend(
        error::STORE,
        Msg(format!("trend bucket {what} overflows a 64-bit integer")),
    )
}

impl Buckets {
    /// Adds one line at `ts_ms` created (`sign` 1) or removed (`sign` -1).
    pub(crate) fn add(&mut self, ts_ms: i64, quantity: i64, sign: i64) -> Result<()> {
        let hour = trend::bucket_of_ms(ts_ms);
        let (m_hi, m_lo) = trend::split(trend::mantissa(trend::bucket_start_ms(hour), ts_ms));
        let d = self.0.entry(hour).or_default();
        let q = quantity
            .checked_mul(sign)
            .ok_or_else(|| overflow("quantity"))?;
        let term = |m: i64, sum: i64| q.checked_mul(m).and_then(|x| sum.checked_add(x));
        d.hi = term(m_hi, d.hi).ok_or_else(|| overflow("sum"))?;
        d.lo = term(m_lo, d.lo).ok_or_else(|| overflow("sum"))?;
        d.lines += sign;
        Ok(())
    }

    /// The `bound` parameter of [`UPDATE`] / [`REBUILD_WRITE`]: the logarithm of what these
    /// changes add to the product's trend bound (module docs, "The trend bound"), counting only
    /// hours whose sum grows, with [`BOUND_SLACK`] added; `None` when no hour's sum grows.
    pub(crate) fn bound(&self) -> Option<f64> {
        let terms = self.0.iter().filter_map(|(hour, d)| {
            let v = trend::join(d.hi, d.lo);
            (v > 0).then(|| ln_weight(*hour, v as f64))
        });
        ln_sum_exp(terms).map(|b| b + BOUND_SLACK)
    }

    /// The `hours` parameter of [`UPDATE`] / [`REBUILD_WRITE`], hour ascending,
    /// leaving out hours where nothing changed.
    pub(crate) fn rows(self) -> Vec<BoltType> {
        use param::{i, map};
        self.0
            .into_iter()
            .filter(|(_, d)| d.hi != 0 || d.lo != 0 || d.lines != 0)
            .map(|(hour, d)| {
                map([
                    ("hour", i(hour)),
                    ("hi", i(d.hi)),
                    ("lo", i(d.lo)),
                    ("lines", i(d.lines)),
                ])
            })
            .collect()
    }
}

/// How much every trend bound written is raised above the value computed (natural-log units,
/// so a relative 1e-9): far more than the rounding of one update (about 1e-12 at the bounds'
/// magnitude), so a bound stays above the exact value however many updates it went through.
pub(crate) const BOUND_SLACK: f64 = 1e-9;

/// `ln(v / 2^52 * 2^(hour / 24))`: the logarithm of a bucket's part of its product's trend
/// bound (module docs), for a bucket of `hour` whose exact sum is `v > 0`.
pub(crate) fn ln_weight(hour: i64, v: f64) -> f64 {
    let halves = hour as f64 * (trend::BUCKET_MS as f64 / trend::CACHED_HALF_LIFE_MS as f64);
    v.ln() + (halves - 52.0) * std::f64::consts::LN_2
}

/// `ln(sum(exp(t)))` of the terms, computed without overflow; `None` for no terms.
fn ln_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> Option<f64> {
    let top = terms.clone().reduce(f64::max)?;
    Some(top + terms.map(|t| (t - top).exp()).sum::<f64>().ln())
}

/// `ln` of the decay every bound's sum takes at `now_ms` (`0.5^(now_ms / 24 h)`): a product
/// whose bound is `b` scores at most `exp(b + ln_decay(now_ms))` at `now_ms`, in any window.
pub(crate) fn ln_decay(now_ms: i64) -> f64 {
    -(now_ms as f64 / trend::CACHED_HALF_LIFE_MS as f64) * std::f64::consts::LN_2
}

/// The bucket part of the projection statement (`row.id` the product, `row.hours` the rows of
/// [`Buckets::rows`], `row.bound` of [`Buckets::bound`]; run after the counter node `s` is
/// write-locked): raises the product's trend bound by what the apply added (the logarithm of
/// a sum of exponentials, plus [`BOUND_SLACK`]), then moves the product's buckets, deleting
/// those left without lines.
pub(crate) const UPDATE: &str = "
SET s.trend_bound = CASE
  WHEN row.bound IS NULL THEN s.trend_bound
  WHEN s.trend_bound IS NULL THEN row.bound
  WHEN s.trend_bound >= row.bound
    THEN s.trend_bound + log(1.0 + exp(row.bound - s.trend_bound)) + %BOUND_SLACK%
  ELSE row.bound + log(1.0 + exp(s.trend_bound - row.bound)) + %BOUND_SLACK%
END
WITH row
CALL (row) {
  UNWIND row.hours AS h
  MERGE (b:%SwiftboxTrendBucket% {product: row.id, hour: h.hour})
  ON CREATE SET b.hi = 0, b.lo = 0, b.lines = 0
  SET b.hi = b.hi + h.hi, b.lo = b.lo + h.lo, b.lines = b.lines + h.lines
  SET b.v = %VALUE%
  WITH b WHERE b.lines <= 0
  DELETE b
}";

/// Deletes the buckets of the product `row.id` (with the product, before a product starts
/// afresh, before a rebuild). The hint keeps the `(product, hour)` index in a plan made on an
/// empty label (which Neo4j keeps until the statistics drift: a label scan per row meanwhile);
/// the `hour` bound lets that index answer.
pub(crate) const DELETE: &str = "CALL (row) {
  MATCH (b:%SwiftboxTrendBucket%) USING INDEX b:%SwiftboxTrendBucket%(product, hour)
  WHERE b.product = row.id AND b.hour >= -9223372036854775807
  DELETE b
}";

/// A bucket's exact sum as a float, from its halves `b.hi` and `b.lo` (module docs).
pub(crate) const VALUE: &str = "toFloat(b.hi) * 67108864.0 + toFloat(b.lo)";

/// `template` with `%BUCKETS_UPDATE%` ([`UPDATE`]), `%BUCKETS_DELETE%` ([`DELETE`]) and
/// `%VALUE%` ([`VALUE`]) filled in; placeholders of names are left for
/// [`crate::schema::Schema::cypher`].
pub(crate) fn fill_buckets(template: &str) -> String {
    template
        .replace(
            "%BUCKETS_UPDATE%",
            &UPDATE.replace("%BOUND_SLACK%", &format!("{BOUND_SLACK:?}")),
        )
        .replace("%BUCKETS_DELETE%", DELETE)
        .replace("%VALUE%", VALUE)
}

/// Write-locks the counter nodes of `$ids` and reads their products' lines.
const REBUILD_READ: &str = "
UNWIND $ids.items AS id
MATCH (s:%SwiftboxProductStats% {id: id})
REMOVE s.trend
WITH id
MATCH (:%Product% {id: id})<-[r:%PURCHASED%]-()
RETURN id, r.timestamp AS ts, r.quantity AS quantity";

/// Replaces the buckets and trend bound of the products `$rows` (`id`, `bound`, `hours`), copies
/// each product's category to its counter node (written by the product upserts since schema
/// version 6) and marks them complete.
const REBUILD_WRITE: &str = "
UNWIND $rows.items AS row
MATCH (s:%SwiftboxProductStats% {id: row.id})
OPTIONAL MATCH (p:%Product% {id: row.id})
SET s.trend = 2, s.trend_bound = row.bound, s.category = p.category
WITH row
%BUCKETS_DELETE%
WITH row
UNWIND row.hours AS h
CREATE (b:%SwiftboxTrendBucket% {product: row.id, hour: h.hour, hi: h.hi, lo: h.lo,
                                 lines: h.lines})
SET b.v = %VALUE%";

/// Deletes buckets whose product has no counter node (only a hand edit leaves one).
const ORPHANS: &str = "
MATCH (b:%SwiftboxTrendBucket%)
WHERE NOT EXISTS { MATCH (:%SwiftboxProductStats% {id: b.product}) }
DELETE b";

/// Products per rebuild transaction.
const REBUILD_BATCH: i64 = 500;

/// The rebuild statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Every counter node, or those not marked complete.
    pages: Pages,
    read: String,
    write: String,
    orphans: String,
}

impl Statements {
    pub(crate) fn new(schema: &crate::schema::Schema) -> Self {
        Self {
            pages: Pages::new(
                schema,
                "SwiftboxProductStats",
                "AND coalesce(n.trend, 0) < 2",
            ),
            read: schema.cypher(REBUILD_READ),
            write: schema.cypher(&fill_buckets(REBUILD_WRITE)),
            orphans: schema.cypher(ORPHANS),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let [all, unmarked] = self.pages.named("rebuild.buckets.pages");
        vec![
            all,
            unmarked,
            ("rebuild.buckets.read", &self.read),
            ("rebuild.buckets.write", &self.write),
            ("rebuild.buckets.orphans", &self.orphans),
        ]
    }
}

impl Neo4jGraph {
    /// Rebuilds the trend buckets of every product (`all`, which also deletes buckets without
    /// a counter node), or of those not marked complete, from their `PURCHASED`
    /// relationships, in transactions of [`REBUILD_BATCH`] products, each under the products'
    /// counter-node locks (so an apply running at the same time waits, and then moves the
    /// rebuilt buckets).
    pub(crate) async fn rebuild_trend_buckets(&self, all: bool) -> Result<()> {
        let st = &self.statements().apply.buckets;
        if all {
            self.write_txn("rebuild_trend_buckets", vec![query(&st.orphans)])
                .await?;
        }
        let next = st.pages.next(all);
        let mut after = String::new();
        loop {
            let ids = self
                .next_ids("rebuild_trend_buckets", next, &after, REBUILD_BATCH)
                .await?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = last.clone();
            let read_q = query(&st.read).param("ids", param::items(ids.clone()));
            self.write_txn_then("rebuild_trend_buckets", vec![read_q], |results| {
                let rows = results.first().map(Vec::as_slice).unwrap_or_default();
                let rows = rebuild_rows(&ids, rows)?;
                Ok(vec![query(&st.write).param("rows", param::items(rows))])
            })
            .await?;
        }
    }
}

/// The rows of [`REBUILD_WRITE`]: every product of `ids` with the buckets of its lines.
fn rebuild_rows(ids: &[String], lines: &[Row]) -> Result<Vec<BoltType>> {
    let mut per: BTreeMap<&str, Buckets> = ids
        .iter()
        .map(|id| (id.as_str(), Buckets::default()))
        .collect();
    for row in lines {
        let id: String = get(row, "id")?;
        let ts: i64 = get(row, "ts")?;
        let quantity: i64 = get(row, "quantity")?;
        if let Some(b) = per.get_mut(id.as_str()) {
            b.add(ts, quantity, 1)?;
        }
    }
    Ok(per
        .into_iter()
        .map(|(id, b)| {
            param::map([
                ("id", param::s(id)),
                ("bound", b.bound().into()),
                ("hours", param::list(b.rows())),
            ])
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_717_243_200_000; // 2024-06-01 12:00 UTC, an hour's first millisecond

    #[test]
    fn a_line_created_and_removed_leaves_no_row() {
        let mut b = Buckets::default();
        b.add(T + 5, 3, 1).unwrap();
        b.add(T + 5, 3, -1).unwrap();
        assert!(b.rows().is_empty());
    }

    #[test]
    fn lines_of_one_hour_share_a_bucket_and_the_next_hour_has_its_own() {
        let mut b = Buckets::default();
        b.add(T, 1, 1).unwrap();
        b.add(T + trend::BUCKET_MS - 1, 2, 1).unwrap();
        b.add(T + trend::BUCKET_MS, 1, 1).unwrap();
        assert_eq!(b.0.len(), 2);
        assert_eq!(b.0[&trend::bucket_of_ms(T)].lines, 2);
        assert_eq!(b.rows().len(), 2);
    }

    #[test]
    fn the_bound_is_the_log_of_the_growing_hours_weights_plus_the_slack() {
        let hour = trend::bucket_of_ms(T);
        let mut b = Buckets::default();
        assert_eq!(b.bound(), None, "nothing added");
        b.add(T, 3, 1).unwrap(); // 3 units at the hour's start: v = 3 * 2^52
        b.add(T + trend::BUCKET_MS, 2, 1).unwrap(); // 2 units an hour later
        b.add(T - trend::BUCKET_MS, 5, -1).unwrap(); // an hour that loses counts for nothing

        // 2^(hour / 24) overflows a float: factor out 2^c.
        let c = (hour as f64 / 24.0).floor();
        let direct =
            3.0 * 2f64.powf(hour as f64 / 24.0 - c) + 2.0 * 2f64.powf((hour + 1) as f64 / 24.0 - c);
        let want = direct.ln() + c * std::f64::consts::LN_2 + BOUND_SLACK;
        let got = b.bound().unwrap();
        assert!(
            (got - want).abs() < 1e-10,
            "{got} vs {want} (the slack included)"
        );
        // A bound at `now` = the hour's start is the exact score of the first bucket alone
        // plus the next hour's, each decayed to `now` (no window scores it higher).
        let score = (got + ln_decay(T)).exp();
        let exact = 3.0 + 2.0 * 2f64.powf(1.0 / 24.0);
        assert!(
            score >= exact && score < exact * (1.0 + 1e-8),
            "{score} vs {exact}"
        );
    }

    #[test]
    fn quantities_beyond_the_exact_range_are_invalid() {
        let err = check_quantity(NewOrder::MAX_QUANTITY + 1, || "q".into()).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(check_quantity(NewOrder::MAX_QUANTITY, || "q".into()).is_ok());
    }
}
