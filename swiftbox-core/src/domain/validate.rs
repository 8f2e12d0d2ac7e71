//! Field checks shared by the domain inputs.

use crate::error::Error;

/// A trimmed, non-empty string of at most `max` characters without control characters.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    optional_text(field, v, max)
}

/// Like [`text`] but may be empty.
pub(crate) fn optional_text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(v.to_owned())
}

/// Usernames as the seed (Django) accepted them: 1..=150 of letters, digits and `@.+-_`.
pub(crate) fn username(value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid("username", "must not be empty"));
    }
    if v.chars().count() > 150 {
        return Err(Error::invalid("username", "must be at most 150 characters"));
    }
    if !v
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
    {
        // No '@': log-in matches a username first, then an e-mail, so a username shaped like
        // someone else's e-mail address could stand in for their account.
        return Err(Error::invalid(
            "username",
            "may contain only letters, digits and . + - _ (no @)",
        ));
    }
    Ok(v.to_owned())
}

/// A plausible e-mail address, normalised to lower case.
pub(crate) fn email(value: &str) -> Result<String, Error> {
    let v = value.trim().to_lowercase();
    let bad = || Error::invalid("email", "is not a valid e-mail address");
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(v)
}

/// An `http(s)` URL of at most 2048 bytes.
pub(crate) fn url(field: &str, value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.len() > 2048 {
        return Err(Error::invalid(field, "must be at most 2048 bytes"));
    }
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| Error::invalid(field, "must be an http or https URL"))?;
    if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(field, "must be an http or https URL"));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "", "ann", "ann@", "@x.y", "a@b", "a@@b.c", "a b@c.d", "a@.c", "a@c.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_texts() {
        assert!(username("ann.o-k_1+x").is_ok());
        assert!(username("ann@example.com").is_err());
        assert!(username("{\"$gt\": \"\"}").is_err());
        assert!(username(&"a".repeat(151)).is_err());
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "abcdefghijk", 10).is_err());
        assert_eq!(text("name", "  ok ", 10).unwrap(), "ok");
        assert!(url("images[0]", "javascript:alert(1)").is_err());
        assert!(url("images[0]", "https://cdn.example/a.png").is_ok());
    }
}
