//! Projection: each product's **popularity counters**, which `popular` and the cold-start fill
//! of `recommendations_for` read instead of every product's relationships.
//!
//! Each product has an internal counter node, `SwiftboxProductStats {id, purchases, units,
//! buyers}` (`id` the product's), created with the product (zeros) and deleted with it:
//! `purchases` is the number of its `PURCHASED` relationships, `units` the sum of their
//! `quantity`, `buyers` the number of distinct users with at least one. The node also carries
//! the product's recent-buyer list ([`super::recent`]) and its trend-bucket mark
//! ([`super::buckets`]): it is the one lock every projection of a product is written under.
//!
//! They stay exact because the entity statements that remove `PURCHASED` lines (an order
//! upsert replacing its set, an order delete, a user delete; a product delete's lines leave
//! with its counter node and only change its buyers' bought sets) return the applied rows'
//! removed lines, the created lines are the applied order upserts' items, and the projection
//! statement that ends the same transaction moves the counters by the per-product sums
//! ([`UPDATE`]); stale and deferred rows remove and create nothing.
//!
//! `buyers` moves by the touched `(user, product)` pairs that went from no line to some (+1)
//! or back (-1), found by counting the pair's lines now (this transaction's writes included)
//! minus the pair's net change `d`. That count runs after [`UPDATE`]'s first `SET` has
//! write-locked the counter node: another transaction's lines to the product are then either
//! committed (and counted) or not yet counted by it, which it will do only after this
//! transaction commits, since it must lock the same node first.
//!
//! The counters live on a node of their own per product, not on the `Product` node: creating
//! relationships to a dense product takes a shared lock on it, and two concurrent applies
//! upgrading their shared locks on one product to write it deadlock. The counter nodes are
//! written only by the projection statement (and created and deleted with their product), so
//! concurrent applies lock them one after the other in product id order, without deadlock.
//!
//! A graph edited by hand is recounted by
//! [`Neo4jGraph::recount_product_stats`](crate::Neo4jGraph::recount_product_stats);
//! [`Neo4jGraph::migrate`](crate::Neo4jGraph::migrate) counts products that have no counter
//! node yet.

use std::collections::BTreeMap;

use neo4rs::BoltType;
use swiftbox_core::Result;

use crate::batches::Pages;
use crate::graph::{param, Neo4jGraph};

/// The counter part of the projection statement, which opens it: write-locks the counter node
/// `s` of product `row.id` (its first `SET`), moves `purchases` and `units` by `row.purchases`
/// and `row.units`, and `buyers` from `row.pairs` (`{user, d}`: the pair's net line change),
/// and adds one to `line_changes`, which marks the product's neighbour list (the `neighbours`
/// module).
pub(crate) const UPDATE: &str = "
SET s.purchases = s.purchases + row.purchases, s.units = s.units + row.units,
    s.line_changes = coalesce(s.line_changes, 0) + 1
WITH s, row
CALL (row) {
  MATCH (p:%Product% {id: row.id})
  UNWIND row.pairs AS pair
  OPTIONAL MATCH (u:%User% {id: pair.user})
  WITH pair, COUNT { (u)-[:%PURCHASED%]->(p) } AS held
  RETURN sum(CASE WHEN held > 0 THEN 1 ELSE 0 END - CASE WHEN held - pair.d > 0 THEN 1 ELSE 0 END) AS buyers
}
SET s.buyers = s.buyers + buyers";

/// Recomputes the counters of the products `$ids` from their `PURCHASED` relationships,
/// creating missing counter nodes (one batch of a recount, its own transaction). The counter
/// node is write-locked (its first `SET`) *before* the lines are counted, as the projection
/// statement locks it before it moves the counts: an apply that commits meanwhile is either
/// counted here (it committed before the lock) or moves the recounted values after this
/// commits (it waited for the lock), never neither nor both.
const RECOUNT: &str = "
UNWIND $ids.items AS id
MATCH (p:%Product% {id: id})
MERGE (s:%SwiftboxProductStats% {id: p.id})
SET s.purchases = coalesce(s.purchases, 0), s.category = p.category
WITH p, s
OPTIONAL MATCH (p)<-[r:%PURCHASED%]-(b)
WITH s, count(r) AS purchases, sum(r.quantity) AS units, count(DISTINCT b) AS buyers
SET s.purchases = purchases, s.units = units, s.buyers = buyers";

