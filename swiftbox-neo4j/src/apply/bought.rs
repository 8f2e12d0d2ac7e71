//! Projection: each user's **bought set**, which `similar_users` reads instead of every
//! candidate's `PURCHASED` relationships (docs/performance-notes.md, "similar_users at M").
//!
//! The set is the `bought` property of the `User` node: the ids of the products the user has
//! at least one `PURCHASED` line to, each once, in no particular order. Exact Jaccard
//! similarity needs, per candidate, the size of that set and its overlap with the asking
//! user's; reading them from a property of the candidate's node, which the query has already
//! found, costs one property read, where expanding the candidate's relationships cost one
//! database hit per line (16k of the heaviest M user's 21k).
//!
//! Apply keeps it exact in the transaction that writes the lines, from the same created and
//! removed lines as the product projections ([`Delta`]), with the last part ([`UPDATE`]) of
//! the projection statement, one row per user in user id order, after the product
//! projections:
//!
//! - a product deleted in the transaction leaves no line at all (its delete runs after every
//!   upsert and takes every relationship with it), so it leaves its buyers' sets (`gone`),
//!   also when an order of the same transaction had just added it;
//! - a user who gained lines, and lost none to a product the transaction does not give back,
//!   gets the new product ids added (`added`);
//! - a user who lost a line to such a product (an order edited or deleted) may still hold
//!   another line to it, so the set is read again from the relationships (`rescan`), as it is
//!   for a user who has no set yet.
//!
//! Both run after [`UPDATE`]'s first `SET` has write-locked the node: another
//! transaction's lines to the user are then either committed (and read by a rescan) or added
//! by that transaction after this one commits, since it must lock the same node first.
//!
//! Locks: creating a relationship write-locks a node with few relationships, so the order
//! upsert has usually locked the user already. A *dense* user (more than 50 relationships,
//! views included) is only share-locked by it, and two transactions writing lines of one dense
//! user at once can deadlock upgrading that lock here; Neo4j reports it as a transient error,
//! which the caller retries (the parent module's "Locking"). The product counters live on a
//! node of their own for this reason ([`super::counters`]): a popular product is written by
//! many transactions at once, a user's own orders rarely are.
//!
//! A user deleted takes its set with it. A user without one (a graph from before the sets, or
//! loaded by [`swiftbox_core::GraphStore::apply_bulk`]) gets it from the first apply that
//! touches its lines, from [`Neo4jGraph::migrate`](crate::Neo4jGraph::migrate) or from
//! [`swiftbox_core::GraphStore::rebuild_projections`] ([`RECOUNT`]); the query reads the
//! relationships meanwhile. A graph edited by hand is recounted by
//! [`Neo4jGraph::recount_product_stats`](crate::Neo4jGraph::recount_product_stats).

use std::collections::{BTreeMap, BTreeSet};

use crate::batches::Recount;
use crate::graph::param;
use neo4rs::BoltType;

/// The projection statement of the bought sets (module docs): `$users`, rows `{id, rescan,
/// gone, added}` in user id order. A user no longer in the graph (deleted in this transaction) is
/// skipped.
pub(crate) const UPDATE: &str = "
UNWIND $users.items AS row
MATCH (u:%User% {id: row.id})
WITH u, row, row.rescan OR u.bought IS NULL AS rescan
SET u.bought = coalesce(u.bought, [])
WITH u, row, rescan
CALL (u, rescan) {
  WITH u WHERE rescan
  SET u.bought = COLLECT { MATCH (u)-[:%PURCHASED%]->(p) RETURN DISTINCT p.id }
}
CALL (u, row, rescan) {
  WITH u, row WHERE NOT rescan
  SET u.bought = [x IN u.bought WHERE NOT x IN row.gone] + [x IN row.added WHERE NOT x IN u.bought]
}";

/// Recomputes the bought sets of the users `$ids` from their relationships (one batch of a
/// recount, its own transaction), after write-locking each user (its first `SET`), as
/// [`UPDATE`] does and for the same reason.
const RECOUNT: &str = "
UNWIND $ids.items AS id
MATCH (u:%User% {id: id})
SET u.bought = coalesce(u.bought, [])
WITH u
SET u.bought = COLLECT { MATCH (u)-[:%PURCHASED%]->(p) RETURN DISTINCT p.id }";

