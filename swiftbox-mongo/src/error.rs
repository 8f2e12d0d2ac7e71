//! The one place driver errors become [`swiftbox_core::Error`]s.
//!
//! - duplicate key (code 11000, also inside write-concern and bulk errors) becomes
//!   [`Error::Conflict`] naming the field, read from the index name in the server's message
//!   (`... index: email_unique dup key ...`). FerretDB's message names no index, so callers that
//!   can collide on more than one unique field resolve the field by looking (see
//!   [`is_duplicate`] and [`conflict_field`]);
//! - server selection failures, network and pool errors, timeouts (the driver's, the server's
//!   `MaxTimeMSExpired`, and [`crate::MongoConfig`]'s operation timeout), errors the server
//!   labels retryable and "not primary / shutting down" codes become [`Error::Unavailable`],
//!   which [`Error::is_retryable`] says to retry;
//! - everything else (bad documents, authentication, invalid arguments, ...) becomes
//!   [`Error::Backend`] with the driver's error kept as its source.

use mongodb::error::{ErrorKind, WriteFailure};
use swiftbox_core::{EntityKind, Error};

/// The store name used in errors.
pub(crate) const STORE: &str = "mongodb";

/// Server error codes that mean "try again later": host unreachable or not found, network
/// timeout, shutdown in progress, not primary, node recovering, socket exception, time limit
/// exceeded.
const RETRYABLE_CODES: &[i32] = &[
    6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// Marker put inside a driver error when [`crate::MongoConfig`]'s operation timeout expires.
#[derive(Debug)]
pub(crate) struct OperationTimedOut;

/// Marker put inside a driver error when a document lock (see [`crate::lock`]) stays taken
/// for longer than the operation timeout.
#[derive(Debug)]
pub(crate) struct LockTimeout;

/// Marker put inside a driver error when a write done under a document lock finds, on
/// releasing it, that the lock was taken over meanwhile (its lease ran out): the write may or
/// may not have been applied (its fence refuses it once the new holder has written), as after
/// a timeout, and trying again is safe.
#[derive(Debug)]
pub(crate) struct LockLost;

/// Whether `e` is a duplicate key error (see `duplicate_message` for the shapes).
pub(crate) fn is_duplicate(e: &mongodb::error::Error) -> bool {
    duplicate_message(e).is_some()
}

/// FerretDB 1.x reports a unique index violated by an *update* not as 11000 but as an
/// `InternalError` (code 1) carrying its backend's message: SQLite's ...
const FERRETDB_UNIQUE: &str = "UNIQUE constraint failed";

/// ... or PostgreSQL's (`duplicate key value violates unique constraint "<index>_idx"
/// (SQLSTATE 23505)`).
const FERRETDB_PG_UNIQUE: &str = "(SQLSTATE 23505)";

/// Whether a write error's code and message say "duplicate key" (the shapes of
/// `duplicate_message`).
pub(crate) fn is_duplicate_code(code: i32, message: &str) -> bool {
    code == 11000
        || (code == 1
            && (message.contains(FERRETDB_UNIQUE) || message.contains(FERRETDB_PG_UNIQUE)))
}

fn duplicate_message(e: &mongodb::error::Error) -> Option<&str> {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if is_duplicate_code(w.code, &w.message) => {
            Some(&w.message)
        }
        ErrorKind::Command(c) if is_duplicate_code(c.code, &c.message) => Some(&c.message),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|ws| ws.iter().find(|w| is_duplicate_code(w.code, &w.message)))
            .map(|w| w.message.as_str()),
        _ => None,
    }
}

/// The field a duplicate key error is about, from the index name in the server's message
/// (our unique indexes are named `<field>_unique`, see [`crate::schema`]): MongoDB says
/// `... index: email_unique dup key: ...`, FerretDB on an update says
/// `... UNIQUE constraint failed: index 'users_5e7cc513_email_unique'` on SQLite and
/// `... unique constraint "users_5e7cc513_email_unique_fdc48a5f_idx" ...` on PostgreSQL. `None`
/// when the message names no index (FerretDB on an insert) or one we do not know.
pub(crate) fn conflict_field(e: &mongodb::error::Error) -> Option<&'static str> {
    index_field(duplicate_message(e)?)
}

/// The field of the unique index a duplicate key message names (see [`conflict_field`]).
fn index_field(msg: &str) -> Option<&'static str> {
    let index = if let Some(rest) = msg.split("index: ").nth(1) {
        rest.split_whitespace().next()?
    } else if let Some(rest) = msg.split("unique constraint \"").nth(1) {
        rest.split('"').next()?
    } else {
        msg.split("index '").nth(1)?.split('\'').next()?
    };
    crate::schema::UNIQUE_FIELDS
        .iter()
        .find(|(name, _)| {
            index == *name
                || index.ends_with(&format!("_{name}"))
                || index.contains(&format!("_{name}_"))
        })
        .map(|(_, field)| *field)
}

