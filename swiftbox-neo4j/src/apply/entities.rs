//! The entity statements of apply: one `UNWIND $rows.items` statement per kind and operation, each
//! of which reads every row's guard (the version the graph holds: the node's `version`, the
//! highest `version` of an order's `PURCHASED` relationships, the review relationship's
//! `version`, or the tombstone a delete left), checks the referenced nodes, writes only the rows
//! that pass, and returns one `(i, outcome)` row per input row (`applied`, `stale` or
//! `deferred`). The statements that remove `PURCHASED` lines also return the applied rows'
//! removed lines as `removed`, for the projections (the parent module composes them).
//!
//! Deletes leave a tombstone node (`SwiftboxTombstone {key: "kind:id", version}`) so that a
//! stale upsert replayed after the delete cannot bring the entity back; an upsert with a higher
//! version than the tombstone applies and removes it.
//!
//! What makes each guard safe under concurrency is in the parent module's "Locking" section.

use neo4rs::{query, BoltType};
use swiftbox_core::graph::PurchasedItem;
use swiftbox_core::{EntityKind, EntityRef, GraphRecord, Result};

use super::buckets::{check_quantity, fill_buckets};
use super::NO_REPLAN;
use crate::error;
use crate::graph::{param, Neo4jGraph};
use crate::schema::Schema;

/// `%LOCK%`: the per-entity lock of the statements whose guard reads no unique index entry
/// of the entity's own (orders: their lines are found through a plain relationship index).
/// `MERGE` on the `SwiftboxLock(key)` uniqueness constraint seeks with a lock and, finding no
/// node, holds the key's index entry exclusively until the transaction ends; the node is
/// deleted at once, so none is ever committed. Any other transaction applying the same entity
/// waits here, before it reads the guard (module docs, "Locking").
const LOCK: &str = "MERGE (lock:%SwiftboxLock% {key: row.key})
DELETE lock
WITH row
";

/// Upserts of users and categories (placeholders `%NODE%`, and `%SET%` for the properties).
const NODE_UPSERT: &str = "
UNWIND $rows.items AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%NODE% {id: row.id})
WITH row, CASE WHEN n.version > row.version OR t.version >= row.version THEN 'stale' ELSE 'applied' END AS outcome
CALL (row, outcome) {
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
/// deleted by hand. The counter node keeps a copy of the product's category (for trending in
/// a category, through the `(category, trend_bound)` index), written only when it changes, so
/// an upsert that keeps the category does not write-lock the counter node.
const PRODUCT_UPSERT: &str = "
UNWIND $rows.items AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%Product% {id: row.id})
OPTIONAL MATCH (c:%Category% {name: row.category})
WITH row, c, n IS NULL AS fresh,
     CASE WHEN n.version > row.version OR t.version >= row.version THEN 'stale'
          WHEN c IS NULL THEN 'deferred' ELSE 'applied' END AS outcome
CALL (row, c, fresh, outcome) {
  WITH row, c, fresh WHERE outcome = 'applied'
  MERGE (n:%Product% {id: row.id})
  SET n.name = row.name, n.category = row.category, n.price = row.price,
      n.currency = row.currency, n.version = row.version
  WITH row, n, c, fresh
  CALL (n, c) { MATCH (n)-[old:%BELONGS_TO%]->(other) WHERE other <> c DELETE old }
  MERGE (n)-[:%BELONGS_TO%]->(c)
  MERGE (s:%SwiftboxProductStats% {id: row.id})
  ON CREATE SET s.purchases = 0, s.units = 0, s.buyers = 0, s.recent = []
  FOREACH (_ IN CASE WHEN fresh THEN [1] ELSE [] END |
    SET s.purchases = 0, s.units = 0, s.buyers = 0, s.trend = 2, s.trend_bound = null,
        s.recent = [])
  FOREACH (_ IN CASE WHEN s.category = row.category THEN [] ELSE [1] END |
    SET s.category = row.category)
  WITH row, fresh
  CALL (row, fresh) { WITH row WHERE fresh %BUCKETS_DELETE% }
  WITH row
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
}
RETURN row.i AS i, outcome";

