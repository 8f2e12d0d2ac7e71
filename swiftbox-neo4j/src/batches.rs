//! Maintenance work in pages of ids (recounts, rebuilds, the migration's backfills): each page
//! is read in a transaction of its own and written in another, so no transaction grows with
//! the graph and none is an auto-commit one.

use neo4rs::Query;
use swiftbox_core::Result;

use crate::graph::{param, Neo4jGraph};
use crate::queries::get;
use crate::schema::Schema;

/// The ids after `$after` (at most `$batch`, by id) of the `%LABEL%` nodes that `%WHERE%`
/// (`AND ...` on `n`, or nothing) selects.
const NEXT_IDS: &str = "
MATCH (n:%LABEL%)
WHERE n.id > $after %WHERE%
RETURN n.id AS id
ORDER BY id
LIMIT $batch";

/// The page statements of one pass: over every node of a label, or over those a filter selects.
#[derive(Debug)]
pub(crate) struct Pages {
    all: String,
    filtered: String,
}

impl Pages {
    /// Pages of `label` (a placeholder name such as `Product`), all or those `filter` selects.
    pub(crate) fn new(schema: &Schema, label: &str, filter: &str) -> Self {
        let text = |filter: &str| {
            schema.cypher(
                &NEXT_IDS
                    .replace("%LABEL%", &format!("%{label}%"))
                    .replace("%WHERE%", filter),
            )
        };
        Self {
            all: text(""),
            filtered: text(filter),
        }
    }

    /// The statement for every node (`all`) or the filtered ones.
    pub(crate) fn next(&self, all: bool) -> &str {
        if all {
            &self.all
        } else {
            &self.filtered
        }
    }

    /// Both statements, under `name`.
    pub(crate) fn named(&self, name: &'static str) -> [(&'static str, &str); 2] {
        [(name, &self.all), (name, &self.filtered)]
    }
}

/// A recount in pages: a statement that recomputes what `$ids` (a page of [`Pages`]) need,
/// over every node of a label or over those a filter selects, 1,000 ids a transaction.
#[derive(Debug)]
pub(crate) struct Recount {
    /// The `call` label of its metrics.
    call: &'static str,
    /// The statements' names in [`Neo4jGraph::cypher_statements`]: the pages', the write's.
    names: [&'static str; 2],
    pages: Pages,
    write: String,
}

impl Recount {
    /// `write` (already rendered) over the pages of `label` (all, or those `filter` selects),
    /// measured as `call`.
    pub(crate) fn new(
        schema: &Schema,
        call: &'static str,
        names: [&'static str; 2],
        label: &str,
        filter: &str,
        write: String,
    ) -> Self {
        Self {
            call,
            names,
            pages: Pages::new(schema, label, filter),
            write,
        }
    }

    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let [all, filtered] = self.pages.named(self.names[0]);
        vec![all, filtered, (self.names[1], &self.write)]
    }
}

impl Neo4jGraph {
    /// Runs `recount` over every node of its label (`all`) or the filtered ones.
    pub(crate) async fn recount(&self, recount: &Recount, all: bool) -> Result<()> {
        self.in_batches(recount.call, recount.pages.next(all), 1_000, |ids| {
            neo4rs::query(&recount.write).param("ids", param::items(ids.to_vec()))
        })
        .await
    }

    /// The next page of `next` after `after`.
    pub(crate) async fn next_ids(
        &self,
        what: &'static str,
        next: &str,
        after: &str,
        batch: i64,
    ) -> Result<Vec<String>> {
        let q = neo4rs::query(next)
            .param("after", after)
            .param("batch", batch);
        self.read(what, q)
            .await?
            .iter()
            .map(|row| get(row, "id"))
            .collect()
    }

    /// Runs `write` (made from each page of ids) in a transaction per page.
    pub(crate) async fn in_batches(
        &self,
        what: &'static str,
        next: &str,
        batch: i64,
        write: impl Fn(&[String]) -> Query,
    ) -> Result<()> {
        let mut after = String::new();
        loop {
            let ids = self.next_ids(what, next, &after, batch).await?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = last.clone();
            self.write_txn(what, vec![write(&ids)]).await?;
        }
    }
}
