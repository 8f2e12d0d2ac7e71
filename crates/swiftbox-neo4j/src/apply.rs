//! [`swiftbox_core::GraphStore::apply`]: a batch of changes in one transaction, one
//! `UNWIND $rows` query per kind and operation.
//!
//! Every query takes the rows of one kind, checks each row's version against what the graph
//! holds (the node's `version`, the highest `version` of an order's `PURCHASED` relationships,
//! the review relationship's `version`, or the tombstone a delete left), checks the referenced
//! nodes, writes only the rows that pass, and returns one `(i, outcome)` row per input row
//! (`applied`, `stale` or `deferred`), from which the [`ApplyReport`] is built.
//!
//! Deletes leave a tombstone node (`SwiftboxTombstone {key: "kind:id", version}`) so that a
//! stale upsert replayed after the delete cannot bring the entity back; an upsert with a higher
//! version than the tombstone applies and removes it.
//!
//! # Popularity counters
//!
//! Each product has an internal counter node, `SwiftboxProductStats {id, purchases, units,
//! buyers}` (`id` the product's), created with the product (zeros) and deleted with it:
//! `purchases` is the number of its `PURCHASED` relationships, `units` the sum of their
//! `quantity`, `buyers` the number of distinct users with at least one. `popular` and the
//! cold-start fill read them instead of every product's relationships. They stay exact
//! because the statements that remove `PURCHASED` lines (an order upsert replacing its set, an
//! order delete, a user delete) return the applied rows' removed `(user, product, quantity)`
//! lines as a `removed` column, the created lines are the applied order upserts' items, and a
//! last statement of the same transaction ([`PRODUCT_STATS`]) adds the per-product sums, in
//! product id order; stale and deferred rows remove and create nothing. See [`PRODUCT_STATS`]
//! for `buyers` and for why concurrent applies sharing products neither deadlock on the
//! counters nor lose an update. A graph edited by hand is recounted by
//! [`Neo4jGraph::recount_product_stats`]; [`Neo4jGraph::migrate`] counts products that have no
//! counter node yet.
//!
//! # Recent buyers
//!
//! The counter node also lists the product's latest
//! [`RECENT_BUYERS_KEPT`](crate::schema::RECENT_BUYERS_KEPT) buyers (`recent`: one string per
//! buyer, a key of its latest purchase time and its user id, which sort as strings by time
//! descending, then id: [`recent_entry`](crate::schema::recent_entry)), which the *recent buyers of a product* hop of `recommendations_for`,
//! `also_bought` and `similar_users` reads instead of every relationship of the product (at
//! scale M, the heaviest buyer's `recommendations_for` read 72k db hits before, 35k after).
//! [`PRODUCT_STATS`] keeps it exact from the same removed and created lines, under the same
//! lock: a user whose latest line to the product may have gone (it lost a line later than any
//! it gained) and who is listed makes the list be read again from the relationships; any other
//! user whose latest line moved later is inserted when it beats the list's last entry. A
//! counter node without a list (a graph from before the lists) keeps none until
//! [`Neo4jGraph::migrate`] builds it; the queries read the relationships meanwhile.

use std::collections::{BTreeMap, HashMap};

use neo4rs::{query, BoltType, Query, Row};
use swiftbox_core::graph::PurchasedItem;
use swiftbox_core::{ApplyReport, EntityKind, EntityRef, Error, GraphChange, GraphRecord, Result};

use crate::error::{self, Msg};
use crate::graph::{param, Neo4jGraph};
use crate::trending::{self, check_quantity, Buckets};

/// Prefix of the counter statement ([`PRODUCT_STATS`]): keep a cached plan instead of
/// replanning it when the graph's statistics drift.
///
/// Why: Neo4j replans a cached query when the counts it was planned on have changed enough
/// (at most every 10 s by default), and planning the apply statements takes 200-300 ms, during
/// which the worker's apply waits. A graph that grows fast (a new shop, a resync, the sync-lag
/// benchmark's fresh namespace) hit that once or twice every 10 s: the sync lag's p99 was
/// 215-470 ms with every other apply under 10 ms, and 15-16 ms with this prefix on the upserts
/// and the counter statement (issue 8, figure 3).
///
/// The upserts no longer carry it: the order upsert's first plan, made while the graph has no
/// `PURCHASED` relationship yet, gets slower with every relationship added (loading scale M in
/// batches of 2,000 orders with the generator's order times: 3.4 s, 6.6 s, 10.6 s for the
/// first three batches), and with this prefix it kept that plan for good (the seventh batch
/// took 28.8 s, the eighth hit the 30 s timeout, and a worker retrying it would never catch
/// up). Without it Neo4j replans after a few batches (then about 0.45 s a batch). Which
/// operator of that first plan scales is not found yet (`EXPLAIN` on an empty graph shows only
/// index seeks); `USING INDEX` hints on its relationship lookups did not change it. The cost:
/// figure 3's lag p99 is 247-250 ms again (apply max ~150 ms while replanning).
const NO_REPLAN: &str = "CYPHER replan=skip ";

