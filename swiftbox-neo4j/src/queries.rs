//! The read queries of [`swiftbox_core::GraphStore`], each one Cypher statement (one
//! explicit transaction), parameterised, with the per-hop caps of [`GraphLimits`] applied by
//! `CALL (x) { ... ORDER BY ... LIMIT }` subqueries, and the rankings and tie-breaks of the
//! [`swiftbox_core::graph`] module docs.
//!
//! Fan-out: a hop "recent buyers of a product" on a product with more relationships than the
//! cap still reads them all to find the most recent ones (Neo4j has no per-node index on
//! relationship properties), but only the capped set is followed further, so a product bought
//! by everyone costs one scan of its relationships, not a walk through every buyer's history.
//! A node with no more relationships than the cap (most users, most products) is expanded
//! bare: no timestamp or id is read to rank what the cap would not cut (`recent_hop!`).
//!
//! `popular` and the cold-start fill of `recommendations_for` rank products by the counters
//! apply keeps on an internal node per product (`SwiftboxProductStats {id, purchases, units,
//! buyers}`, see the `apply` module), not by reading every product's `PURCHASED`
//! relationships. Overall, the counter nodes are read in the order of their counter's range
//! index (`PROFILE` at M: 53 db hits for a top 10, against 13.8k for purchases, 541k for units
//! and 281k for buyers read from the relationships), and only the returned ones are joined to
//! their products; the fill's overall part reads them in that order until it has `$global`
//! products the user did not buy (the statement's final `ORDER BY ... LIMIT` decides the
//! answer; the earlier order only lets Neo4j stop early). Per category, the category's
//! products (by the `category` index) are joined to their counter nodes.
//!
//! Measured with `PROFILE` at scale M (20k users, 5k products, 200k purchases), two rules keep
//! the database hits down without changing any answer:
//!
//! - Every `PURCHASED` relationship runs from a `User` node to a `Product` node of the same
//!   namespace (apply creates them only between the two, and a node delete takes its
//!   relationships with it), so the hops do not re-check the labels of the nodes at their ends:
//!   a label check is one database hit per relationship read (81k of similar_users' 347k).
//! - "The user did not buy it" is tested against the user's products collected once
//!   (`NOT c IN mine`), not with `NOT EXISTS { (u)-[:PURCHASED]->(c) }` per candidate, which
//!   Neo4j plans as an `Expand(Into)` walking the user's relationships again for every
//!   candidate (477k of recommendations_for's 867k database hits).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use neo4rs::{query, BoltType, Row};
use serde::de::DeserializeOwned;
use swiftbox_core::{
    Currency, GraphLimits, Money, OrderId, PopularQuery, PopularityMetric, ProductId,
    PurchaseRecord, Reason, Recommendation, Result, ScoredProduct, SimilarUser, UserId,
};

use crate::apply::recent::fill_recent;
use crate::error;
use crate::graph::{param, Neo4jGraph};
use crate::schema::Schema;

/// The *recent products of a user* hop of the core docs: `CALL` subquery importing `$user`,
/// returning the user's distinct products (as `$out`) by latest purchase, newest first, then
/// id, at most `$cap` (a parameter name). See `recent_hop!` for its two branches.
macro_rules! recent_products {
    ($user:literal, $out:literal, $cap:literal) => {
        recent_hop!($user, "-[:%PURCHASED%]->", "-[r:%PURCHASED%]->", $out, $cap)
    };
}

/// The *recent buyers of a product* hop of the core docs: `CALL` subquery importing
/// `$product`, returning its distinct buyers (as `$out`) by latest purchase, newest first, then
/// id, at most `$cap`.
///
/// Read from the list apply keeps on the product's counter node (`recent`, ranked the same
/// way, at most `RECENT_BUYERS_KEPT` of the `apply::recent` module, filled in as `%KEPT%` by
/// `fill_recent`) when that list answers
/// the hop: the cap is within the list's length, or the list is shorter than `$kept` (then it
/// holds every buyer). Otherwise (a larger cap, a counter node without a list) from the
/// relationships (`recent_hop!`).
macro_rules! recent_buyers {
    ($product:literal, $out:literal, $cap:literal) => {
        concat!(
            "CALL (",
            $product,
            ") {",
            listed_buyers!($product, ""),
            "  UNWIND st.recent[0..$",
            $cap,
            "] AS e\n  MATCH (x:%User% {id: substring(e, %KEY_LEN%)})\n  RETURN x AS ",
            $out,
            "\n  UNION ALL",
            listed_buyers!($product, "NOT "),
            "  ",
            recent_hop!(
                $product,
                "<-[:%PURCHASED%]-",
                "<-[r:%PURCHASED%]-",
                $out,
                $cap
            ),
            "  RETURN ",
            $out,
            "\n}\n"
        )
    };
}

