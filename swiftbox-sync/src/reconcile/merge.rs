//! Streams the primary's expected records and the graph's records of one kind in id order, in
//! bounded batches, and pairs them up by id (a merge join): memory stays at two batches.

use std::cmp::Ordering;
use std::collections::VecDeque;

use swiftbox_core::prelude::*;
use swiftbox_core::{EntityKind, GraphRecord, GraphStore, Result};

/// One id seen on either side.
#[derive(Debug)]
pub(crate) enum Pair {
    /// On both sides.
    Both {
        expected: GraphRecord,
        found: GraphRecord,
    },
    /// Only in the primary store.
    Missing(GraphRecord),
    /// Only in the graph.
    Extra(GraphRecord),
}

/// One side's stream: a buffer refilled `batch` records at a time after the last id seen.
#[derive(Debug)]
struct Side {
    buf: VecDeque<(String, GraphRecord)>,
    after: Option<String>,
    done: bool,
}

impl Side {
    fn new(after: Option<String>) -> Self {
        Self {
            buf: VecDeque::new(),
            after,
            done: false,
        }
    }

    fn fill(&mut self, records: Vec<GraphRecord>, batch: usize) {
        self.done = records.len() < batch;
        for r in records {
            let id = r.entity().id;
            self.after = Some(id.clone());
            self.buf.push_back((id, r));
        }
    }
}

/// The merge join of one kind.
#[derive(Debug)]
pub(crate) struct MergeJoin<'a, P, G> {
    primary: &'a P,
    graph: &'a G,
    kind: EntityKind,
    batch: usize,
    expected: Side,
    found: Side,
}

impl<'a, P: PrimaryBackend, G: GraphStore> MergeJoin<'a, P, G> {
    /// Both sides of `kind` from just after `after` (or the start).
    pub(crate) fn new(
        primary: &'a P,
        graph: &'a G,
        kind: EntityKind,
        after: Option<String>,
        batch: usize,
    ) -> Self {
        Self {
            primary,
            graph,
            kind,
            batch,
            expected: Side::new(after.clone()),
            found: Side::new(after),
        }
    }

    /// The next id in order with what each side holds for it; `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<(String, Pair)>> {
        if self.expected.buf.is_empty() && !self.expected.done {
            let records = self
                .primary
                .expected_graph(self.kind, self.expected.after.as_deref(), self.batch)
                .await?;
            self.expected.fill(records, self.batch);
        }
        if self.found.buf.is_empty() && !self.found.done {
            let records = self
                .graph
                .records(self.kind, self.found.after.as_deref(), self.batch)
                .await?;
            self.found.fill(records, self.batch);
        }
        let order = match (self.expected.buf.front(), self.found.buf.front()) {
            (None, None) => return Ok(None),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((e, _)), Some((f, _))) => e.cmp(f),
        };
        let pair = match order {
            Ordering::Less => self
                .expected
                .buf
                .pop_front()
                .map(|(id, r)| (id, Pair::Missing(r))),
            Ordering::Greater => self
                .found
                .buf
                .pop_front()
                .map(|(id, r)| (id, Pair::Extra(r))),
            Ordering::Equal => match (self.expected.buf.pop_front(), self.found.buf.pop_front()) {
                (Some((id, expected)), Some((_, found))) => {
                    Some((id, Pair::Both { expected, found }))
                }
                _ => None,
            },
        };
        Ok(pair)
    }
}
