//! [`swiftbox_core::GraphStore::trending`] from per-product hourly buckets.
//!
//! # Buckets
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
//! # The query
//!
//! With the 24 h half-life and a whole-millisecond `now` (every stored time is whole
//! milliseconds), a product's score is the sum, in hour order, of its buckets wholly inside
//! the window, each adding `v / 2^52 * 0.5^((now - start) / 24 h)` (the decay of each hour
//! computed in Rust with the memory graph's code and passed as a list), and of its lines in
//! the hours the window cuts, one by one in time order (then order id), read through the
//! `PURCHASED(timestamp)` index:
//!
//! - the first hour is cut unless `now - window` is its first millisecond; then its lines from
//!   `now - window` on are read (at most one hour of purchases);
//! - the last hour is cut only when some line lies after `now` in it (one index probe); then
//!   its lines up to `now` are read.
//!
//! Deciding the edges from the lines, not from per-bucket bounds, keeps the whole-shop query
//! to three property reads per bucket (`product`, `hour`, `v`): at scale M (5,000 buckets)
//! every further property read costs about 1.3 ms, and a first/last pair per bucket plus a
//! pass to find the cut ones took the statement from 10 to 19 ms. Where the memory graph adds
//! a whole first-hour bucket's sum, this adds its lines: the score differs from the memory
//! graph's by a few ulps at most, and is bit for bit equal when the window cuts no bucket
//! (the lines' terms use Neo4j's `^`, which may differ from Rust's `powf` in the last bit).
//! Any other half-life, or a `now` with a sub-millisecond part, sums every purchase in the
//! window as before the buckets existed.
//!
//! # Cost
//!
//! A bucket costs the statement about 2.2 us, a purchase read line by line about 0.85 us
//! (scale M, Neo4j 5.26 Community), so the buckets pay off when products sell more than about
//! 2.6 times per hour and bucket on average. At M with every purchase within a minute (the
//! benchmark's data) whole-shop trending took 13 ms against 114-122 ms line by line; with the
//! same purchases spread over 30 days (about 1.3 per bucket) 80-103 ms against 37-44 ms.
//! Trending in one category is faster with the buckets either way. Choosing the statement by
//! density is not done yet (BENCHMARKS.md, "Neo4j trending buckets").
//!
//! # Older graphs
//!
//! A product's counter node carries `trend = 1` once its buckets are complete (set for a
//! product created afresh, and by the rebuild); [`Neo4jGraph::migrate`] rebuilds the buckets of
//! every product whose counter node lacks it, from its relationships, under the counter node's
//! lock, so a graph written before the buckets existed (or by this version applying before
//! migrate ran) answers as if they always had.

use std::collections::BTreeMap;

use neo4rs::{query, BoltType, Row};
use swiftbox_core::graph::trend;
use swiftbox_core::{Error, NewOrder, Result, ScoredProduct, TrendingQuery};

use crate::error::{self, Msg};
use crate::graph::{param, Neo4jGraph};
use crate::queries::{get, scored};

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

    /// The `hours` parameter of [`BUCKETS_UPDATE`] / [`REBUILD_WRITE`], hour ascending,
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

/// The tail of the counter statement of apply (`row.id` the product, `row.hours` the rows of
/// [`Buckets::rows`]; run after the counter node is write-locked): moves the product's
/// buckets, deleting those left without lines.
pub(crate) fn buckets_update() -> String {
    BUCKETS_UPDATE.replace("%VALUE%", VALUE)
}

/// See [`buckets_update`].
const BUCKETS_UPDATE: &str = "
WITH row
CALL {
  WITH row
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
pub(crate) const BUCKETS_DELETE: &str = "CALL {
  WITH row
  MATCH (b:%SwiftboxTrendBucket%) USING INDEX b:%SwiftboxTrendBucket%(product, hour)
  WHERE b.product = row.id AND b.hour >= -9223372036854775807
  DELETE b
}";

/// A bucket's exact sum as a float, from its halves `b.hi` and `b.lo` (module docs).
const VALUE: &str = "toFloat(b.hi) * 67108864.0 + toFloat(b.lo)";