/// Upserts of orders: deferred without the user node or any product node; the order's
/// `PURCHASED` set is replaced, never added to. Each line carries its product's id as
/// `product`: the `(order_id, product)` uniqueness constraint (schema `purchased_line`) makes a
/// second line of one order and product fail its transaction, whatever wrote it.
const ORDER_UPSERT: &str = "
UNWIND $rows.items AS row
%LOCK%OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (u:%User% {id: row.user})
CALL (row) { MATCH (a)-[r:%PURCHASED% {order_id: row.id}]->(b) USING INDEX SEEK r:%PURCHASED%(order_id)
       RETURN max(r.version) AS held, collect([a.id, b.id, r.quantity, r.timestamp]) AS lines }
CALL (row) { UNWIND row.items AS item OPTIONAL MATCH (p:%Product% {id: item.product}) RETURN count(p) AS found }
WITH row, u, lines, CASE WHEN held > row.version OR t.version >= row.version THEN 'stale'
                  WHEN u IS NULL OR found < size(row.items) THEN 'deferred' ELSE 'applied' END AS outcome
CALL (row, u, outcome) {
  WITH row, u WHERE outcome = 'applied'
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
  WITH row, u
  CALL (row) { MATCH ()-[old:%PURCHASED% {order_id: row.id}]->() USING INDEX SEEK old:%PURCHASED%(order_id)
         DELETE old }
  WITH row, u
  UNWIND row.items AS item
  MATCH (p:%Product% {id: item.product})
  CREATE (u)-[:%PURCHASED% {order_id: row.id, product: item.product, quantity: item.quantity,
                            price: item.price, currency: item.currency, timestamp: row.ts,
                            version: row.version}]->(p)
}
RETURN row.i AS i, outcome, CASE outcome WHEN 'applied' THEN lines ELSE [] END AS removed";

/// Upserts of reviews: deferred without the user or product node.
const REVIEW_UPSERT: &str = "
UNWIND $rows.items AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (u:%User% {id: row.user})
OPTIONAL MATCH (p:%Product% {id: row.product})
CALL (row) { OPTIONAL MATCH ()-[r:%REVIEWED% {id: row.id}]->() USING INDEX SEEK r:%REVIEWED%(id)
       RETURN max(r.version) AS held }
WITH row, u, p, CASE WHEN held > row.version OR t.version >= row.version THEN 'stale'
                     WHEN u IS NULL OR p IS NULL THEN 'deferred' ELSE 'applied' END AS outcome
CALL (row, u, p, outcome) {
  WITH row, u, p WHERE outcome = 'applied'
  OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
  DELETE t
  WITH row, u, p
  CALL (row) { MATCH ()-[old:%REVIEWED% {id: row.id}]->() USING INDEX SEEK old:%REVIEWED%(id) DELETE old }
  CREATE (u)-[:%REVIEWED% {id: row.id, rating: row.rating, version: row.version}]->(p)
}
RETURN row.i AS i, outcome";

/// Deletes of orders or reviews: their relationships (placeholder `%REL%`, key property
/// `%KEY%`, lock `%LOCK%`), leaving a tombstone; `removed` lists what an applied delete removed as
/// `%LINES%` (an aggregate, so the subquery returns one row also when nothing matches) gives
/// it.
const REL_DELETE: &str = "
UNWIND $rows.items AS row
%LOCK%OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
CALL (row) { MATCH (a)-[r:%REL% {%KEY%: row.id}]->(b) USING INDEX SEEK r:%REL%(%KEY%)
       RETURN max(r.version) AS held, %LINES% AS lines }
WITH row, lines, CASE WHEN held > row.version OR t.version > row.version THEN 'stale' ELSE 'applied' END AS outcome
CALL (row, outcome) {
  WITH row WHERE outcome = 'applied'
  CALL (row) { MATCH ()-[r:%REL% {%KEY%: row.id}]->() USING INDEX SEEK r:%REL%(%KEY%) DELETE r }
  MERGE (t:%SwiftboxTombstone% {key: row.key})
  SET t.version = row.version
}
RETURN row.i AS i, outcome, CASE outcome WHEN 'applied' THEN lines ELSE [] END AS removed";