/// Upserts of users and categories (placeholders `%NODE%`, and `%SET%` for the properties).
const NODE_UPSERT: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%NODE% {id: row.id})
WITH row, CASE WHEN n.version > row.version OR t.version >= row.version THEN 'stale' ELSE 'applied' END AS outcome
CALL {
  WITH row, outcome
  WITH row WHERE outcome = 'applied'
  MERGE (n:%NODE% {id: row.id})
  SET %SET%, n.version = row.version
  WITH row
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
}
RETURN row.i AS i, outcome";

/// Upserts of products: deferred without their category node; a changed category moves
/// `BELONGS_TO`. A new product node (no relationships yet) gets zero counters and no trend
/// buckets (marked complete), also over a counter node or buckets left behind by a product
/// deleted by hand.
const PRODUCT_UPSERT: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%Product% {id: row.id})
OPTIONAL MATCH (c:%Category% {name: row.category})
WITH row, c, n IS NULL AS fresh,
     CASE WHEN n.version > row.version OR t.version >= row.version THEN 'stale'
          WHEN c IS NULL THEN 'deferred' ELSE 'applied' END AS outcome
CALL {
  WITH row, c, fresh, outcome
  WITH row, c, fresh WHERE outcome = 'applied'
  MERGE (n:%Product% {id: row.id})
  SET n.name = row.name, n.category = row.category, n.price = row.price,
      n.currency = row.currency, n.version = row.version
  WITH row, n, c, fresh
  CALL { WITH n, c MATCH (n)-[old:%BELONGS_TO%]->(other) WHERE other <> c DELETE old }
  MERGE (n)-[:%BELONGS_TO%]->(c)
  MERGE (s:%SwiftboxProductStats% {id: row.id})
  ON CREATE SET s.purchases = 0, s.units = 0, s.buyers = 0, s.recent = []
  FOREACH (_ IN CASE WHEN fresh THEN [1] ELSE [] END |
    SET s.purchases = 0, s.units = 0, s.buyers = 0, s.trend = 1, s.recent = [])
  WITH row, fresh
  CALL { WITH row, fresh WITH row WHERE fresh %BUCKETS_DELETE% }
  WITH row
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
}
RETURN row.i AS i, outcome";

/// Upserts of orders: deferred without the user node or any product node; the order's
/// `PURCHASED` set is replaced, never added to.
const ORDER_UPSERT: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (u:%User% {id: row.user})
CALL { WITH row MATCH (a)-[r:%PURCHASED% {order_id: row.id}]->(b) USING INDEX r:%PURCHASED%(order_id)
       RETURN max(r.version) AS held, collect([a.id, b.id, r.quantity, r.timestamp]) AS lines }
CALL { WITH row UNWIND row.items AS item OPTIONAL MATCH (p:%Product% {id: item.product}) RETURN count(p) AS found }
WITH row, u, lines, CASE WHEN held > row.version OR t.version >= row.version THEN 'stale'
                  WHEN u IS NULL OR found < size(row.items) THEN 'deferred' ELSE 'applied' END AS outcome
CALL {
  WITH row, u, outcome
  WITH row, u WHERE outcome = 'applied'
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
  WITH row, u
  CALL { WITH row MATCH ()-[old:%PURCHASED% {order_id: row.id}]->() USING INDEX old:%PURCHASED%(order_id)
         DELETE old }
  WITH row, u
  UNWIND row.items AS item
  MATCH (p:%Product% {id: item.product})
  CREATE (u)-[:%PURCHASED% {order_id: row.id, quantity: item.quantity, price: item.price,
                            currency: item.currency, timestamp: row.ts, version: row.version}]->(p)
}
RETURN row.i AS i, outcome, CASE outcome WHEN 'applied' THEN lines ELSE [] END AS removed";