/// The start of one branch of `recent_buyers!` (in a subquery importing `$product`): keeps it when its
/// counter node's list answers the hop (`$not` empty) or when it does not (`$not` = `NOT `).
macro_rules! listed_buyers {
    ($product:literal, $not:literal) => {
        concat!(
            "\n  OPTIONAL MATCH (st:%SwiftboxProductStats% {id: ",
            $product,
            ".id})\n  WITH ",
            $product,
            ", st WHERE ",
            $not,
            "(st.recent IS NOT NULL AND ($buyers <= %KEPT% OR size(st.recent) < %KEPT%))\n"
        )
    };
}

/// A capped hop from `$from` over `PURCHASED` relationships (`$rel` without a variable, `$rel_r`
/// the same bound to `r`), in two exclusive branches. When the node has at most `$cap`
/// relationships of the type (its degree, which Neo4j reads from the node without touching the
/// relationships), it has at most `$cap` distinct neighbours, so the cap cuts nothing and every
/// neighbour is returned without reading a timestamp or an id: at scale M, for the heaviest
/// buyer's `recommendations_for`, this took 108k database hits to 72k (47-53 ms against 69 ms),
/// the peers' products being read bare. Otherwise the neighbours are ranked by latest purchase,
/// then id, and cut at `$cap`.
macro_rules! recent_hop {
    ($from:literal, $rel:literal, $rel_r:literal, $out:literal, $cap:literal) => {
        concat!(
            "CALL (",
            $from,
            ") {",
            hop_branch!($from, $rel, "<=", $cap),
            $rel,
            "(x)\n  RETURN DISTINCT x AS ",
            $out,
            "\n  UNION ALL",
            hop_branch!($from, $rel, ">", $cap),
            $rel_r,
            "(x)\n  WITH x, max(r.timestamp) AS last\n  ORDER BY last DESC, x.id ASC LIMIT $",
            $cap,
            "\n  RETURN x AS ",
            $out,
            "\n}\n"
        )
    };
}

/// The start of one branch of `recent_hop!` (in a subquery importing `$from`): keeps it when its degree over
/// `$rel` compares to `$cap` by `$op`, and opens the `MATCH` from it.
macro_rules! hop_branch {
    ($from:literal, $rel:literal, $op:literal, $cap:literal) => {
        concat!(
            "\n  WITH ",
            $from,
            " WHERE COUNT { (",
            $from,
            ")",
            $rel,
            "() } ",
            $op,
            " $",
            $cap,
            "\n  MATCH (",
            $from,
            ")"
        )
    };
}

/// Item-based collaborative filtering over the neighbour lists kept on the counter nodes (the
/// `neighbours` module): one row per candidate, best first, with the seeds whose list holds it
/// (`because`: the caller keeps the three smallest distinct ones).
///
/// `mine` is every product of the user, newest purchase first, then id (one read of the user's
/// relationships), and the seeds are its first `$seed`. A seed of rank `i` weighs `$decay ^ i`
/// (the core's `seed_weight`), `round(_, 9)` is the core's `round_score`. The user's own
/// products are left out after grouping (one `IN` per candidate, not per list entry), and a
/// listed product deleted since is dropped by its `MATCH` before the cut.
const RECOMMEND_CF: &str = "MATCH (u:%User% {id: $user})
CALL (u) {
  MATCH (u)-[r:%PURCHASED%]->(x)
  WITH x.id AS id, max(r.timestamp) AS last
  ORDER BY last DESC, id ASC
  RETURN collect(id) AS mine
}
WITH mine, mine[0..$seed] AS seeds
UNWIND range(0, size(seeds) - 1) AS rank
MATCH (st:%SwiftboxProductStats% {id: seeds[rank]})
WHERE st.neighbours IS NOT NULL
UNWIND range(0, size(st.neighbours) - 1) AS j
WITH mine, st.id AS seed, st.neighbours[j] AS cid, $decay ^ rank * st.neighbour_scores[j] AS w
WITH mine, cid, sum(w) AS raw, collect(seed) AS because
WHERE NOT cid IN mine
MATCH (c:%Product% {id: cid})
WITH c, round(raw, 9) AS score, because
ORDER BY score DESC, c.id ASC LIMIT $limit
RETURN c.id AS id, c.name AS name, score, because";

