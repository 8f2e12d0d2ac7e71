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
/// - a statement that raced a concurrent delete (`Neo.ClientError.Statement.EntityNotFound`,
///   "Unable to load ...": [`Raced`]) → [`Error::Unavailable`], in reads and writes alike: the
///   transaction was rolled back and the same call succeeds once the delete has committed;
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
        Some((_, code, message)) if raced(&code, &message) => Error::unavailable(STORE, Raced(err)),
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

/// A statement that loaded a node or relationship a concurrent transaction had deleted since
/// the statement matched it (`Neo.ClientError.Statement.EntityNotFound`, "Unable to load NODE
/// ..."). Neo4j reads at read-committed isolation, so this is a race, not a fault of the
/// statement: the same statement run again succeeds. SwiftBox never addresses an entity by its
/// internal id, so a statement of ours can meet this error only by racing a delete. (The same
/// code with "has been deleted in this transaction" is a statement deleting twice: a bug, kept
/// as [`Error::Backend`].) Writes are classified the same way, so a worker backs off and
/// retries an apply that raced a delete rather than count it against the change; were this
/// error ever deterministic (a damaged store), the worker would keep retrying instead of
/// setting the change aside, and `swiftbox_neo4j_call_duration_seconds{outcome="error"}`
/// would show it.
#[derive(Debug)]
pub(crate) struct Raced(neo4rs::Error);

impl fmt::Display for Raced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an entity the statement read was deleted by a concurrent transaction: {}",
            self.0
        )
    }
}

impl std::error::Error for Raced {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A column that read null where a value is required. In a statement of ours this is the other
/// face of [`Raced`]: the node or relationship the value comes from was deleted between the
/// statement matching it and reading the property, which then reads as null. It is kept as a
/// decode error ([`Error::Backend`]), because a node not written by SwiftBox can show it too,
/// but [`is_raced`] recognises it, so the read is run again first.
#[derive(Debug)]
pub(crate) struct ReadNull(String);

impl fmt::Display for ReadNull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot decode {}: it read null (the entity it belongs to was deleted while the \
             statement read it, or was not written by SwiftBox)",
            self.0
        )
    }
}

impl std::error::Error for ReadNull {}

/// A required `column` that read null: see [`ReadNull`].
pub(crate) fn read_null(column: &str) -> Error {
    Error::backend(STORE, ReadNull(column.to_owned()))
}

/// Whether `err` is a read that raced a delete ([`Raced`], [`ReadNull`]): worth running the
/// same read again at once.
pub(crate) fn is_raced(err: &Error) -> bool {
    match err {
        Error::Unavailable { source, .. } => source.downcast_ref::<Raced>().is_some(),
        Error::Backend { source, .. } => source.downcast_ref::<ReadNull>().is_some(),
        _ => false,
    }
}

fn raced(code: &str, message: &str) -> bool {
    code == "Neo.ClientError.Statement.EntityNotFound" && message.contains("Unable to load")
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

    /// A read that raced a delete is retryable and recognised as such, typed or seen while
    /// pulling; the same code for an entity the statement itself deleted is not.
    #[test]
    fn entities_deleted_under_a_read_are_a_retryable_race() {
        let pulled = map(neo4rs::Error::UnexpectedMessage(
            "unexpected response for PULL: Ok(Failure(Failure { metadata: BoltMap { value: {BoltString { value: \"message\" }: String(BoltString { value: \"Unable to load NODE 4:261a0dfe:33.\" }), BoltString { value: \"code\" }: String(BoltString { value: \"Neo.ClientError.Statement.EntityNotFound\" })} } }))".into(),
        ));
        assert!(pulled.is_retryable(), "{pulled}");
        assert!(is_raced(&pulled), "{pulled}");
        assert!(
            pulled.to_string().contains("concurrent transaction"),
            "{pulled}"
        );
        let own = map(neo4rs::Error::UnexpectedMessage(
            "unexpected response for PULL: Ok(Failure { code: \"Neo.ClientError.Statement.EntityNotFound\", message: \"Node with id 11 has been deleted in this transaction\" })".into(),
        ));
        assert!(matches!(own, Error::Backend { .. }), "{own}");
        assert!(!is_raced(&own));
        assert!(!is_raced(&map(neo4rs::Error::ConnectionError)));
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