/// Upserts of reviews: deferred without the user or product node.
const REVIEW_UPSERT: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (u:%User% {id: row.user})
OPTIONAL MATCH (p:%Product% {id: row.product})
CALL { WITH row OPTIONAL MATCH ()-[r:%REVIEWED% {id: row.id}]->() USING INDEX r:%REVIEWED%(id)
       RETURN max(r.version) AS held }
WITH row, u, p, CASE WHEN held > row.version OR t.version >= row.version THEN 'stale'
                     WHEN u IS NULL OR p IS NULL THEN 'deferred' ELSE 'applied' END AS outcome
CALL {
  WITH row, u, p, outcome
  WITH row, u, p WHERE outcome = 'applied'
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
  WITH row, u, p
  CALL { WITH row MATCH ()-[old:%REVIEWED% {id: row.id}]->() USING INDEX old:%REVIEWED%(id) DELETE old }
  CREATE (u)-[:%REVIEWED% {id: row.id, rating: row.rating, version: row.version}]->(p)
}
RETURN row.i AS i, outcome";

/// Deletes of orders or reviews: their relationships (placeholder `%REL%`, key property
/// `%KEY%`), leaving a tombstone; `removed` lists what an applied delete removed as
/// `%LINES%` (an aggregate, so the subquery returns one row also when nothing matches) gives
/// it.
const REL_DELETE: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
CALL { WITH row MATCH (a)-[r:%REL% {%KEY%: row.id}]->(b) USING INDEX r:%REL%(%KEY%)
       RETURN max(r.version) AS held, %LINES% AS lines }
WITH row, lines, CASE WHEN held > row.version OR t.version > row.version THEN 'stale' ELSE 'applied' END AS outcome
CALL {
  WITH row, outcome
  WITH row WHERE outcome = 'applied'
  CALL { WITH row MATCH ()-[r:%REL% {%KEY%: row.id}]->() USING INDEX r:%REL%(%KEY%) DELETE r }
  MERGE (t:%SwiftboxTombstone% {key: row.key})
  SET t.version = row.version
}
RETURN row.i AS i, outcome, CASE outcome WHEN 'applied' THEN lines ELSE [] END AS removed";

/// Deletes of users, products or categories (placeholder `%NODE%`): the node and every
/// relationship, leaving a tombstone; `removed` lists the `PURCHASED` lines an applied delete
/// removed as `%LINES%` gives them.
const NODE_DELETE: &str = "
UNWIND $rows AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%NODE% {id: row.id})
WITH row, n, CASE WHEN n.version > row.version OR t.version > row.version THEN 'stale' ELSE 'applied' END AS outcome
%LINES%
CALL {
  WITH row, outcome
  WITH row WHERE outcome = 'applied'
  OPTIONAL MATCH (n:%NODE% {id: row.id})
  DETACH DELETE n
  %ALSO%
  WITH row
  MERGE (t:%SwiftboxTombstone% {key: row.key})
  SET t.version = row.version
}
RETURN row.i AS i, outcome, removed";

/// `%LINES%` of [`NODE_DELETE`] for users: an applied delete's `removed` are the user's
/// `PURCHASED` lines, read after the `SET` has write-locked the node, so that no other
/// transaction can add one in between.
const USER_LINES: &str = "CALL {
  WITH row, n, outcome
  WITH row, n WHERE outcome = 'applied'
  SET n.version = row.version
  WITH n
  MATCH (n)-[r:%PURCHASED%]->(b)
  RETURN collect([n.id, b.id, r.quantity, r.timestamp]) AS removed
}";

/// `%LINES%` of [`NODE_DELETE`] for products and categories.
const NO_LINES: &str = "WITH row, outcome, [] AS removed";

/// `%ALSO%` of [`NODE_DELETE`] for products: the product's counter node and trend buckets go
/// with it.
const PRODUCT_ALSO: &str = "WITH row
  OPTIONAL MATCH (s:%SwiftboxProductStats% {id: row.id})
  DELETE s
  WITH row
  %BUCKETS_DELETE%";

