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
///   timeouts, memory pressure, leader changes) → [`Error::Unavailable`] (retryable);
/// - authentication failures → [`Error::Backend`] saying so (retrying cannot fix a password);
/// - everything else → [`Error::Backend`] with the driver error as its source.
///
/// neo4rs 0.8 reports a server failure that arrives while rows are pulled as an "unexpected
/// response" message rather than a typed error; its text carries the Neo4j status code, so a
/// `Neo.TransientError` there is still classified as retryable.
pub(crate) fn map(err: neo4rs::Error) -> Error {
    use neo4rs::Error as E;
    match &err {
        E::IOError { .. } | E::ConnectionError => Error::unavailable(STORE, err),
        E::AuthenticationError(msg) => Error::backend(
            STORE,
            Msg(format!(
                "authentication failed (check SWIFTBOX_NEO4J_USER / SWIFTBOX_NEO4J_PASSWORD): {msg}"
            )),
        ),
        E::Neo4j(e) => match e.kind() {
            Neo4jErrorKind::Transient
            | Neo4jErrorKind::Client(Neo4jClientErrorKind::SessionExpired) => {
                Error::unavailable(STORE, err)
            }
            Neo4jErrorKind::Client(Neo4jClientErrorKind::Security(_)) => Error::backend(
                STORE,
                Msg(format!(
                    "authentication or authorization failed ({}): {}",
                    e.code(),
                    e.message()
                )),
            ),
            _ => Error::backend(STORE, err),
        },
        E::UnexpectedMessage(m) if m.contains("Neo.TransientError") => {
            Error::unavailable(STORE, err)
        }
        E::UnexpectedMessage(m) if m.contains("Neo.ClientError.Security") => Error::backend(
            STORE,
            Msg(format!("authentication or authorization failed: {m}")),
        ),
        _ => Error::backend(STORE, err),
    }
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
}
