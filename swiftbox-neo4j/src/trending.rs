//! [`swiftbox_core::GraphStore::trending`] from the per-product hourly buckets that apply
//! keeps (the `apply::buckets` projection, which documents them).
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
//! to three property reads per bucket (`product`, `hour`, `v`). Where the memory graph adds
//! a whole first-hour bucket's sum, this adds its lines: the score differs from the memory
//! graph's by a few ulps at most, and is bit for bit equal when the window cuts no bucket
//! (the lines' terms use Neo4j's `^`, which may differ from Rust's `powf` in the last bit).
//! Any other half-life, or a `now` with a sub-millisecond part, sums every purchase in the
//! window as before the buckets existed.
//!
//! # Which products
//!
//! Reading every product's buckets cost about two thirds of the whole-shop statement at M
//! (5,000 products), and reaching a large category's products' buckets one by one cost more
//! (8 ms for 1,104 products). So the products are taken best trend bound first (an upper
//! bound of each product's score kept by apply on its counter node: the `apply::buckets`
//! module docs), through the bound's index, or in a category through the `(category,
//! trend_bound)` index (every entry of the category read from the index alone, about 1 ms
//! for those 1,104), and scored as above,
//! `limit + 8` of them at first; when the `limit`-th score beats the last candidate's bound,
//! no other product can enter the answer. Otherwise a round reads 4 times as many
//! candidates, and after three rounds every product's buckets are scored. Bounds are tight
//! when a product's purchases are recent and were never removed, loose for products whose
//! purchases are mostly older than the window or were removed (until a rebuild).
//!
//! # Cost
//!
//! The bucket statement's cost follows the buckets it reads, the line-by-line one's the
//! purchases: the buckets pay off for the whole shop when its products sell more than a few
//! times per hour on average, and trending in one category reaches its products' buckets
//! through the index either way. The statement is not chosen by density yet; the measurements are in
//! `docs/performance-notes.md`, "Trend buckets".
//!

use neo4rs::{query, Query};
use swiftbox_core::graph::trend;
use swiftbox_core::{Error, Result, ScoredProduct, TrendingQuery};

use crate::apply::buckets;
use crate::graph::{param, Neo4jGraph};
use crate::queries::{get, scored};

/// Scores from buckets and cut hours' lines (module docs). `$bh0` is the first hour read from
/// buckets, `$h1` the last hour of the window (read from buckets unless a line lies after
/// `$now` in it, before `$h1_end`), `$decay` the decay of each hour from `$h0` on; `$lines`
/// lists `[from, to, hour]` ranges of lines to read, `$last_lines` the range read instead of
/// the last hour's buckets when they are cut (or none). `%BUCKETS%` matches the scope's
/// buckets `b` of the hours `$bh0..=last`, `%LINE_SCOPE%` restricts lines to the scope.
const BUCKETS_STATEMENT: &str = "
CALL () {
  OPTIONAL MATCH ()-[r:%PURCHASED%]->() WHERE r.timestamp > $now AND r.timestamp < $h1_end
  WITH r LIMIT 1
  RETURN r IS NOT NULL AS cut
}
CALL (cut) {
  WITH CASE WHEN cut THEN $h1 - 1 ELSE $h1 END AS last
  %BUCKETS%
  RETURN b.product AS id, b.hour AS hour, 0 AS t, '' AS o,
         b.v / 4503599627370496.0 * $decay.items[b.hour - $h0] AS term
  UNION ALL
  WITH cut
  UNWIND $lines.items + CASE WHEN cut THEN $last_lines.items ELSE [] END AS e
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

/// `%BUCKETS%` of [`BUCKETS_STATEMENT`] for the products `$ids`: their buckets.
const BUCKETS_OF: &str = "UNWIND $ids.items AS pid
  MATCH (b:%SwiftboxTrendBucket% {product: pid}) WHERE b.hour >= $bh0 AND b.hour <= last";

/// The `$n` products with the highest trend bounds (the `apply::buckets` module docs), best
/// first, through the bound's index (`%SCOPE%` empty), or in the category `$category` through
/// the `(category, trend_bound)` index.
const CANDIDATES: &str = "
MATCH (s:%SwiftboxProductStats%) WHERE s.trend_bound IS NOT NULL %SCOPE%
RETURN s.id AS id, s.trend_bound AS bound
ORDER BY bound DESC
LIMIT $n";

/// Candidates read beyond the limit in the first round of whole-shop trending.
const CANDIDATE_SLACK: usize = 8;

/// Rounds of candidates (each reading 4 times as many as the one before) before whole-shop
/// trending scores every product's buckets instead.
const CANDIDATE_ROUNDS: usize = 3;

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

/// The trending statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    buckets_all: String,
    buckets_category: String,
    buckets_of: String,
    candidates_all: String,
    candidates_category: String,
    lines_all: String,
    lines_category: String,
}

impl Statements {
    pub(crate) fn new(schema: &crate::schema::Schema) -> Self {
        let buckets = |scope: &str, line_scope: &str| {
            schema.cypher(
                &BUCKETS_STATEMENT
                    .replace("%BUCKETS%", scope)
                    .replace("%LINE_SCOPE%", line_scope),
            )
        };
        Self {
            buckets_all: buckets(BUCKETS_ALL, ""),
            buckets_category: buckets(BUCKETS_CATEGORY, "AND p.category = $category"),
            buckets_of: buckets(BUCKETS_OF, "AND p.id IN $ids.items"),
            candidates_all: schema.cypher(&CANDIDATES.replace("%SCOPE%", "")),
            candidates_category: schema
                .cypher(&CANDIDATES.replace("%SCOPE%", "AND s.category = $category")),
            // Without a category every product is in scope, and every `PURCHASED` ends at a
            // product (see the `queries` module docs), so the tail's pattern alone finds them
            // without a label check per purchase in the window.
            lines_all: schema.cypher(LINES_TAIL),
            lines_category: schema.cypher(&format!("{SCOPE_CATEGORY}\n{LINES_TAIL}")),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("trending.buckets_all", &self.buckets_all),
            ("trending.buckets_category", &self.buckets_category),
            ("trending.buckets_of", &self.buckets_of),
            ("trending.candidates_all", &self.candidates_all),
            ("trending.candidates_category", &self.candidates_category),
            ("trending.lines_all", &self.lines_all),
            ("trending.lines_category", &self.lines_category),
        ]
    }
}