/// Scores from buckets and cut hours' lines (module docs). `$bh0` is the first hour read from
/// buckets, `$h1` the last hour of the window (read from buckets unless a line lies after
/// `$now` in it, before `$h1_end`), `$decay` the decay of each hour from `$h0` on; `$lines`
/// lists `[from, to, hour]` ranges of lines to read, `$last_lines` the range read instead of
/// the last hour's buckets when they are cut (or none). `%BUCKETS%` matches the scope's
/// buckets `b` of the hours `$bh0..=last`, `%LINE_SCOPE%` restricts lines to the scope.
const BUCKETS_STATEMENT: &str = "
CALL {
  OPTIONAL MATCH ()-[r:%PURCHASED%]->() WHERE r.timestamp > $now AND r.timestamp < $h1_end
  WITH r LIMIT 1
  RETURN r IS NOT NULL AS cut
}
CALL {
  WITH cut
  WITH CASE WHEN cut THEN $h1 - 1 ELSE $h1 END AS last
  %BUCKETS%
  RETURN b.product AS id, b.hour AS hour, 0 AS t, '' AS o,
         b.v / 4503599627370496.0 * $decay[b.hour - $h0] AS term
  UNION ALL
  WITH cut
  UNWIND $lines + CASE WHEN cut THEN $last_lines ELSE [] END AS e
  MATCH ()-[r:%PURCHASED%]->(p)
  WHERE r.timestamp >= e[0] AND r.timestamp <= e[1] %LINE_SCOPE%
  RETURN p.id AS id, e[2] AS hour, r.timestamp AS t, r.order_id AS o,
         r.quantity * 0.5 ^ (toFloat($now - r.timestamp) / $half) AS term
}
WITH id, hour, t, o, term ORDER BY id, hour, t, o
WITH id, collect(term) AS terms
WITH id, reduce(s = 0.0, x IN terms | s + x) AS score
ORDER BY score DESC, id ASC
MATCH (p:%Product% {id: id})
RETURN p.id AS id, p.name AS name, score
ORDER BY score DESC, id ASC
LIMIT $limit";

/// `%BUCKETS%` of [`BUCKETS_STATEMENT`] over the whole shop.
const BUCKETS_ALL: &str = "MATCH (b:%SwiftboxTrendBucket%) WHERE b.hour >= $bh0 AND b.hour <= last";

/// `%BUCKETS%` of [`BUCKETS_STATEMENT`] in a category: its products' buckets.
const BUCKETS_CATEGORY: &str = "MATCH (p:%Product% {category: $category})
  MATCH (b:%SwiftboxTrendBucket% {product: p.id}) WHERE b.hour >= $bh0 AND b.hour <= last";

/// Restricts the statement that follows to the category's products (as `p`).
const SCOPE_CATEGORY: &str = "MATCH (p:%Product% {category: $category})";

/// Scores from every purchase in the window (other half-lives, sub-millisecond `now`).
const LINES_TAIL: &str = "
MATCH (p)<-[r:%PURCHASED%]-()
WHERE r.timestamp >= $from AND r.timestamp <= $now
WITH p, sum(r.quantity * 0.5 ^ (toFloat($now - r.timestamp) / $half)) AS score
RETURN p.id AS id, p.name AS name, score
ORDER BY score DESC, id ASC
LIMIT $limit";

/// The products (ids after `$after`, at most `$batch`) whose buckets a rebuild redoes: those
/// whose counter node is not marked complete, or all (`%WHERE%`).
const REBUILD_NEXT: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE s.id > $after %WHERE%
RETURN s.id AS id
ORDER BY id
LIMIT $batch";

/// Write-locks the counter nodes of `$ids` and reads their products' lines.
const REBUILD_READ: &str = "
UNWIND $ids AS id
MATCH (s:%SwiftboxProductStats% {id: id})
REMOVE s.trend
WITH id
MATCH (:%Product% {id: id})<-[r:%PURCHASED%]-()
RETURN id, r.timestamp AS ts, r.quantity AS quantity";

/// Replaces the buckets of the products `$rows` (`id`, `hours`) and marks them complete.
const REBUILD_WRITE: &str = "
UNWIND $rows AS row
MATCH (s:%SwiftboxProductStats% {id: row.id})
SET s.trend = 1
WITH row
%BUCKETS_DELETE%
WITH row
UNWIND row.hours AS h
CREATE (b:%SwiftboxTrendBucket% {product: row.id, hour: h.hour, hi: h.hi, lo: h.lo,
                                 lines: h.lines})
SET b.v = %VALUE%";

/// Deletes buckets whose product has no counter node (only a hand edit leaves one).
const ORPHAN_BUCKETS: &str = "
MATCH (b:%SwiftboxTrendBucket%)
WHERE NOT EXISTS { MATCH (:%SwiftboxProductStats% {id: b.product}) }
DELETE b";

/// Products per rebuild transaction.
const REBUILD_BATCH: i64 = 500;