/// The counter update that ends every apply transaction that added or removed `PURCHASED`
/// lines: one row per product, in product id order. `purchases` and `units` move by the lines'
/// sums; `buyers` by the touched `(user, product)` pairs that went from no line to some (+1)
/// or back (-1), found by counting the pair's lines now (this transaction's writes included)
/// minus the pair's net change `d`; the product's trend buckets by `hours` (see
/// [`crate::trending`]), under the same lock.
///
/// The counters live on a node of their own per product, not on the `Product` node: creating
/// relationships to a dense product takes a shared lock on it, and two concurrent applies
/// upgrading their shared locks on one product to write it deadlock. The counter nodes are
/// written only here (and created and deleted with their product), so concurrent applies lock
/// them one after the other in product id order, without deadlock. The pair count runs after
/// the `SET` has write-locked the counter node: another transaction's lines to the product are
/// then either committed (and counted) or not yet counted by it, which it will do only after
/// this transaction commits, since it must lock the same node first.
///
/// The recent-buyer list (module docs) follows under the same lock: read again from the
/// relationships (`%RECENT_OF%`) when a listed user is in `row.dropped`; else the entries of
/// `row.added` (entries, in the list's order) that beat the list's last one go in. When all of
/// them are newer than the list's first entry (every new purchase in a live shop, most of a
/// resync) they are put in front and their users' older entries dropped, with list operations
/// only; otherwise each is inserted in rank order by `reduce`, about three times as costly
/// (3,000 products with 3 new buyers each: 110 against 290 ms in one statement, arrays
/// written included).
const PRODUCT_STATS: &str = "
UNWIND $rows AS row
MATCH (s:%SwiftboxProductStats% {id: row.id})
SET s.purchases = s.purchases + row.purchases, s.units = s.units + row.units
WITH s, row
CALL {
  WITH row
  MATCH (p:%Product% {id: row.id})
  UNWIND row.pairs AS pair
  OPTIONAL MATCH (u:%User% {id: pair.user})
  WITH pair, COUNT { (u)-[:%PURCHASED%]->(p) } AS held
  RETURN sum(CASE WHEN held > 0 THEN 1 ELSE 0 END - CASE WHEN held - pair.d > 0 THEN 1 ELSE 0 END) AS buyers
}
SET s.buyers = s.buyers + buyers
WITH s, row, s.recent AS list
WITH s, row, list, list IS NOT NULL AND size(row.dropped) > 0
     AND any(e IN list WHERE substring(e, %KEY_LEN%) IN row.dropped) AS rescan
CALL {
  WITH s, row, rescan
  WITH s, row WHERE rescan
  MATCH (p:%Product% {id: row.id})
  %RECENT_OF%
  SET s.recent = entries
}
WITH s, row, rescan, list, size(list) AS n
WITH s, row, rescan, list, n, [e IN row.added WHERE n < %KEPT% OR e < list[n - 1]] AS beat
WITH s, row, rescan, list, beat, size(beat) > 0 AND (n = 0 OR last(beat) < list[0]) AS ahead,
     [e IN beat | substring(e, %KEY_LEN%)] AS bu
CALL {
  WITH s, rescan, list, beat, ahead, bu
  WITH s, list, beat, bu WHERE list IS NOT NULL AND ahead AND NOT rescan
  SET s.recent = (beat + [e IN list WHERE NOT substring(e, %KEY_LEN%) IN bu])[0..%KEPT%]
}
CALL {
  WITH s, rescan, list, beat, ahead, bu
  WITH s, list, beat, bu WHERE list IS NOT NULL AND size(beat) > 0 AND NOT ahead AND NOT rescan
  WITH s, [e IN list WHERE NOT substring(e, %KEY_LEN%) IN bu]
          + [e IN beat | reduce(best = e, x IN list |
                                CASE WHEN substring(x, %KEY_LEN%) = substring(e, %KEY_LEN%) AND x < best
                                THEN x ELSE best END)] AS candidates
  CALL {
    WITH candidates
    UNWIND candidates AS e
    WITH e ORDER BY e LIMIT %KEPT%
    RETURN collect(e) AS merged
  }
  SET s.recent = merged
}
%BUCKETS_UPDATE%";

/// The order the kinds' deletes run in: relationships first, then the nodes they hang on.
const DELETE_ORDER: [EntityKind; 5] = [
    EntityKind::Order,
    EntityKind::Review,
    EntityKind::Product,
    EntityKind::User,
    EntityKind::Category,
];