/// The cold-start fill: the user's top categories (a product's category is its `category`
/// property, as in every backend) with their best-selling products (rows with
/// a category), then the best-selling products overall (rows without), skipping `$exclude`
/// and what the user bought.
const RECOMMEND_FILL: &str = "
OPTIONAL MATCH (u:%User% {id: $user})
CALL (u) {
  OPTIONAL MATCH (u)-[:%PURCHASED%]->(x)
  RETURN collect(DISTINCT x) AS mine
}
CALL (u) {
  CALL (u) {
    MATCH (u)-[:%PURCHASED%]->(p:%Product%) RETURN p
    UNION
    WITH u
    MATCH (u)-[:%VIEWED%]->(p:%Product%) RETURN p
  }
  WITH p.category AS category, count(DISTINCT p) AS n
  ORDER BY n DESC, category ASC LIMIT $categories
  RETURN category, n
}
CALL (mine, category) {
  MATCH (p:%Product% {category: category})
  WHERE NOT p.id IN $exclude.items AND NOT p IN mine
  MATCH (s:%SwiftboxProductStats% {id: p.id})
  WITH p, s.purchases AS pc
  WHERE pc > 0
  RETURN p.id AS id, p.name AS name, pc
  ORDER BY pc DESC, id ASC LIMIT $need
}
RETURN category, n, id, name, pc
UNION ALL
OPTIONAL MATCH (u:%User% {id: $user})
CALL (u) {
  OPTIONAL MATCH (u)-[:%PURCHASED%]->(x)
  RETURN collect(DISTINCT x) AS mine
}
CALL (mine) {
  MATCH (s:%SwiftboxProductStats%)
  WHERE s.purchases > 0
  WITH mine, s ORDER BY s.purchases DESC, s.id ASC
  MATCH (p:%Product% {id: s.id})
  WHERE NOT p.id IN $exclude.items AND NOT p IN mine
  RETURN p.id AS id, p.name AS name, s.purchases AS pc
  ORDER BY pc DESC, id ASC LIMIT $global
}
RETURN null AS category, 0 AS n, id, name, pc";

const ALSO_BOUGHT: &str = concat!(
    "MATCH (p:%Product% {id: $product})\n",
    recent_buyers!("p", "b", "buyers"),
    recent_products!("b", "o", "per_buyer"),
    "WITH p, o, b WHERE o <> p
WITH o, count(DISTINCT b) AS score
RETURN o.id AS id, o.name AS name, score
ORDER BY score DESC, id ASC
LIMIT $limit"
);

/// Popular overall from the counter nodes apply keeps per product (placeholder `%METRIC%`:
/// `purchases`, `units` or `buyers`, never input), read in their index's order and joined to
/// their products until `$limit` are found (a counter node whose product was deleted by hand
/// is skipped).
const POPULAR_ALL: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE s.%METRIC% > 0
WITH s ORDER BY s.%METRIC% DESC, s.id ASC
MATCH (p:%Product% {id: s.id})
RETURN p.id AS id, p.name AS name, s.%METRIC% AS score
ORDER BY score DESC, id ASC
LIMIT $limit";

/// Popular in one category: its products, each one's counter node.
const POPULAR_CATEGORY: &str = "
MATCH (p:%Product% {category: $category})
MATCH (s:%SwiftboxProductStats% {id: p.id})
WHERE s.%METRIC% > 0
RETURN p.id AS id, p.name AS name, s.%METRIC% AS score
ORDER BY score DESC, id ASC
LIMIT $limit";

const HISTORY: &str = "
MATCH (:%User% {id: $user})-[r:%PURCHASED%]->(p:%Product%)
RETURN r.order_id AS order_id, p.id AS product, p.name AS name, r.quantity AS quantity,
       r.price AS price, r.currency AS currency, r.timestamp AS ts
ORDER BY ts DESC, order_id ASC, product ASC
LIMIT $limit";