/// Whether a driver error is worth retrying (our own markers are handled by `map_other`
/// before this is asked).
fn is_unavailable(e: &mongodb::error::Error) -> bool {
    if e.contains_label("RetryableWriteError")
        || e.contains_label("TransientTransactionError")
        || e.contains_label("SystemOverloadedError")
    {
        return true;
    }
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(c) => RETRYABLE_CODES.contains(&c.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => RETRYABLE_CODES.contains(&w.code),
        _ => false,
    }
}

/// Maps a driver error from a call on entities of `kind`.
pub(crate) fn map(kind: EntityKind, e: mongodb::error::Error) -> Error {
    if is_duplicate(&e) {
        let field = conflict_field(&e).unwrap_or("id");
        return Error::conflict(kind, field, "value already taken");
    }
    map_other(e)
}

/// What a marker of ours inside a driver error means, in words (the driver's own `Display` of
/// a custom error says only "Custom user error").
fn marker_message(e: &mongodb::error::Error) -> Option<&'static str> {
    if e.get_custom::<OperationTimedOut>().is_some() {
        Some("the operation did not finish within the operation timeout")
    } else if e.get_custom::<LockTimeout>().is_some() {
        Some("a document lock stayed taken by other writers for longer than the operation timeout")
    } else if e.get_custom::<LockLost>().is_some() {
        Some("a document lock was taken over while it was held (its lease ran out); the write was fenced and may not have been applied")
    } else {
        None
    }
}

/// Maps a driver error that is not about an entity (connect, ping, migrations).
pub(crate) fn map_other(e: mongodb::error::Error) -> Error {
    if let Some(message) = marker_message(&e) {
        tracing::warn!(error = message, "mongodb unavailable");
        return Error::unavailable(STORE, message);
    }
    if is_unavailable(&e) {
        tracing::warn!(error = %e, "mongodb unavailable");
        Error::unavailable(STORE, e)
    } else {
        tracing::error!(error = %e, "mongodb error");
        Error::backend(STORE, e)
    }
}

/// A stored document that does not have the shape this crate writes.
pub(crate) fn bad_document(kind: EntityKind, id: &str, why: impl std::fmt::Display) -> Error {
    Error::backend(STORE, format!("malformed {kind} document {id}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_custom_markers_are_unavailable() {
        let e = mongodb::error::Error::custom(OperationTimedOut);
        assert!(map_other(e).is_retryable());
        for (e, says) in [
            (
                mongodb::error::Error::custom(LockTimeout),
                "document lock stayed taken",
            ),
            (mongodb::error::Error::custom(LockLost), "taken over"),
            (
                mongodb::error::Error::custom(OperationTimedOut),
                "operation timeout",
            ),
        ] {
            let mapped = map(EntityKind::Product, e);
            assert!(mapped.is_retryable(), "{mapped}");
            assert!(mapped.to_string().contains(says), "{mapped}");
        }
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let e = mongodb::error::Error::from(ErrorKind::Io(std::sync::Arc::new(io)));
        assert!(map_other(e).is_retryable());
        let e = mongodb::error::Error::custom("some other failure");
        let mapped = map(EntityKind::User, e);
        assert!(matches!(mapped, Error::Backend { .. }), "{mapped}");
    }

    /// The duplicate key shapes of MongoDB and of FerretDB on SQLite and on PostgreSQL (the
    /// messages as those servers send them).
    #[test]
    fn duplicate_keys_of_every_server_name_their_field() {
        let mongo = "E11000 duplicate key error collection: shop.users index: email_unique dup key: { email: \"a@b.c\" }";
        let sqlite = "[update.go:114 common.UpdateDocument] UNIQUE constraint failed: index 'users_5e7cc513_email_unique'";
        let pg = "[collection.go:218 postgresql.(*collection).UpdateAll.func1] ERROR: duplicate key value violates unique constraint \"users_5e7cc513_email_unique_fdc48a5f_idx\" (SQLSTATE 23505)";
        assert!(is_duplicate_code(11000, mongo));
        assert!(is_duplicate_code(1, sqlite));
        assert!(is_duplicate_code(1, pg));
        assert!(!is_duplicate_code(1, "some other internal error"));
        for msg in [mongo, sqlite, pg] {
            assert_eq!(index_field(msg), Some("email"), "{msg}");
        }
    }
}