/// The batch reduced to one winner per entity (the shared rule of [`swiftbox_core::graph::collapse`]).
fn collapse(changes: &[GraphChange]) -> Result<(Vec<EntityRef>, HashMap<EntityRef, usize>)> {
    swiftbox_core::graph::collapse(changes)
}

/// Removes the tombstones of `entities` (ids that are not valid ids of their kind are
/// skipped, as they cannot have one).
const FORGET: &str = "
UNWIND $keys AS key
MATCH (t:%SwiftboxTombstone% {key: key})
DELETE t
RETURN count(t) AS forgotten";

fn key(entity: &EntityRef) -> String {
    format!("{}:{}", entity.kind.as_str(), entity.id)
}

/// The parameter row of an upsert.
fn upsert_row(i: usize, record: &GraphRecord) -> Result<BoltType> {
    use param::{i as int, list, map, s, version};
    let entity = record.entity();
    let common = [
        ("i", param::count(i)),
        ("key", s(key(&entity))),
        ("id", s(entity.id.clone())),
        ("version", version(record.version())?),
    ];
    let extra: Vec<(&str, BoltType)> = match record {
        GraphRecord::User(u) => vec![
            ("username", s(u.username.clone())),
            ("email", s(u.email.clone())),
        ],
        GraphRecord::Category(c) => vec![("name", s(c.name.clone()))],
        GraphRecord::Product(p) => vec![
            ("name", s(p.name.clone())),
            ("category", s(p.category.clone())),
            ("price", int(p.price.minor)),
            ("currency", s(p.price.currency.as_str())),
        ],
        GraphRecord::Order(o) => {
            for (n, item) in o.items.iter().enumerate() {
                check_quantity(item.quantity, || format!("items[{n}].quantity"))?;
            }
            vec![
                ("user", s(o.user.to_string())),
                ("ts", int(o.placed_at.timestamp_millis())),
                (
                    "items",
                    list(
                        dedup_items(&o.items)
                            .into_iter()
                            .map(|it| {
                                map([
                                    ("product", s(it.product.to_string())),
                                    ("quantity", int(it.quantity)),
                                    ("price", int(it.unit_price.minor)),
                                    ("currency", s(it.unit_price.currency.as_str())),
                                ])
                            })
                            .collect(),
                    ),
                ),
            ]
        }
        GraphRecord::Review(r) => vec![
            ("user", s(r.user.to_string())),
            ("product", s(r.product.to_string())),
            ("rating", int(i64::from(r.rating))),
        ],
    };
    Ok(BoltType::Map(
        common
            .into_iter()
            .chain(extra)
            .map(|(k, v)| (neo4rs::BoltString::from(k), v))
            .collect(),
    ))
}

/// An order's items sorted by product, the first item of each product kept (an order holds
/// one `PURCHASED` per product).
fn dedup_items(items: &[PurchasedItem]) -> Vec<&PurchasedItem> {
    let mut items: Vec<&PurchasedItem> = items.iter().collect();
    items.sort_by_key(|i| i.product);
    items.dedup_by_key(|i| i.product);
    items
}

/// One `PURCHASED` line a statement removed (an element of its `removed` column): user,
/// product, quantity, timestamp.
#[derive(Debug, serde::Deserialize)]
struct Line(String, String, i64, i64);

/// The net change of one product's counters in an apply transaction.
#[derive(Debug, Default)]
struct ProductDelta {
    purchases: i64,
    units: i64,
    /// User id -> that user's lines to the product.
    pairs: BTreeMap<String, PairDelta>,
    /// The trend buckets' changes.
    hours: Buckets,
}

/// The change of one `(user, product)` pair's lines in an apply transaction.
#[derive(Debug, Default)]
struct PairDelta {
    /// Net number of lines.
    d: i64,
    /// Latest time of the lines created.
    added: Option<i64>,
    /// Latest time of the lines removed.
    removed: Option<i64>,
}

impl PairDelta {
    /// Whether the user's latest line may have gone: lines removed later than any created.
    fn dropped(&self) -> bool {
        self.removed
            .is_some_and(|r| self.added.is_none_or(|a| a < r))
    }

    /// The time the user's latest line may have moved to: lines created later than any
    /// removed (a line removed and created again at the same time moves nothing).
    fn advanced(&self) -> Option<i64> {
        self.added.filter(|a| self.removed.is_none_or(|r| r < *a))
    }
}