/// Deletes counter nodes whose product is gone (only a hand edit leaves one).
const ORPHANS: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE NOT EXISTS { MATCH (:%Product% {id: s.id}) }
DELETE s";

/// Products per recount transaction.
const RECOUNT_BATCH: i64 = 1000;

/// The counter statements of a recount, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    /// Every product, or those without a counter node.
    pages: Pages,
    recount: String,
    orphans: String,
}

impl Statements {
    pub(crate) fn new(schema: &crate::schema::Schema) -> Self {
        Self {
            pages: Pages::new(
                schema,
                "Product",
                "AND NOT EXISTS { MATCH (:%SwiftboxProductStats% {id: n.id}) }",
            ),
            recount: schema.cypher(RECOUNT),
            orphans: schema.cypher(ORPHANS),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out = self.pages.named("recount.counters.pages").to_vec();
        out.extend([
            ("recount.counters", self.recount.as_str()),
            ("recount.counters.orphans", &self.orphans),
        ]);
        out
    }
}

/// One product's counter change in an apply.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    purchases: i64,
    units: i64,
    /// User id -> net number of that user's lines to the product.
    pairs: BTreeMap<String, i64>,
}

impl Delta {
    /// Counts one line of `user` created (`sign` 1) or removed (`sign` -1).
    pub(crate) fn add(&mut self, user: &str, quantity: i64, sign: i64) {
        self.purchases += sign;
        self.units += sign * quantity;
        *self.pairs.entry(user.to_owned()).or_default() += sign;
    }

    /// The `purchases`, `units` and `pairs` fields of the product's row (see [`UPDATE`]),
    /// leaving out pairs whose lines did not change.
    pub(crate) fn fields(&self) -> [(&'static str, BoltType); 3] {
        use param::{i, list, map, s};
        let pairs = self
            .pairs
            .iter()
            .filter(|(_, d)| **d != 0)
            .map(|(user, d)| map([("user", s(user.clone())), ("d", i(*d))]))
            .collect();
        [
            ("purchases", i(self.purchases)),
            ("units", i(self.units)),
            ("pairs", list(pairs)),
        ]
    }

    /// Whether a counter changes.
    #[cfg(test)]
    pub(crate) fn changes_anything(&self) -> bool {
        self.purchases != 0 || self.units != 0 || self.pairs.values().any(|d| *d != 0)
    }
}

impl Neo4jGraph {
    /// Recomputes the counters of every product (`all`, after deleting counter nodes without
    /// a product) or of those without a counter node, in transactions of [`RECOUNT_BATCH`]
    /// products.
    pub(crate) async fn recount_counters(&self, all: bool) -> Result<()> {
        let st = &self.statements().apply.counters;
        if all {
            self.write_txn("recount_product_stats", vec![neo4rs::query(&st.orphans)])
                .await?;
        }
        let next = st.pages.next(all);
        self.in_batches("recount_product_stats", next, RECOUNT_BATCH, |ids| {
            neo4rs::query(&st.recount).param("ids", param::items(ids.to_vec()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_line_changes_units_but_not_buyers() {
        let mut d = Delta::default();
        d.add("u", 2, -1);
        d.add("u", 3, 1);
        assert_eq!((d.purchases, d.units), (0, 1));
        assert!(d.changes_anything());
        let [_, _, (_, pairs)] = d.fields();
        assert_eq!(pairs, param::list(vec![]), "no pair moved");
    }

    #[test]
    fn nothing_moved_is_nothing_to_write() {
        let mut d = Delta::default();
        d.add("u", 2, 1);
        d.add("u", 2, -1);
        assert!(!d.changes_anything());
    }
}