/// The recount of the bought sets: every user, or those without a set.
pub(crate) fn recount(schema: &crate::schema::Schema) -> Recount {
    Recount::new(
        schema,
        "recount_bought",
        ["recount.bought.pages", "recount.bought"],
        "User",
        "AND n.bought IS NULL",
        schema.cypher(RECOUNT),
    )
}

/// One user's lines created and removed in an apply, by product id.
#[derive(Debug, Default)]
struct Change {
    added: BTreeSet<String>,
    removed: BTreeSet<String>,
    /// Products deleted in the transaction that the user had lines to.
    gone: BTreeSet<String>,
}

/// The users' bought-set changes of an apply transaction: user id -> its change.
#[derive(Debug, Default)]
pub(crate) struct Delta(BTreeMap<String, Change>);

impl Delta {
    /// Counts one line of `user` to `product` created (`sign` > 0) or removed.
    pub(crate) fn add(&mut self, user: &str, product: &str, sign: i64) {
        let change = self.0.entry(user.to_owned()).or_default();
        let side = if sign > 0 {
            &mut change.added
        } else {
            &mut change.removed
        };
        side.insert(product.to_owned());
    }

    /// Counts `user`'s lines to `product`, deleted in this transaction with the product.
    pub(crate) fn gone(&mut self, user: &str, product: &str) {
        let change = self.0.entry(user.to_owned()).or_default();
        change.gone.insert(product.to_owned());
    }

    /// The rows of [`UPDATE`], in user id order: a deleted product is `gone` (whatever the
    /// transaction added to it earlier); `rescan` when the user lost a line to another product
    /// that the transaction did not give back a line to.
    pub(crate) fn rows(self) -> Vec<BoltType> {
        self.0
            .into_iter()
            .map(|(user, c)| {
                let added: Vec<BoltType> = c
                    .added
                    .iter()
                    .filter(|p| !c.gone.contains(*p))
                    .map(|p| param::s(p.clone()))
                    .collect();
                let rescan = c
                    .removed
                    .iter()
                    .any(|p| !c.gone.contains(p) && !c.added.contains(p));
                param::map([
                    ("id", param::s(user)),
                    (
                        "rescan",
                        BoltType::Boolean(neo4rs::BoltBoolean::new(rescan)),
                    ),
                    (
                        "gone",
                        param::list(c.gone.into_iter().map(param::s).collect()),
                    ),
                    ("added", param::list(added)),
                ])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rescans(d: Delta) -> Vec<bool> {
        d.rows()
            .into_iter()
            .map(|row| match row {
                BoltType::Map(m) => match m.value.get("rescan") {
                    Some(BoltType::Boolean(b)) => b.value,
                    other => panic!("rescan: {other:?}"),
                },
                other => panic!("row: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_line_replaced_by_one_to_the_same_product_needs_no_rescan() {
        let mut d = Delta::default();
        d.add("u", "p", -1);
        d.add("u", "p", 1);
        d.add("v", "q", 1);
        assert_eq!(rescans(d), [false, false]);
    }

    /// An order adds a line to a product that a delete of the same transaction then takes
    /// away (with an older line of the user's): the product leaves the set, no rescan.
    #[test]
    fn a_product_deleted_after_an_order_added_it_is_gone() {
        let mut d = Delta::default();
        d.add("u", "p", 1);
        d.add("u", "q", 1);
        d.gone("u", "p");
        let rows = d.rows();
        let BoltType::Map(m) = &rows[0] else {
            panic!("row: {rows:?}")
        };
        let list = |k: &str| match m.value.get(k) {
            Some(BoltType::List(l)) => l
                .value
                .iter()
                .map(|v| match v {
                    BoltType::String(s) => s.value.clone(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(list("gone"), ["p"]);
        assert_eq!(list("added"), ["q"]);
        assert!(matches!(m.value.get("rescan"), Some(BoltType::Boolean(b)) if !b.value));
    }

    #[test]
    fn a_line_lost_to_a_product_not_given_back_rescans() {
        let mut d = Delta::default();
        d.add("u", "p", -1);
        d.add("u", "q", 1);
        assert_eq!(rescans(d), [true]);
    }
}