/// The parameters of [`BUCKETS_STATEMENT`] for one query's window (module docs).
struct Window {
    now: i64,
    from: i64,
    h0: i64,
    h1: i64,
    bh0: i64,
    decay: Vec<f64>,
    lines: Vec<Vec<i64>>,
    last_lines: Vec<Vec<i64>>,
}

impl Window {
    fn new(now: i64, from: i64) -> Self {
        let (h0, h1) = (trend::bucket_of_ms(from), trend::bucket_of_ms(now));
        let decay = (h0..=h1)
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
        Self {
            now,
            from,
            h0,
            h1,
            bh0,
            decay,
            lines,
            last_lines,
        }
    }

    /// `text` (a rendering of [`BUCKETS_STATEMENT`]) with this window's parameters.
    fn query(&self, text: &str) -> Query {
        query(text)
            .param("now", self.now)
            .param("from", self.from)
            .param("half", trend::CACHED_HALF_LIFE_MS as f64)
            .param("h0", self.h0)
            .param("h1", self.h1)
            .param("bh0", self.bh0)
            .param("h1_end", trend::bucket_start_ms(self.h1 + 1))
            .param("decay", param::items(self.decay.clone()))
            .param("lines", param::items(self.lines.clone()))
            .param("last_lines", param::items(self.last_lines.clone()))
    }
}

impl Neo4jGraph {
    pub(crate) async fn trending_q(&self, tq: &TrendingQuery) -> Result<Vec<ScoredProduct>> {
        let st = &self.statements().trending;
        self.limits().check_limit(tq.limit)?;
        tq.validate()?;
        let now = tq.now.timestamp_millis();
        let from = now
            .checked_sub(tq.window.num_milliseconds())
            .ok_or_else(|| Error::invalid("now", "out of range"))?;
        let half = tq.half_life.num_milliseconds();
        let whole_ms = tq.now.timestamp_subsec_nanos().is_multiple_of(1_000_000);
        let limit = param::count(tq.limit);
        if half == trend::CACHED_HALF_LIFE_MS && whole_ms {
            let window = Window::new(now, from);
            return self
                .trending_by_bound(&window, tq.limit, tq.category.as_deref())
                .await;
        }
        let mut q = query(match tq.category {
            Some(_) => &st.lines_category,
            None => &st.lines_all,
        })
        .param("now", now)
        .param("from", from)
        .param("half", half as f64)
        .param("limit", limit);
        if let Some(c) = &tq.category {
            q = q.param("category", c.as_str());
        }
        self.read_as("trending", q, scored).await
    }

    /// Trending by trend bound, in the whole shop or a category: the products with the
    /// highest bounds are scored exactly; when the `limit`-th score beats every bound left, no
    /// other product can enter the answer and it is final. Otherwise the next round reads 4 times as many, and after
    /// [`CANDIDATE_ROUNDS`] every product's buckets are scored. The answer is the same in
    /// every case: the bound only decides how many products are read.
    async fn trending_by_bound(
        &self,
        window: &Window,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<ScoredProduct>> {
        let st = &self.statements().trending;
        let in_scope = |q: Query| match category {
            Some(c) => q.param("category", c),
            None => q,
        };
        let mut n = limit.saturating_add(CANDIDATE_SLACK);
        for _ in 0..CANDIDATE_ROUNDS {
            let text = match category {
                Some(_) => &st.candidates_category,
                None => &st.candidates_all,
            };
            let q = in_scope(query(text).param("n", param::count(n)));
            let candidates = self
                .read_as("trending", q, |rows| {
                    rows.iter()
                        .map(|r| Ok((get::<String>(r, "id")?, get::<f64>(r, "bound")?)))
                        .collect::<Result<Vec<_>>>()
                })
                .await?;
            let exhausted = candidates.len() < n;
            let Some(&(_, floor)) = candidates.last() else {
                return Ok(Vec::new());
            };
            let ids: Vec<String> = candidates.into_iter().map(|(id, _)| id).collect();
            let q = window
                .query(&st.buckets_of)
                .param("limit", param::count(ids.len()))
                .param("ids", param::items(ids));
            let mut answer = self.read_as("trending", q, scored).await?;
            // The best any other product can score; the slack covers the rounding of the
            // scores summed by the statement (relative 1e-15 or so).
            let beyond = floor + buckets::ln_decay(window.now) + buckets::BOUND_SLACK;
            let settled = exhausted
                || limit
                    .checked_sub(1)
                    .and_then(|k| answer.get(k))
                    .is_some_and(|kth| kth.score.ln() > beyond);
            if settled {
                answer.truncate(limit);
                return Ok(answer);
            }
            n = n.saturating_mul(4);
        }
        let text = match category {
            Some(_) => &st.buckets_category,
            None => &st.buckets_all,
        };
        let q = in_scope(window.query(text).param("limit", param::count(limit)));
        self.read_as("trending", q, scored).await
    }
}