/// The `PURCHASED` lines an apply transaction created and removed, summed per product (in
/// product id order) and per `(user, product)` pair: the rows of [`PRODUCT_STATS`].
#[derive(Debug, Default)]
struct Tally(BTreeMap<String, ProductDelta>);

impl Tally {
    /// Counts one line at `ts_ms` created (`sign` 1) or removed (`sign` -1).
    fn add(
        &mut self,
        user: &str,
        product: &str,
        quantity: i64,
        ts_ms: i64,
        sign: i64,
    ) -> Result<()> {
        let d = self.0.entry(product.to_owned()).or_default();
        d.purchases += sign;
        d.units += sign * quantity;
        let pair = d.pairs.entry(user.to_owned()).or_default();
        pair.d += sign;
        let latest = if sign > 0 {
            &mut pair.added
        } else {
            &mut pair.removed
        };
        *latest = Some(latest.map_or(ts_ms, |t| t.max(ts_ms)));
        d.hours.add(ts_ms, quantity, sign)
    }

    /// The parameter rows, leaving out pairs and products whose lines did not change.
    fn rows(self) -> Vec<BoltType> {
        use param::{i, list, map, s};
        self.0
            .into_iter()
            .filter_map(|(product, d)| {
                let pairs: Vec<BoltType> = d
                    .pairs
                    .iter()
                    .filter(|(_, p)| p.d != 0)
                    .map(|(user, p)| map([("user", s(user.clone())), ("d", i(p.d))]))
                    .collect();
                // Recent buyers (see `PRODUCT_STATS`): a `dropped` user, when listed, makes
                // the product's list be read again; an `added` entry is merged into it.
                let dropped: Vec<BoltType> = d
                    .pairs
                    .iter()
                    .filter(|(_, p)| p.dropped())
                    .map(|(user, _)| s(user.clone()))
                    .collect();
                // Newest first, then user id: the list's order.
                let mut added: Vec<String> = d
                    .pairs
                    .iter()
                    .filter_map(|(user, p)| Some(crate::schema::recent_entry(p.advanced()?, user)))
                    .collect();
                added.sort();
                let added: Vec<BoltType> = added.into_iter().map(s).collect();
                let hours = d.hours.rows();
                let changed = d.purchases != 0 || d.units != 0 || !pairs.is_empty();
                (changed || !hours.is_empty() || !added.is_empty() || !dropped.is_empty()).then(
                    || {
                        map([
                            ("id", s(product)),
                            ("purchases", i(d.purchases)),
                            ("units", i(d.units)),
                            ("pairs", list(pairs)),
                            ("hours", list(hours)),
                            ("added", list(added)),
                            ("dropped", list(dropped)),
                        ])
                    },
                )
            })
            .collect()
    }
}

/// What the statements of one apply transaction tell about its `PURCHASED` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Nothing (no `removed` column).
    None,
    /// `removed`, plus the items of each applied order upsert as created lines.
    OrderUpsert,
    /// `removed` only.
    Removed,
}

/// Decodes one row's `i` and `outcome`.
fn outcome(row: &Row) -> Result<(usize, String)> {
    let i: i64 = row
        .get("i")
        .map_err(|e| error::decode("apply outcome", e))?;
    let outcome: String = row
        .get("outcome")
        .map_err(|e| error::decode("apply outcome", e))?;
    let i =
        usize::try_from(i).map_err(|_| error::decode("apply outcome", format!("row index {i}")))?;
    Ok((i, outcome))
}

/// The counter statement of a transaction whose statements gave `results` (one per entry of
/// `lines`), or `None` when no line changed.
fn product_stats(
    graph: &Neo4jGraph,
    changes: &[GraphChange],
    lines: &[Lines],
    results: &[Vec<Row>],
) -> Result<Option<Query>> {
    let mut tally = Tally::default();
    for (kind, rows) in lines.iter().zip(results) {
        if *kind == Lines::None {
            continue;
        }
        for row in rows {
            let removed: Vec<Line> = row
                .get("removed")
                .map_err(|e| error::decode("removed lines", e))?;
            for Line(user, product, quantity, ts) in &removed {
                tally.add(user, product, *quantity, *ts, -1)?;
            }
            if *kind != Lines::OrderUpsert {
                continue;
            }
            let (i, outcome) = outcome(row)?;
            if let (Some(GraphChange::Upsert(GraphRecord::Order(o))), "applied") =
                (changes.get(i), outcome.as_str())
            {
                let user = o.user.to_string();
                let ts = o.placed_at.timestamp_millis();
                for item in dedup_items(&o.items) {
                    tally.add(&user, &item.product.to_string(), item.quantity, ts, 1)?;
                }
            }
        }
    }
    let rows = tally.rows();
    Ok((!rows.is_empty()).then(|| {
        let text = crate::schema::fill_recent(PRODUCT_STATS)
            .replace("%BUCKETS_UPDATE%", &trending::buckets_update());
        query(&format!("{NO_REPLAN}{}", graph.cypher(&text))).param("rows", param::list(rows))
    }))
}

