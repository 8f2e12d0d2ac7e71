//! [`swiftbox_core::GraphStore::apply`]: a batch of changes in one explicit transaction, in two
//! layers.
//!
//! 1. **Entities** ([`entities`]): one `UNWIND $rows.items` statement per kind and operation present
//!    in the batch, upserts in [`EntityKind::ALL`] order, then deletes in [`DELETE_ORDER`]. Each
//!    reads every row's version guard, writes the rows that pass and returns one `(i, outcome)`
//!    row per input row, from which the [`ApplyReport`] is built; the statements that remove
//!    `PURCHASED` lines also return them.
//! 2. **Projections**, the read models kept in the same transaction from the `PURCHASED` lines
//!    the entity statements created and removed ([`Tally`], summed per product in Rust): the
//!    popularity counters ([`counters`]), the recent-buyer lists ([`recent`]) and the trend
//!    buckets ([`buckets`]). They live on, or hang off, one internal counter node per product
//!    and are written by one statement, [`PROJECTIONS`], one row per product in product id
//!    order, under that node's write lock. Last, in the same statement, each user's bought set
//!    ([`bought`], a property of the `User` node) is written by [`bought::UPDATE`], one row
//!    per user in user id order, under the user's write lock.
//!
//! This module composes the two: it builds the rows, runs the statements in one transaction
//! ([`Neo4jGraph::write_txn_then`]), and turns the outcomes into the report.
//!
//! # Locking
//!
//! Several processes may apply the same entity at once (the sync contract, rule 7). What
//! serialises them is Neo4j's *locking* unique-index seek: in a statement that writes, a
//! `MATCH`/`MERGE` on a property with a uniqueness constraint is planned as
//! `NodeUniqueIndexSeek(Locking)` (for a relationship,
//! `DirectedRelationshipUniqueIndexSeek(Locking)`), which takes a *shared* lock on the index
//! entry `(label, value)` when it finds the entity and an *exclusive* one, held until the
//! transaction ends, when it does not. Every guard is read after such seeks, in this order:
//!
//! 1. *Users, categories, products*: the tombstone (`SwiftboxTombstone.key`), then the node
//!    (`id`). Apply never leaves both (an applied upsert deletes the tombstone, a delete
//!    deletes the node), so at least one seek finds nothing and holds its entry exclusively:
//!    a second transaction on the same entity waits at that seek until the first commits, and
//!    then reads the guard as the first left it. Node writes (`SET`, `DETACH DELETE`) take
//!    the node's own write lock besides.
//! 2. *Reviews*: the tombstone, then the review's relationship (`REVIEWED.id`, a relationship
//!    uniqueness constraint): the same argument, one of the two is always missing.
//! 3. *Orders*: their lines are found through a plain relationship index
//!    (`PURCHASED.order_id`, not unique: an order has a line per product), which locks
//!    nothing, and while a tombstone exists its seek is shared. So every order statement
//!    first takes an explicit per-order lock: it `MERGE`s and at once deletes a
//!    `SwiftboxLock {key}` node (a uniqueness constraint), which holds the key's entry
//!    exclusively until the transaction ends, before it reads the tombstone or the lines.
//!    Behind the lock, the `PURCHASED(order_id, product)` uniqueness constraint fails a
//!    transaction that would leave a second line of one order and product.
//! 4. *Projections*: the counter node of each product whose lines changed, write-locked by
//!    the projection statement's first `SET`, in product id order; every count, list and
//!    bucket of the product is read and written after it. Then the `User` node of each user
//!    whose lines changed, in user id order, the same way, for its bought set.
//!
//! Within a statement the rows are in entity-key order and the statements run in a fixed
//! order, so two transactions lock the keys of one statement in the same order; a deadlock
//! between statements of different kinds is still possible, and Neo4j reports it as a
//! transient error ([`swiftbox_core::Error::Unavailable`]) that the caller retries.
//!
//! `tests/plans.rs` `EXPLAIN`s every apply statement and fails when one of these seeks is no
//! longer a locking seek on a uniqueness constraint (a dropped constraint, a renamed label, a
//! `MATCH` turned into a scan): the guards would then be racy without any test noticing.

use std::collections::{BTreeMap, HashMap};

use neo4rs::{query, BoltType, Query, Row};
use swiftbox_core::{ApplyReport, EntityKind, EntityRef, Error, GraphChange, GraphRecord, Result};

use crate::batches::Recount;
use crate::error::{self, Msg};
use crate::graph::{param, Neo4jGraph};
use crate::schema::Schema;

pub(crate) mod bought;
pub(crate) mod buckets;
pub(crate) mod counters;
pub(crate) mod entities;
pub(crate) mod recent;

