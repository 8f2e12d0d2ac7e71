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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the parameters `text` reads as lists without going through a map.
    fn bare_lists(text: &str) -> Vec<String> {
        crate::list_params::list_params(text)
            .into_iter()
            .filter_map(|(name, wrapped)| (!wrapped).then_some(name))
            .collect()
    }

    #[test]
    fn the_scan_finds_bare_list_parameters() {
        assert_eq!(bare_lists("UNWIND $rows AS row RETURN row"), ["rows"]);
        assert_eq!(
            bare_lists("WHERE NOT p.id IN $exclude RETURN p"),
            ["exclude"]
        );
        assert_eq!(bare_lists("RETURN $decay[b.hour - $h0]"), ["decay"]);
        assert_eq!(bare_lists("UNWIND $rows [0] AS r"), ["rows"]);
        // Scalars after THEN and ELSE, and a map's other fields, are not lists.
        assert!(bare_lists("RETURN CASE WHEN a THEN $h1 - 1 ELSE $version END").is_empty());
        assert!(bare_lists("UNWIND $cfg.rows AS r WHERE r IN $cfg.ids").is_empty());
        assert_eq!(
            crate::list_params::list_params("UNWIND $a.items AS x UNWIND $b.itemsX AS y"),
            [("a".to_owned(), true)]
        );
        assert!(bare_lists("UNWIND $rows.items AS row WHERE row.id IN $ids.items").is_empty());
        assert!(bare_lists("MATCH (u {id: $user}) RETURN u LIMIT $limit").is_empty());
    }

    /// Every list parameter goes through a map (`graph::param::items`): Neo4j keys its plan
    /// cache on the size of a bare list parameter, so a statement would be planned again for
    /// each new batch size, stalling the call that carries it.
    #[test]
    fn no_statement_reads_a_bare_list_parameter() {
        let statements = Statements::new(&Schema::new(Some("t")));
        let named = statements.named();
        assert!(named.len() > 40, "only {} statements", named.len());
        let bare: Vec<String> = named
            .iter()
            .filter_map(|(name, text)| {
                let b = bare_lists(text);
                (!b.is_empty()).then(|| format!("{name}: {b:?}"))
            })
            .collect();
        assert!(
            bare.is_empty(),
            "bare list parameters:\n{}",
            bare.join("\n")
        );
    }
}
