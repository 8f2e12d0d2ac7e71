//! [`swiftbox_core::GraphStore::refresh_neighbours`]: each product's neighbour list, which
//! `recommendations_for` reads instead of walking buyers.
//!
//! The list lives on the product's counter node (see the `apply` module's projections):
//! `neighbours` (product ids, most similar first), `neighbour_scores` (their similarities,
//! rounded to 9 places) and `computed_at`, the value of the node's `line_changes` the list was
//! computed at. The projection statement adds one to `line_changes` in every apply transaction
//! that created or removed a line of the product, under the counter node's write lock; a
//! product is *marked* while `line_changes > computed_at`.
//!
//! A refresh reads up to `limit` marked counter nodes with their `line_changes` ([`PICK`], by
//! id), then, in one write transaction, computes each list from the relationships and stores it
//! with that value as `computed_at` ([`COMPUTE`]). The store first write-locks the counter node
//! and only then reads `computed_at`, so a list is never replaced by one computed earlier (two
//! refreshes at once), and a product whose lines changed after the pick stays marked. Counter
//! nodes are locked in id order, as the projection statement locks them, so a refresh and an
//! apply do not deadlock.

use neo4rs::query;
use swiftbox_core::{Error, NeighbourRefresh, Result};

use crate::apply::recent::fill_recent;
use crate::batches::Pages;
use crate::graph::{param, Neo4jGraph};
use crate::queries::get;
use crate::schema::Schema;

/// Up to `$limit` marked counter nodes, by id, with their line-change counters.
const PICK: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE s.line_changes > coalesce(s.computed_at, 0)
RETURN s.id AS id, s.line_changes AS seen
ORDER BY id
LIMIT $limit";

/// Counter nodes still marked.
const MARKED: &str = "
MATCH (s:%SwiftboxProductStats%)
WHERE s.line_changes > coalesce(s.computed_at, 0)
RETURN count(s) AS marked";

/// Computes and stores the lists of `$rows` (`{id, seen}`, by id): the core's definition,
/// with the capped hops of the read queries. A buyer's weight is `1 / sqrt(lines)` (its
/// degree, read without touching the relationships); `round(_, 9)` is the core's
/// `round_score`.
const COMPUTE: &str = concat!(
    "UNWIND $rows.items AS row
MATCH (p:%Product% {id: row.id})
MATCH (st:%SwiftboxProductStats% {id: row.id})
CALL (p) {
",
    recent_buyers!("p", "b", "buyers"),
    "  WITH p, b, 1.0 / sqrt(toFloat(COUNT { (b)-[:%PURCHASED%]->() })) AS w
",
    recent_products!("b", "q", "per_buyer"),
    "  WITH p, q, w WHERE q <> p
  WITH p, q, sum(w) AS co
  MATCH (mine:%SwiftboxProductStats% {id: p.id})
  MATCH (theirs:%SwiftboxProductStats% {id: q.id})
  WITH q.id AS qid,
       CASE WHEN mine.buyers = 0 OR theirs.buyers = 0 THEN 0.0
            ELSE round(co / sqrt(toFloat(mine.buyers) * toFloat(theirs.buyers)), 9) END AS sim
  ORDER BY sim DESC, qid ASC LIMIT $k
  RETURN collect(qid) AS ids, collect(sim) AS sims
}
SET st.computed_at = coalesce(st.computed_at, 0)
WITH st, row, ids, sims WHERE st.computed_at <= row.seen
SET st.neighbours = ids, st.neighbour_scores = sims, st.computed_at = row.seen"
);

/// Marks every counter node of `$ids` (the migration to schema version 4, for lists that
/// were never computed).
const MARK: &str = "
UNWIND $ids.items AS id
MATCH (s:%SwiftboxProductStats% {id: id})
SET s.line_changes = coalesce(s.line_changes, 0) + 1";

/// The neighbour-list statements, rendered for one namespace.
#[derive(Debug)]
pub(crate) struct Statements {
    pick: String,
    marked: String,
    compute: String,
    /// Pages of counter nodes with buyers, and the statement marking them.
    pub(crate) mark: (Pages, String),
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self {
            pick: schema.cypher(PICK),
            marked: schema.cypher(MARKED),
            compute: schema.cypher(&fill_recent(COMPUTE)),
            mark: (
                Pages::new(schema, "SwiftboxProductStats", "AND n.buyers > 0"),
                schema.cypher(MARK),
            ),
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let [_, pages] = self.mark.0.named("backfill.neighbour_marks.pages");
        vec![
            ("neighbours.pick", self.pick.as_str()),
            ("neighbours.marked", &self.marked),
            ("neighbours.compute", &self.compute),
            pages,
            ("backfill.neighbour_marks", &self.mark.1),
        ]
    }
}

impl Neo4jGraph {
    pub(crate) async fn refresh(&self, limit: usize) -> Result<NeighbourRefresh> {
        if limit == 0 {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        let st = &self.statements().neighbours;
        let caps = self.limits();
        let picked = self
            .read(
                "neighbours",
                query(&st.pick).param("limit", param::count(limit)),
            )
            .await?;
        let mut rows = Vec::with_capacity(picked.len());
        for row in &picked {
            let id: String = get(row, "id")?;
            let seen: i64 = get(row, "seen")?;
            rows.push(param::map([("id", param::s(id)), ("seen", param::i(seen))]));
        }
        let refreshed = rows.len() as u64;
        if rows.is_empty() {
            // Nothing was marked a moment ago: an idle poll costs one scan, not two.
            return Ok(NeighbourRefresh::default());
        }
        let q = query(&st.compute)
            .param("rows", param::items(rows))
            .param("buyers", param::count(caps.neighbour_buyers))
            .param("per_buyer", param::count(caps.neighbour_products))
            .param("k", param::count(caps.neighbours));
        self.write_txn("neighbours", vec![q]).await?;
        let left = self.read("neighbours", query(&st.marked)).await?;
        let marked: i64 = match left.first() {
            Some(row) => get(row, "marked")?,
            None => 0,
        };
        Ok(NeighbourRefresh {
            refreshed,
            marked: u64::try_from(marked).unwrap_or(0),
        })
    }

    /// Marks every product with buyers, so the next refreshes compute all lists.
    pub(crate) async fn mark_all_neighbours(&self) -> Result<()> {
        let (pages, mark) = &self.statements().neighbours.mark;
        self.in_batches("mark neighbour lists", pages.next(false), 1_000, |ids| {
            query(mark).param("ids", param::items(ids.to_vec()))
        })
        .await
    }
}