/// `similar_users`: the candidates are the recent buyers of the user's recent products (the
/// caps of [`GraphLimits`]), each scored by exact Jaccard similarity over all products. Each
/// user's distinct products come from its bought set (the `apply::bought` projection), or
/// from its relationships where it has none yet (`%BOUGHT%`, for `u` and `b`).
const SIMILAR_USERS: &str = concat!(
    "MATCH (u:%User% {id: $user})
CALL (u) {
  %BOUGHT_u%
  RETURN bought AS mine
}
",
    recent_products!("u", "s", "seed"),
    recent_buyers!("s", "b", "buyers"),
    "WITH DISTINCT u, mine, b WHERE b <> u
CALL (b) {
  %BOUGHT_b%
  RETURN bought AS theirs
}
WITH b, size([q IN theirs WHERE q IN mine]) AS shared, size(mine) + size(theirs) AS sizes
WITH b, shared, sizes - shared AS union_size
WHERE shared > 0
RETURN b.id AS id, b.username AS username, shared, toFloat(shared) / toFloat(union_size) AS similarity
ORDER BY similarity DESC, shared DESC, id ASC
LIMIT $limit"
);

/// `template` with `%BOUGHT_u%` and `%BOUGHT_b%`: the product ids of user `u` (or `b`) as
/// `bought`, from its bought set, or read from its relationships when it has none.
fn fill_bought(template: &str) -> String {
    const BOUGHT: &str = "WITH %U%, %U%.bought AS kept
  WITH CASE WHEN kept IS NULL
       THEN COLLECT { MATCH (%U%)-[:%PURCHASED%]->(x) RETURN DISTINCT x.id }
       ELSE kept END AS bought";
    ["u", "b"].iter().fold(template.to_owned(), |t, user| {
        t.replace(&format!("%BOUGHT_{user}%"), &BOUGHT.replace("%U%", user))
    })
}

/// The read statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    recommend_cf: String,
    recommend_fill: String,
    also_bought: String,
    /// By [`PopularityMetric`] (purchases, units, buyers): overall, then in a category.
    popular: [(String, String); 3],
    history: String,
    similar_users: String,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        let popular = |metric: &str| {
            (
                schema.cypher(&POPULAR_ALL.replace("%METRIC%", metric)),
                schema.cypher(&POPULAR_CATEGORY.replace("%METRIC%", metric)),
            )
        };
        Self {
            recommend_cf: schema.cypher(RECOMMEND_CF),
            recommend_fill: schema.cypher(RECOMMEND_FILL),
            also_bought: schema.cypher(&fill_recent(ALSO_BOUGHT)),
            popular: [popular("purchases"), popular("units"), popular("buyers")],
            history: schema.cypher(HISTORY),
            similar_users: schema.cypher(&fill_bought(&fill_recent(SIMILAR_USERS))),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("query.recommend", self.recommend_cf.as_str()),
            ("query.recommend_fill", &self.recommend_fill),
            ("query.also_bought", &self.also_bought),
            ("query.purchase_history", &self.history),
            ("query.similar_users", &self.similar_users),
        ];
        for (all, category) in &self.popular {
            out.push(("query.popular", all));
            out.push(("query.popular_category", category));
        }
        out
    }
}

/// A collaborative-filtering recommendation from a row of `recommend_cf`.
fn recommendation(row: &Row) -> Result<Recommendation> {
    let id: String = get(row, "id")?;
    let because: Vec<String> = get(row, "because")?;
    let mut because = because
        .iter()
        .map(|s| parse_id(s, ProductId::parse))
        .collect::<Result<Vec<_>>>()?;
    because.sort();
    because.dedup();
    because.truncate(3);
    Ok(Recommendation {
        product: parse_id(&id, ProductId::parse)?,
        name: get(row, "name")?,
        score: get(row, "score")?,
        reason: Reason::CoPurchased { because },
    })
}

/// A fill candidate: purchase count, product, name.
type Candidate = (i64, ProductId, String);

/// Reads one column of a row. A null where `T` wants a value is [`error::read_null`] (an
/// entity deleted while the statement read it), anything else that does not decode is
/// [`error::decode`].
pub(crate) fn get<T: DeserializeOwned>(row: &Row, column: &str) -> Result<T> {
    row.get::<T>(column).map_err(|e| {
        if matches!(row.get::<BoltType>(column), Ok(BoltType::Null(_))) {
            error::read_null(column)
        } else {
            error::decode(column, format!("{e}"))
        }
    })
}

