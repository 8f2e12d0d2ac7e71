//! Every Cypher statement of a store, rendered once, when it connects, for its namespace.
//!
//! Each module keeps its statements as templates with placeholders (`%User%`, `%KEPT%`, ...)
//! next to the code that runs them, and a `Statements` struct that renders them
//! ([`crate::schema::Schema::cypher`] and the module's own fills); this one holds them all, so a
//! call only picks its text and binds parameters.

use crate::schema::Schema;
use crate::{apply, neighbours, queries, records, schema, trending};

/// All statements of one store.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) apply: apply::Statements,
    pub(crate) queries: queries::Statements,
    pub(crate) neighbours: neighbours::Statements,
    pub(crate) records: records::Statements,
    pub(crate) trending: trending::Statements,
    pub(crate) schema: schema::Statements,
}

impl Statements {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self {
            apply: apply::Statements::new(schema),
            queries: queries::Statements::new(schema),
            neighbours: neighbours::Statements::new(schema),
            records: records::Statements::new(schema),
            trending: trending::Statements::new(schema),
            schema: schema::Statements::new(schema),
        }
    }

    /// Every statement, named (`apply.upsert.order`, `query.recommend`, `migrate.schema`, ...).
    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut out = self.apply.named();
        out.extend(self.queries.named());
        out.extend(self.neighbours.named());
        out.extend(self.records.named());
        out.extend(self.trending.named());
        out.extend(self.schema.named());
        out
    }
}
