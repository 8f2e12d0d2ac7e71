//! Names that keep each test's data apart, and redaction for `Debug`.

/// The longest name returned: MongoDB and FerretDB allow 63-byte database names.
const MAX_LEN: usize = 63;

/// A name no other test uses: `swiftbox_test_<test>_<random>`.
///
/// `test` is lower-cased and every character outside `[a-z0-9_]` becomes `_`,
/// so the result is a valid MongoDB / FerretDB database name, Neo4j label,
/// relationship type and constraint name; it is at most 63 characters long
/// (a long `test` is cut) and ends in 12 random hex digits.
pub fn unique_name(test: &str) -> String {
    const PREFIX: &str = "swiftbox_test_";
    let random = uuid::Uuid::new_v4().simple().to_string();
    let random = &random[..12];
    let room = MAX_LEN - PREFIX.len() - 1 - random.len();
    let test: String = test
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .take(room)
        .collect();
    format!("{PREFIX}{test}_{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_valid_distinct_and_bounded() {
        let a = unique_name("Mongo Smoke::round-trip/ü");
        let b = unique_name("Mongo Smoke::round-trip/ü");
        assert_ne!(a, b);
        assert!(
            a.starts_with("swiftbox_test_mongo_smoke__round_trip__"),
            "{a}"
        );
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{a}"
        );
        let long = unique_name(&"x".repeat(200));
        assert_eq!(long.len(), MAX_LEN, "{long}");
    }
}