pub(crate) fn parse_id<T>(s: &str, parse: impl Fn(&str) -> Result<T>) -> Result<T> {
    parse(s).map_err(|e| error::decode("id", format!("{s:?}: {e}")))
}

pub(crate) fn money(minor: i64, currency: &str) -> Result<Money> {
    let currency = Currency::parse(currency).map_err(|e| error::decode("currency", e))?;
    Ok(Money::new(minor, currency))
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| error::decode("timestamp", format!("{ms} out of range")))
}

/// Scored products from rows with `id`, `name` and a numeric `score` column (integer or float).
pub(crate) fn scored(rows: Vec<Row>) -> Result<Vec<ScoredProduct>> {
    rows.iter()
        .map(|row| {
            let id: String = get(row, "id")?;
            let score = match row.get::<i64>("score") {
                Ok(n) => n as f64,
                Err(_) => get::<f64>(row, "score")?,
            };
            Ok(ScoredProduct {
                product: parse_id(&id, ProductId::parse)?,
                name: get(row, "name")?,
                score,
            })
        })
        .collect()
}

impl Neo4jGraph {
    fn read_statements(&self) -> &Statements {
        &self.statements().queries
    }

    fn caps(&self) -> GraphLimits {
        self.inner.config.limits
    }

    pub(crate) async fn recommendations(
        &self,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Recommendation>> {
        let caps = self.caps();
        caps.check_limit(limit)?;
        let q = query(&self.read_statements().recommend_cf)
            .param("user", user.to_string())
            .param("seed", param::count(caps.recommendation_seeds))
            .param("decay", swiftbox_core::graph::SEED_DECAY)
            .param("limit", param::count(limit));
        let mut recs = self
            .read_as("recommendations", q, |rows| {
                rows.iter().map(recommendation).collect::<Result<Vec<_>>>()
            })
            .await?;
        if recs.len() < limit {
            self.fill(user, limit, &mut recs).await?;
        }
        Ok(recs)
    }

    /// The second round trip of [`Self::recommendations`], only when collaborative filtering
    /// gave fewer than `limit`.
    async fn fill(
        &self,
        user: &UserId,
        limit: usize,
        recs: &mut Vec<Recommendation>,
    ) -> Result<()> {
        let caps = self.caps();
        let need = limit - recs.len();
        let exclude: Vec<String> = recs.iter().map(|r| r.product.to_string()).collect();
        let q = query(&self.read_statements().recommend_fill)
            .param("user", user.to_string())
            .param("exclude", param::items(exclude))
            .param("categories", param::count(caps.fallback_categories))
            .param("need", param::count(need))
            .param("global", param::count(need.saturating_mul(2)));
        let rows = self
            .read_as("recommendations fill", q, |rows| {
                rows.iter()
                    .map(|row| {
                        let id: String = get(row, "id")?;
                        let candidate = (
                            get::<i64>(row, "pc")?,
                            parse_id(&id, ProductId::parse)?,
                            get::<String>(row, "name")?,
                        );
                        let category = match get::<Option<String>>(row, "category")? {
                            Some(category) => Some((category, get::<i64>(row, "n")?)),
                            None => None,
                        };
                        Ok((category, candidate))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .await?;

        // category name -> (n, products); products ranked by count desc, id asc.
        let mut by_category: BTreeMap<String, (i64, Vec<Candidate>)> = BTreeMap::new();
        let mut popular: Vec<Candidate> = Vec::new();
        for (category, entry) in rows {
            match category {
                Some((category, n)) => by_category
                    .entry(category)
                    .or_insert((n, Vec::new()))
                    .1
                    .push(entry),
                None => popular.push(entry),
            }
        }
        let rank = |a: &Candidate, b: &Candidate| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        let mut categories: Vec<(String, (i64, Vec<Candidate>))> =
            by_category.into_iter().collect();
        categories.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let mut listed: HashSet<ProductId> = recs.iter().map(|r| r.product).collect();
        let candidates = categories
            .into_iter()
            .flat_map(|(category, (_, mut products))| {
                products.sort_by(rank);
                products.into_iter().map(move |p| {
                    (
                        p,
                        Reason::PopularInCategory {
                            category: category.clone(),
                        },
                    )
                })
            })
            .chain({
                popular.sort_by(rank);
                popular.into_iter().map(|p| (p, Reason::Popular))
            });
        for ((count, product, name), reason) in candidates {
            if recs.len() >= limit {
                break;
            }
            if listed.insert(product) {
                recs.push(Recommendation {
                    product,
                    name,
                    score: count as f64,
                    reason,
                });
            }
        }
        Ok(())
    }

    pub(crate) async fn also_bought_q(
        &self,
        product: &ProductId,
        limit: usize,
    ) -> Result<Vec<ScoredProduct>> {
        let caps = self.caps();
        caps.check_limit(limit)?;
        let q = query(&self.read_statements().also_bought)
            .param("product", product.to_string())
            .param("buyers", param::count(caps.buyers_per_product))
            .param("per_buyer", param::count(caps.products_per_buyer))
            .param("limit", param::count(limit));
        self.read_as("also_bought", q, scored).await
    }

    pub(crate) async fn popular_q(&self, pq: &PopularQuery) -> Result<Vec<ScoredProduct>> {
        self.caps().check_limit(pq.limit)?;
        let (all, category) = &self.read_statements().popular[match pq.metric {
            PopularityMetric::Purchases => 0,
            PopularityMetric::Units => 1,
            PopularityMetric::Buyers => 2,
        }];
        let text = if pq.category.is_some() { category } else { all };
        let mut q = query(text).param("limit", param::count(pq.limit));
        if let Some(c) = &pq.category {
            q = q.param("category", c.as_str());
        }
        self.read_as("popular", q, scored).await
    }

    pub(crate) async fn history(&self, user: &UserId, limit: usize) -> Result<Vec<PurchaseRecord>> {
        self.caps().check_limit(limit)?;
        let q = query(&self.read_statements().history)
            .param("user", user.to_string())
            .param("limit", param::count(limit));
        self.read_as("purchase_history", q, |rows| {
            rows.iter()
                .map(|row| {
                    let order: String = get(row, "order_id")?;
                    let product: String = get(row, "product")?;
                    let currency: String = get(row, "currency")?;
                    Ok(PurchaseRecord {
                        order_id: parse_id(&order, OrderId::parse)?,
                        product: parse_id(&product, ProductId::parse)?,
                        product_name: get(row, "name")?,
                        quantity: get(row, "quantity")?,
                        unit_price: money(get(row, "price")?, &currency)?,
                        purchased_at: time(get(row, "ts")?)?,
                    })
                })
                .collect()
        })
        .await
    }

    pub(crate) async fn similar(&self, user: &UserId, limit: usize) -> Result<Vec<SimilarUser>> {
        let caps = self.caps();
        caps.check_limit(limit)?;
        let q = query(&self.read_statements().similar_users)
            .param("user", user.to_string())
            .param("seed", param::count(caps.seed_products))
            .param("buyers", param::count(caps.buyers_per_product))
            .param("limit", param::count(limit));
        self.read_as("similar_users", q, |rows| {
            rows.iter()
                .map(|row| {
                    let id: String = get(row, "id")?;
                    let shared: i64 = get(row, "shared")?;
                    Ok(SimilarUser {
                        user: parse_id(&id, UserId::parse)?,
                        username: get(row, "username")?,
                        similarity: get(row, "similarity")?,
                        shared: u64::try_from(shared).unwrap_or(0),
                    })
                })
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use neo4rs::{BoltList, BoltNull, BoltString, BoltType, Row};

    use super::*;

    fn row(value: BoltType) -> Row {
        Row::new(
            BoltList::from(vec![BoltType::String(BoltString::from("name"))]),
            BoltList::from(vec![value]),
        )
    }

    /// A required value that reads null is the race a read runs again for; a value of the
    /// wrong type is a plain decode error; an optional column may be null.
    #[test]
    fn a_null_where_a_value_is_required_is_a_raced_read() {
        let null = row(BoltType::Null(BoltNull));
        let err = get::<String>(&null, "name").unwrap_err();
        assert!(error::is_raced(&err), "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(get::<Option<String>>(&null, "name").unwrap(), None);

        let number = row(BoltType::from(7_i64));
        let err = get::<String>(&number, "name").unwrap_err();
        assert!(!error::is_raced(&err), "{err}");
        assert_eq!(
            get::<String>(&row(BoltType::from("x")), "name").unwrap(),
            "x"
        );
    }
}