/// The parameter row of a delete.
fn delete_row(i: usize, entity: &EntityRef, version: u64) -> Result<BoltType> {
    Ok(param::map([
        ("i", param::count(i)),
        ("key", param::s(key(entity))),
        ("id", param::s(entity.id.clone())),
        ("version", param::version(version)?),
    ]))
}

impl Neo4jGraph {
    fn upsert_template(&self, kind: EntityKind) -> String {
        let text = match kind {
            EntityKind::Category => NODE_UPSERT
                .replace("%NODE%", "%Category%")
                .replace("%SET%", "n.name = row.name"),
            EntityKind::User => NODE_UPSERT
                .replace("%NODE%", "%User%")
                .replace("%SET%", "n.username = row.username, n.email = row.email"),
            EntityKind::Product => {
                PRODUCT_UPSERT.replace("%BUCKETS_DELETE%", trending::BUCKETS_DELETE)
            }
            EntityKind::Order => ORDER_UPSERT.to_owned(),
            EntityKind::Review => REVIEW_UPSERT.to_owned(),
        };
        self.cypher(&text)
    }

    fn delete_template(&self, kind: EntityKind) -> String {
        let text = match kind {
            EntityKind::Order => REL_DELETE
                .replace("%REL%", "%PURCHASED%")
                .replace("%KEY%", "order_id")
                .replace("%LINES%", "collect([a.id, b.id, r.quantity, r.timestamp])"),
            EntityKind::Review => REL_DELETE
                .replace("%REL%", "%REVIEWED%")
                .replace("%KEY%", "id")
                // An aggregate (always `[]`): a constant would be a grouping key, and a
                // grouping aggregation over no relationship returns no row at all.
                .replace("%LINES%", "collect(null)"),
            EntityKind::Product => NODE_DELETE
                .replace("%NODE%", "%Product%")
                .replace("%LINES%", NO_LINES)
                .replace("%ALSO%", PRODUCT_ALSO)
                .replace("%BUCKETS_DELETE%", trending::BUCKETS_DELETE),
            EntityKind::User => NODE_DELETE
                .replace("%NODE%", "%User%")
                .replace("%LINES%", USER_LINES)
                .replace("%ALSO%", ""),
            EntityKind::Category => NODE_DELETE
                .replace("%NODE%", "%Category%")
                .replace("%LINES%", NO_LINES)
                .replace("%ALSO%", ""),
        };
        self.cypher(&text)
    }