/// Deletes of users, products or categories (placeholder `%NODE%`): the node and every
/// relationship, leaving a tombstone; `removed` lists the `PURCHASED` lines an applied delete
/// removed as `%LINES%` gives them.
const NODE_DELETE: &str = "
UNWIND $rows.items AS row
OPTIONAL MATCH (t:%SwiftboxTombstone% {key: row.key})
OPTIONAL MATCH (n:%NODE% {id: row.id})
WITH row, n, CASE WHEN n.version > row.version OR t.version > row.version THEN 'stale' ELSE 'applied' END AS outcome
%LINES%
CALL (row, outcome) {
  WITH row WHERE outcome = 'applied'
  OPTIONAL MATCH (n:%NODE% {id: row.id})
  DETACH DELETE n
  %ALSO%
  WITH row
  MERGE (t:%SwiftboxTombstone% {key: row.key})
  SET t.version = row.version
}
RETURN row.i AS i, outcome, removed";

/// `%LINES%` of [`NODE_DELETE`] for users and products: an applied delete's `removed` are
/// the node's `PURCHASED` lines (user, product, quantity, timestamp; `%ARROW%` points from
/// the node to the other end for users, the other way for products), read after the `SET` has
/// write-locked the node, so that no other transaction can add one in between.
const NODE_LINES: &str = "CALL (row, n, outcome) {
  WITH row, n WHERE outcome = 'applied'
  SET n.version = row.version
  WITH n
  MATCH (n)%ARROW%(b)
  RETURN collect(%LINE%) AS removed
}";

/// `%LINES%` of [`NODE_DELETE`] for categories.
const NO_LINES: &str = "WITH row, outcome, [] AS removed";

/// `%ALSO%` of [`NODE_DELETE`] for products: the product's counter node and trend buckets go
/// with it. (Its removed lines change the bought sets of its buyers; its own projections go.)
const PRODUCT_ALSO: &str = "WITH row
  OPTIONAL MATCH (s:%SwiftboxProductStats% {id: row.id})
  DELETE s
  WITH row
  %BUCKETS_DELETE%";

/// Removes the tombstones of `entities` (ids that are not valid ids of their kind are
/// skipped, as they cannot have one).
const FORGET: &str = "
UNWIND $keys.items AS key
MATCH (t:%SwiftboxTombstone% {key: key})
DELETE t
RETURN count(t) AS forgotten";

/// The key of an entity's tombstone and lock: `kind:id`.
pub(crate) fn key(entity: &EntityRef) -> String {
    format!("{}:{}", entity.kind.as_str(), entity.id)
}

/// The parameter row of an upsert.
pub(crate) fn upsert_row(i: usize, record: &GraphRecord) -> Result<BoltType> {
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
pub(crate) fn dedup_items(items: &[PurchasedItem]) -> Vec<&PurchasedItem> {
    let mut items: Vec<&PurchasedItem> = items.iter().collect();
    items.sort_by_key(|i| i.product);
    items.dedup_by_key(|i| i.product);
    items
}

/// One `PURCHASED` line a statement removed (an element of its `removed` column): user,
/// product, quantity, timestamp.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Line(
    pub(crate) String,
    pub(crate) String,
    pub(crate) i64,
    pub(crate) i64,
);

/// The parameter row of a delete.
pub(crate) fn delete_row(i: usize, entity: &EntityRef, version: u64) -> Result<BoltType> {
    Ok(param::map([
        ("i", param::count(i)),
        ("key", param::s(key(entity))),
        ("id", param::s(entity.id.clone())),
        ("version", param::version(version)?),
    ]))
}

fn upsert_statement(schema: &Schema, kind: EntityKind) -> String {
    let text = match kind {
        EntityKind::Category => NODE_UPSERT
            .replace("%NODE%", "%Category%")
            .replace("%SET%", "n.name = row.name"),
        EntityKind::User => NODE_UPSERT
            .replace("%NODE%", "%User%")
            .replace("%SET%", "n.username = row.username, n.email = row.email"),
        EntityKind::Product => PRODUCT_UPSERT.to_owned(),
        // Kept (`NO_REPLAN`): every lookup is a unique seek or hinted `USING INDEX SEEK`, so a
        // growing graph does not stall order applies while Neo4j replans.
        EntityKind::Order => format!("{NO_REPLAN}{}", ORDER_UPSERT.replace("%LOCK%", LOCK)),
        EntityKind::Review => REVIEW_UPSERT.to_owned(),
    };
    schema.cypher(&fill_buckets(&text))
}

