//! The list parameters a Cypher statement reads, found by scanning its text. Shared by
//! `tests/plan_cache.rs` (through `common`) and the crate's unit test of its statements (which
//! includes this file by path), so both look for the same thing.

/// The list parameters of `text`, sorted, each once: `(name, true)` for each read as
/// `$name.items` (passed inside a map, `graph::param::items`), `(name, false)` for each read
/// bare: after `UNWIND` or `IN`, or indexed (`$name[`). A parameter read through another field
/// (`$p.x`) is a map, not a list.
///
/// A scan, not a parser: a bare list elsewhere is not seen. Before trending's `$last_lines`
/// went into a map it was read after `THEN` (`CASE WHEN cut THEN $last_lines ELSE [] END`),
/// which the scan does not treat as a list, since scalars are read there too (`ELSE $version`).
pub(crate) fn list_params(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = text
        .match_indices('$')
        .filter_map(|(at, _)| {
            let name: String = text[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = text[at + 1 + name.len()..].trim_start();
            let before = text[..at].trim_end();
            let listed = before.ends_with("UNWIND") || before.ends_with(" IN");
            let field = |c: char| c.is_ascii_alphanumeric() || c == '_';
            if after
                .strip_prefix(".items")
                .is_some_and(|rest| !rest.starts_with(field))
            {
                Some((name, true))
            } else if after.starts_with('.') {
                None
            } else if listed || after.starts_with('[') {
                Some((name, false))
            } else {
                None
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