use entities::{dedup_items, Line};

/// Prefix of the projection statement ([`PROJECTIONS`]) and the order upsert ([`entities`]):
/// keep the cached plan instead of replanning it when the graph's statistics drift, so that an
/// apply does not wait the 200-400 ms Neo4j takes to replan (a graph growing from empty, as a
/// new shop or a fresh namespace does, drifts every few seconds).
///
/// Only a statement whose every lookup is a seek *whatever the statistics*, and whose
/// expansions start from nodes already bound, may carry it: the projection statement (its
/// `MATCH` on the counter node's unique `id`, its bucket `MERGE` on the unique `(product,
/// hour)` key, its counts and recent-buyer reads expanding from the bound product and user)
/// and the order upsert (unique seeks on the lock, tombstone, user and products; `USING INDEX
/// SEEK` on its two lookups of the order's lines by `order_id`). A plain `USING INDEX` is not
/// enough: it allows an index *scan*, and the order upsert's plan kept with it scanned the
/// whole `order_id` index for every row's delete (64 million rows for a batch of 2,000 at
/// scale M, 28 s a batch and growing). Why, and what it costs: `docs/performance-notes.md`,
/// "Neo4j plan caching".
pub(crate) const NO_REPLAN: &str = "CYPHER replan=skip ";

/// The projection statement that ends every apply transaction that added or removed
/// `PURCHASED` lines: one row per product ([`Tally::rows`]), in product id order. Its first
/// `SET` ([`counters::UPDATE`]) write-locks the product's counter node; the recent-buyer list
/// ([`recent::UPDATE`]) and the trend buckets ([`buckets::UPDATE`]) follow under that lock.
///
/// Then, in the same statement (one round trip, not two: a second statement cost a one-order
/// apply about 10%), the users' bought sets ([`bought::UPDATE`]), `$users`, one row per user in
/// user id order. Each part is a unit subquery run once, products first; either list may be
/// empty (a product delete changes only its buyers' sets).
const PROJECTIONS: &str = "
CALL () {
UNWIND $rows.items AS row
MATCH (s:%SwiftboxProductStats% {id: row.id})
%COUNTERS%
%RECENT%
%BUCKETS_UPDATE%
}
CALL () {
%BOUGHT%
}";

/// The apply statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) entities: entities::Statements,
    pub(crate) projections: String,
    pub(crate) counters: counters::Statements,
    pub(crate) recent: Recount,
    pub(crate) buckets: buckets::Statements,
    /// The recount of the users' bought sets.
    pub(crate) bought: Recount,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        let projections = PROJECTIONS
            .replace("%COUNTERS%", counters::UPDATE.trim_start())
            .replace("%RECENT%", recent::UPDATE.trim_start())
            .replace("%BOUGHT%", bought::UPDATE.trim_start());
        let projections = recent::fill_recent(&buckets::fill_buckets(&projections));
        Self {
            entities: entities::Statements::new(schema),
            projections: format!("{NO_REPLAN}{}", schema.cypher(&projections)),
            counters: counters::Statements::new(schema),
            recent: recent::recount(schema),
            buckets: buckets::Statements::new(schema),
            bought: bought::recount(schema),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out = self.entities.named();
        out.push(("apply.projections", &self.projections));
        out.extend(self.counters.named());
        out.extend(self.recent.named());
        out.extend(self.buckets.named());
        out.extend(self.bought.named());
        out
    }
}

/// One product's projection changes in an apply transaction.
#[derive(Debug, Default)]
struct ProductDelta {
    counters: counters::Delta,
    recent: recent::Delta,
    hours: buckets::Buckets,
}

/// The `PURCHASED` lines an apply transaction created and removed: per product (in product id
/// order), the rows of [`PROJECTIONS`]; per user, those of [`bought::UPDATE`].
#[derive(Debug, Default)]
struct Tally {
    products: BTreeMap<String, ProductDelta>,
    users: bought::Delta,
}

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
        self.users.add(user, product, sign);
        let d = self.products.entry(product.to_owned()).or_default();
        d.counters.add(user, quantity, sign);
        d.recent.add(user, ts_ms, sign);
        d.hours.add(ts_ms, quantity, sign)
    }

    /// The parameter rows: one per product with a line created or removed, also when the
    /// projections come out unchanged (a line replaced by an equal one), since the row marks
    /// the product's neighbour list (as the in-memory graph does).
    fn rows(products: BTreeMap<String, ProductDelta>) -> Vec<BoltType> {
        products
            .into_iter()
            .map(|(product, d)| {
                let fields = [
                    ("id", param::s(product)),
                    ("bound", d.hours.bound().into()),
                    ("hours", param::list(d.hours.rows())),
                ]
                .into_iter()
                .chain(d.counters.fields())
                .chain(d.recent.fields());
                BoltType::Map(
                    fields
                        .map(|(k, v)| (neo4rs::BoltString::from(k), v))
                        .collect(),
                )
            })
            .collect()
    }
}

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