    pub(crate) async fn forget(&self, entities: &[EntityRef]) -> Result<u64> {
        let keys: Vec<String> = entities
            .iter()
            .filter_map(|e| e.canonical().ok())
            .map(|e| key(&e))
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let q = query(&self.cypher(FORGET)).param("keys", keys);
        let rows = self.write_txn("forget_tombstones", vec![q]).await?;
        let n: i64 = rows
            .first()
            .and_then(|r| r.first())
            .map(|row| row.get("forgotten"))
            .transpose()
            .map_err(|e| error::decode("forgotten", e))?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn apply_changes(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        let (entities, winners) = collapse(changes)?;
        let mut order: Vec<usize> = winners.values().copied().collect();
        order.sort_unstable();

        // Build every parameter row first, so invalid input fails before anything is written.
        // A row's `i` is the index of its change in `changes`.
        let mut upserts: HashMap<EntityKind, Vec<BoltType>> = HashMap::new();
        let mut deletes: HashMap<EntityKind, Vec<BoltType>> = HashMap::new();
        for &i in &order {
            let entity = &entities[i];
            match &changes[i] {
                GraphChange::Upsert(record) => upserts
                    .entry(entity.kind)
                    .or_default()
                    .push(upsert_row(i, record)?),
                GraphChange::Delete { version, .. } => deletes
                    .entry(entity.kind)
                    .or_default()
                    .push(delete_row(i, entity, *version)?),
            }
        }
        let mut queries: Vec<Query> = Vec::new();
        let mut lines: Vec<Lines> = Vec::new();
        for kind in EntityKind::ALL {
            if let Some(rows) = upserts.remove(&kind) {
                queries.push(query(&self.upsert_template(kind)).param("rows", param::list(rows)));
                lines.push(if kind == EntityKind::Order {
                    Lines::OrderUpsert
                } else {
                    Lines::None
                });
            }
        }
        for kind in DELETE_ORDER {
            if let Some(rows) = deletes.remove(&kind) {
                queries.push(query(&self.delete_template(kind)).param("rows", param::list(rows)));
                lines.push(if matches!(kind, EntityKind::Order | EntityKind::User) {
                    Lines::Removed
                } else {
                    Lines::None
                });
            }
        }
        let results = if queries.is_empty() {
            Vec::new()
        } else {
            self.write_txn_then("apply", queries, |results| {
                product_stats(self, changes, &lines, results)
            })
            .await?
        };

        let mut outcomes: HashMap<usize, String> = HashMap::new();
        for (rows, _) in results.iter().zip(&lines) {
            for row in rows {
                let (i, outcome) = outcome(row)?;
                outcomes.insert(i, outcome);
            }
        }
        // Changes equal to their entity's winner share its outcome (applied each, deferred
        // listed once); the others are stale.
        let mut report = ApplyReport::default();
        for (i, change) in changes.iter().enumerate() {
            let entity = &entities[i];
            let w = winners[entity];
            let same_as_winner = !changes[w].beats(change);
            match outcomes.get(&w).map(String::as_str) {
                Some("applied") if same_as_winner => report.applied += 1,
                Some("deferred") if same_as_winner => {
                    if w == i {
                        report.deferred.push(entity.clone());
                    }
                }
                Some("applied" | "deferred" | "stale") => report.stale += 1,
                other => {
                    // The transaction is committed; this is a bug in the queries above.
                    return Err(Error::backend(
                        error::STORE,
                        Msg(format!(
                            "apply: no valid outcome for {entity} (got {other:?})"
                        )),
                    ));
                }
            }
        }
        report.deferred.sort();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftbox_core::CategoryId;

    fn cat(n: u128, version: u64) -> GraphChange {
        GraphChange::Upsert(GraphRecord::Category(swiftbox_core::graph::CategoryNode {
            id: CategoryId::from_u128(n),
            name: format!("c{n}-{version}"),
            version,
        }))
    }

    fn del(n: u128, version: u64) -> GraphChange {
        GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Category, CategoryId::from_u128(n)),
            version,
        }
    }

    fn winner_of(batch: &[GraphChange]) -> usize {
        let (_, winners) = collapse(batch).unwrap();
        assert_eq!(winners.len(), 1);
        winners.into_values().next().unwrap()
    }

    #[test]
    fn collapse_keeps_the_highest_version_whatever_the_order() {
        let batch = [cat(1, 3), cat(1, 5), cat(2, 1), cat(1, 4)];
        let (entities, winners) = collapse(&batch).unwrap();
        assert_eq!(winners.len(), 2);
        assert_eq!(winners[&entities[0]], 1);
        assert_eq!(winners[&entities[2]], 2);
    }

    #[test]
    fn collapse_prefers_a_delete_on_equal_versions_then_the_first_change() {
        assert_eq!(winner_of(&[cat(1, 2), del(1, 2)]), 1);
        assert_eq!(winner_of(&[del(1, 2), cat(1, 2)]), 0);
        assert_eq!(winner_of(&[cat(1, 2), cat(1, 2)]), 0);
    }

    #[test]
    fn deletes_with_malformed_ids_are_invalid() {
        let batch = [GraphChange::Delete {
            entity: EntityRef::new(EntityKind::Product, "not-an-id"),
            version: 1,
        }];
        let err = collapse(&batch).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }

    #[test]
    fn versions_beyond_i64_are_refused() {
        let err = upsert_row(
            0,
            &match cat(1, u64::MAX) {
                GraphChange::Upsert(r) => r,
                GraphChange::Delete { .. } => unreachable!(),
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
    }
}
