//! The one place driver errors become [`swiftbox_core::Error`]s.

use std::fmt;

use neo4rs::{Neo4jClientErrorKind, Neo4jErrorKind};
use swiftbox_core::Error;

/// The store name carried by every error of this crate.
pub(crate) const STORE: &str = "neo4j";

/// A message-only error, used where the driver gives no error value to keep.
#[derive(Debug)]
pub(crate) struct Msg(pub(crate) String);

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Msg {}

/// Maps a driver error:
/// - I/O errors, a closed or unreachable pool, transient server errors (deadlocks, lock
///   timeouts, memory pressure, a database briefly unavailable) and the errors of a cluster
///   whose leader moved (`Neo.ClientError.Cluster.NotALeader`,
///   `Neo.ClientError.General.ForbiddenOnReadOnlyDatabase`: a write reached a member that is no
///   longer the leader) → [`Error::Unavailable`] (retryable: the worker backs off and tries
///   again, and nothing is counted against the change);
/// - authentication failures → [`Error::Backend`] saying so (retrying cannot fix a password);
/// - everything else → [`Error::Backend`] with the driver error as its source.
///
/// A status code is classified as neo4rs classifies it ([`Neo4jErrorKind::from`]), which
/// follows the official drivers (leader changes are "session expired"). neo4rs 0.8 reports a
/// server failure that arrives while rows are pulled as an "unexpected response" message rather
/// than a typed error; the status code is read from its text and classified the same way.
pub(crate) fn map(err: neo4rs::Error) -> Error {
    use neo4rs::Error as E;
    let kind = match &err {
        E::IOError { .. } | E::ConnectionError => return Error::unavailable(STORE, err),
        E::AuthenticationError(msg) => {
            return Error::backend(
                STORE,
                Msg(format!(
                    "authentication failed (check SWIFTBOX_NEO4J_USER / SWIFTBOX_NEO4J_PASSWORD): {msg}"
                )),
            )
        }
        E::Neo4j(e) => Some((e.kind(), e.code().to_owned(), e.message().to_owned())),
        E::UnexpectedMessage(m) => {
            status_code(m).map(|code| (Neo4jErrorKind::from(code), code.to_owned(), m.clone()))
        }
        _ => None,
    };
    match kind {
        Some((kind, _, _)) if retryable(kind) => Error::unavailable(STORE, err),
        Some((Neo4jErrorKind::Client(Neo4jClientErrorKind::Security(_)), code, message)) => {
            Error::backend(
                STORE,
                Msg(format!(
                    "authentication or authorization failed ({code}): {message}"
                )),
            )
        }
        _ => Error::backend(STORE, err),
    }
}

/// Whether an error of this kind goes away by itself: transient, or a cluster member that is
/// not (or no longer) the leader.
fn retryable(kind: Neo4jErrorKind) -> bool {
    matches!(
        kind,
        Neo4jErrorKind::Transient | Neo4jErrorKind::Client(Neo4jClientErrorKind::SessionExpired)
    )
}

/// The Neo4j status code (`Neo.<Classification>.<Category>.<Title>`) in a message, if any.
fn status_code(message: &str) -> Option<&str> {
    let start = message.find("Neo.")?;
    let rest = &message[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('.'))
}

/// A row that does not have the shape a query returns: a bug or a foreign writer.
pub(crate) fn decode(what: &str, err: impl fmt::Display) -> Error {
    Error::backend(STORE, Msg(format!("cannot decode {what}: {err}")))
}

/// A call that did not finish within its time budget.
pub(crate) fn timeout(what: &str, after: std::time::Duration) -> Error {
    Error::unavailable(
        STORE,
        Msg(format!("{what} did not finish within {after:?}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_connection_errors_are_retryable() {
        let io = neo4rs::Error::IOError {
            detail: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert!(map(io).is_retryable());
        assert!(map(neo4rs::Error::ConnectionError).is_retryable());
        assert!(timeout("ping", std::time::Duration::from_secs(1)).is_retryable());
    }

    #[test]
    fn auth_failures_are_not_retryable_and_say_so() {
        let err = map(neo4rs::Error::AuthenticationError(
            "The client is unauthorized due to authentication failure.".into(),
        ));
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        assert!(!err.is_retryable());
        assert!(
            std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default()
                .contains("authentication failed"),
            "{err}"
        );
    }

    #[test]
    fn transient_failures_seen_while_pulling_are_retryable() {
        let err = map(neo4rs::Error::UnexpectedMessage(
            "unexpected response for PULL: Ok(Failure { code: \"Neo.TransientError.Transaction.DeadlockDetected\" })".into(),
        ));
        assert!(err.is_retryable(), "{err}");
        let err = map(neo4rs::Error::UnexpectedMessage(
            "unexpected response for PULL: Ok(Failure { code: \"Neo.ClientError.Statement.SyntaxError\" })".into(),
        ));
        assert!(matches!(err, Error::Backend { .. }), "{err}");
    }

    /// A leader change in a cluster reaches a writer as NotALeader or
    /// ForbiddenOnReadOnlyDatabase (its connection went to a member that is a follower now);
    /// both must be retryable, typed or seen while pulling, or the worker would count them
    /// against the change and set it aside as poison.
    #[test]
    fn leader_changes_and_unavailable_databases_are_retryable() {
        for code in [
            "Neo.ClientError.Cluster.NotALeader",
            "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
            "Neo.TransientError.General.DatabaseUnavailable",
            "Neo.TransientError.Transaction.LeaseExpired",
        ] {
            assert!(retryable(Neo4jErrorKind::from(code)), "{code} (typed)");
            let err = map(neo4rs::Error::UnexpectedMessage(format!(
                "unexpected response for PULL: Ok(Failure {{ code: \"{code}\", message: \"No write operations are allowed\" }})"
            )));
            assert!(
                matches!(err, Error::Unavailable { .. }) && err.is_retryable(),
                "{code}: {err}"
            );
        }
        for code in [
            "Neo.ClientError.Statement.SyntaxError",
            "Neo.ClientError.Schema.ConstraintValidationFailed",
            "Neo.DatabaseError.General.UnknownError",
        ] {
            assert!(!retryable(Neo4jErrorKind::from(code)), "{code}");
        }
        let denied = map(neo4rs::Error::UnexpectedMessage(
            "Failure { code: \"Neo.ClientError.Security.Forbidden\" }".into(),
        ));
        assert!(!denied.is_retryable(), "{denied}");
        assert_eq!(status_code("x Neo.A.B.C."), Some("Neo.A.B.C"));
        assert_eq!(status_code("no code here"), None);
    }
}