/// What the statements of one apply transaction tell about its `PURCHASED` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Nothing (no `removed` column).
    None,
    /// `removed`, plus the items of each applied order upsert as created lines.
    OrderUpsert,
    /// `removed` only.
    Removed,
    /// `removed`: the lines of products deleted in this transaction (their projections go
    /// with them; their buyers' bought sets lose them).
    ProductGone,
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

/// The projection statement of a transaction whose statements gave `results` (one per entry
/// of `lines`): [`PROJECTIONS`], with the products' rows and the users' ([`bought::UPDATE`]);
/// none when no line changed.
fn projections(
    st: &Statements,
    changes: &[GraphChange],
    lines: &[Lines],
    results: &[Vec<Row>],
) -> Result<Vec<Query>> {
    let mut tally = Tally::default();
    for (kind, rows) in lines.iter().zip(results) {
        if *kind == Lines::None {
            continue;
        }
        for row in rows {
            let removed: Vec<Line> = row
                .get("removed")
                .map_err(|e| error::decode("removed lines", e))?;
            if *kind == Lines::ProductGone {
                for Line(user, product, ..) in &removed {
                    tally.users.gone(user, product);
                }
                continue;
            }
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
    let products = Tally::rows(tally.products);
    let users = tally.users.rows();
    if products.is_empty() && users.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![query(&st.projections)
        .param("rows", param::items(products))
        .param("users", param::items(users))])
}

impl Neo4jGraph {
    pub(crate) async fn apply_changes(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.apply_with(changes, true).await
    }

    /// [`GraphStore::apply_bulk`](swiftbox_core::GraphStore::apply_bulk): the entity statements
    /// alone, without the projection statement; `rebuild_projections` makes up for it.
    pub(crate) async fn apply_bulk_changes(&self, changes: &[GraphChange]) -> Result<ApplyReport> {
        self.apply_with(changes, false).await
    }

    /// Applies `changes`; with `project`, the projection statement ends the transaction.
    async fn apply_with(&self, changes: &[GraphChange], project: bool) -> Result<ApplyReport> {
        let (entities, winners) = collapse(changes)?;
        let mut order: Vec<usize> = winners.values().copied().collect();
        order.sort_unstable();

        // Build every parameter row first, so invalid input fails before anything is written.
        // A row's `i` is the index of its change in `changes`.
        // Rows are sorted by entity key: the order in which a statement locks them.
        let mut upserts: HashMap<EntityKind, BTreeMap<String, BoltType>> = HashMap::new();
        let mut deletes: HashMap<EntityKind, BTreeMap<String, BoltType>> = HashMap::new();
        for &i in &order {
            let entity = &entities[i];
            let key = entities::key(entity);
            match &changes[i] {
                GraphChange::Upsert(record) => upserts
                    .entry(entity.kind)
                    .or_default()
                    .insert(key, entities::upsert_row(i, record)?),
                GraphChange::Delete { version, .. } => deletes
                    .entry(entity.kind)
                    .or_default()
                    .insert(key, entities::delete_row(i, entity, *version)?),
            };
        }
        let st = &self.statements().apply;
        let rows = |rows: BTreeMap<String, BoltType>| param::items(rows.into_values().collect());
        let mut queries: Vec<Query> = Vec::new();
        let mut lines: Vec<Lines> = Vec::new();
        for kind in EntityKind::ALL {
            if let Some(kinds_rows) = upserts.remove(&kind) {
                queries.push(query(st.entities.upsert(kind)).param("rows", rows(kinds_rows)));
                lines.push(if kind == EntityKind::Order {
                    Lines::OrderUpsert
                } else {
                    Lines::None
                });
            }
        }
        for kind in DELETE_ORDER {
            if let Some(kinds_rows) = deletes.remove(&kind) {
                queries.push(query(st.entities.delete(kind)).param("rows", rows(kinds_rows)));
                lines.push(match kind {
                    EntityKind::Order | EntityKind::User => Lines::Removed,
                    EntityKind::Product => Lines::ProductGone,
                    EntityKind::Category | EntityKind::Review => Lines::None,
                });
            }
        }
        let results = if queries.is_empty() {
            Vec::new()
        } else {
            self.write_txn_then("apply", queries, |results| {
                if project {
                    projections(st, changes, &lines, results)
                } else {
                    Ok(Vec::new())
                }
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
        let err = entities::upsert_row(
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
