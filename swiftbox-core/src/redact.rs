//! Keeping secrets out of logs, errors and `Debug` output.

/// `uri` with the user information (`user:password@`) and the values of options whose name
/// contains `password` replaced by `<redacted>`.
pub fn redact_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "<redacted>".to_owned(),
    };
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match authority_and_path.find('/') {
        Some(i) => authority_and_path.split_at(i),
        None => (authority_and_path, ""),
    };
    let host = match authority.rfind('@') {
        Some(i) => format!("<redacted>@{}", &authority[i + 1..]),
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{host}{path}");
    if let Some(q) = query {
        let opts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                    format!("{k}=<redacted>")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&opts.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_and_password_options() {
        assert_eq!(
            redact_uri("mongodb://ann:p%40ss@h1:27017,h2/db?replicaSet=rs&tlsCertificateKeyFilePassword=x"),
            "mongodb://<redacted>@h1:27017,h2/db?replicaSet=rs&tlsCertificateKeyFilePassword=<redacted>"
        );
        assert_eq!(redact_uri("mongodb://h:1/"), "mongodb://h:1/");
        assert_eq!(
            redact_uri("bolt://neo4j:s3cret@127.0.0.1:7687"),
            "bolt://<redacted>@127.0.0.1:7687"
        );
        assert_eq!(redact_uri("garbage"), "<redacted>");
    }
}