impl Neo4jGraph {
    pub(crate) async fn trending_q(&self, tq: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        self.limits().check_limit(tq.limit)?;
        tq.validate()?;
        let now = tq.now.timestamp_millis();
        let from = now
            .checked_sub(tq.window.num_milliseconds())
            .ok_or_else(|| Error::invalid("now", "out of range"))?;
        let half = tq.half_life.num_milliseconds();
        let whole_ms = tq.now.timestamp_subsec_nanos().is_multiple_of(1_000_000);
        let q = if half == trend::CACHED_HALF_LIFE_MS && whole_ms {
            let (h0, h1) = (trend::bucket_of_ms(from), trend::bucket_of_ms(now));
            let decay: Vec<f64> = (h0..=h1)
                .map(|h| trend::bucket_decay(now, trend::bucket_start_ms(h)))
                .collect();
            let range = |from: i64, to: i64, hour: i64| vec![from, to, hour];
            // The first hour from buckets only when the window starts with it.
            let (bh0, lines) = if from == trend::bucket_start_ms(h0) {
                (h0, vec![])
            } else {
                let end = trend::bucket_start_ms(h0) + trend::BUCKET_MS - 1;
                (h0 + 1, vec![range(from, end.min(now), h0)])
            };
            let last_lines = if h1 >= bh0 {
                vec![range(trend::bucket_start_ms(h1).max(from), now, h1)]
            } else {
                vec![]
            };
            let (buckets, line_scope) = match tq.category {
                Some(_) => (BUCKETS_CATEGORY, "AND p.category = $category"),
                None => (BUCKETS_ALL, ""),
            };
            let text = BUCKETS_STATEMENT
                .replace("%BUCKETS%", buckets)
                .replace("%LINE_SCOPE%", line_scope);
            query(&self.cypher(&text))
                .param("h0", h0)
                .param("h1", h1)
                .param("bh0", bh0)
                .param("h1_end", trend::bucket_start_ms(h1 + 1))
                .param("decay", decay)
                .param("lines", lines)
                .param("last_lines", last_lines)
        } else {
            // Without a category every product is in scope, and every `PURCHASED` ends at a
            // product (see the `queries` module docs), so the tail's pattern alone finds them
            // without a label check per purchase in the window (195k of 591k db hits at M).
            let scope = if tq.category.is_some() {
                SCOPE_CATEGORY
            } else {
                ""
            };
            query(&self.cypher(&format!("{scope}\n{LINES_TAIL}")))
        };
        let mut q = q
            .param("now", now)
            .param("from", from)
            .param("half", half as f64)
            .param("limit", param::count(tq.limit));
        if let Some(c) = &tq.category {
            q = q.param("category", c.as_str());
        }
        scored(&self.read("trending", q).await?)
    }

    /// Rebuilds the trend buckets of every product (`all`, which also deletes buckets without
    /// a counter node), or of those not marked complete, from their `PURCHASED`
    /// relationships, in transactions of [`REBUILD_BATCH`] products, each under the products'
    /// counter-node locks (so an apply running at the same time waits, and then moves the
    /// rebuilt buckets).
    pub(crate) async fn rebuild_trend_buckets(&self, all: bool) -> Result<()> {
        if all {
            self.write_txn(
                "rebuild_trend_buckets",
                vec![query(&self.cypher(ORPHAN_BUCKETS))],
            )
            .await?;
        }
        let next = self
            .cypher(&REBUILD_NEXT.replace("%WHERE%", if all { "" } else { "AND s.trend IS NULL" }));
        let read = self.cypher(REBUILD_READ);
        let write = self.cypher(
            &REBUILD_WRITE
                .replace("%VALUE%", VALUE)
                .replace("%BUCKETS_DELETE%", BUCKETS_DELETE),
        );
        let mut after = String::new();
        loop {
            let q = query(&next)
                .param("after", after.as_str())
                .param("batch", REBUILD_BATCH);
            let ids: Vec<String> = self
                .read("rebuild_trend_buckets", q)
                .await?
                .iter()
                .map(|row| get(row, "id"))
                .collect::<Result<_>>()?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = last.clone();
            let read_q = query(&read).param("ids", ids.clone());
            self.write_txn_then("rebuild_trend_buckets", vec![read_q], |results| {
                let rows = results.first().map(Vec::as_slice).unwrap_or_default();
                let rows = rebuild_rows(&ids, rows)?;
                Ok(Some(query(&write).param("rows", param::list(rows))))
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
        .map(|(id, b)| param::map([("id", param::s(id)), ("hours", param::list(b.rows()))]))
        .collect())
}