fn delete_statement(schema: &Schema, kind: EntityKind) -> String {
    let text = match kind {
        EntityKind::Order => REL_DELETE
            .replace("%REL%", "%PURCHASED%")
            .replace("%KEY%", "order_id")
            .replace("%LOCK%", LOCK)
            .replace("%LINES%", "collect([a.id, b.id, r.quantity, r.timestamp])"),
        EntityKind::Review => REL_DELETE
            .replace("%REL%", "%REVIEWED%")
            .replace("%KEY%", "id")
            .replace("%LOCK%", "")
            // An aggregate (always `[]`): a constant would be a grouping key, and a
            // grouping aggregation over no relationship returns no row at all.
            .replace("%LINES%", "collect(null)"),
        EntityKind::Product => NODE_DELETE
            .replace("%NODE%", "%Product%")
            .replace("%LINES%", NODE_LINES)
            .replace("%ARROW%", "<-[r:%PURCHASED%]-")
            .replace("%LINE%", "[b.id, n.id, r.quantity, r.timestamp]")
            .replace("%ALSO%", PRODUCT_ALSO),
        EntityKind::User => NODE_DELETE
            .replace("%NODE%", "%User%")
            .replace("%LINES%", NODE_LINES)
            .replace("%ARROW%", "-[r:%PURCHASED%]->")
            .replace("%LINE%", "[n.id, b.id, r.quantity, r.timestamp]")
            .replace("%ALSO%", ""),
        EntityKind::Category => NODE_DELETE
            .replace("%NODE%", "%Category%")
            .replace("%LINES%", NO_LINES)
            .replace("%ALSO%", ""),
    };
    schema.cypher(&fill_buckets(&text))
}

/// The entity statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Upserts, by [`EntityKind::ALL`] position.
    upserts: Vec<String>,
    /// Deletes, by [`EntityKind::ALL`] position.
    deletes: Vec<String>,
    forget: String,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self {
            upserts: EntityKind::ALL
                .iter()
                .map(|k| upsert_statement(schema, *k))
                .collect(),
            deletes: EntityKind::ALL
                .iter()
                .map(|k| delete_statement(schema, *k))
                .collect(),
            forget: schema.cypher(FORGET),
        }
    }

    fn position(kind: EntityKind) -> usize {
        EntityKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default()
    }

    /// The upsert statement of `kind`.
    pub(crate) fn upsert(&self, kind: EntityKind) -> &str {
        &self.upserts[Self::position(kind)]
    }

    /// The delete statement of `kind`.
    pub(crate) fn delete(&self, kind: EntityKind) -> &str {
        &self.deletes[Self::position(kind)]
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        const UPSERTS: [&str; 5] = [
            "apply.upsert.category",
            "apply.upsert.user",
            "apply.upsert.product",
            "apply.upsert.order",
            "apply.upsert.review",
        ];
        const DELETES: [&str; 5] = [
            "apply.delete.category",
            "apply.delete.user",
            "apply.delete.product",
            "apply.delete.order",
            "apply.delete.review",
        ];
        let mut out: Vec<(&'static str, &str)> = Vec::new();
        out.extend(
            UPSERTS
                .iter()
                .zip(&self.upserts)
                .map(|(n, s)| (*n, s.as_str())),
        );
        out.extend(
            DELETES
                .iter()
                .zip(&self.deletes)
                .map(|(n, s)| (*n, s.as_str())),
        );
        out.push(("apply.forget_tombstones", &self.forget));
        out
    }
}

impl Neo4jGraph {
    pub(crate) async fn forget(&self, entities: &[EntityRef]) -> Result<u64> {
        let keys: Vec<String> = entities
            .iter()
            .filter_map(|e| e.canonical().ok())
            .map(|e| key(&e))
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let q = query(&self.statements().apply.entities.forget).param("keys", param::items(keys));
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
}
