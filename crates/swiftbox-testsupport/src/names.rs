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

/// `uri` with the password of any `user:password@` part replaced.
pub(crate) fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:<redacted>@{host}{tail}")
        }
        None => uri.to_owned(),
    }
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

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_uri("mongodb://app:s3cret@db.example:27017/shop?tls=true"),
            "mongodb://app:<redacted>@db.example:27017/shop?tls=true"
        );
        assert_eq!(
            redact_uri("mongodb://127.0.0.1:27017/"),
            "mongodb://127.0.0.1:27017/"
        );
        assert_eq!(
            redact_uri("bolt://neo4j@host:7687"),
            "bolt://neo4j:<redacted>@host:7687"
        );
        assert_eq!(redact_uri("not a uri"), "not a uri");
    }
}
