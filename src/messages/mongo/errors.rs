//! Which MongoDB failures mean "unavailable, retry later" (503) and which are ours (500).

use mongodb::error::{Error, ErrorKind, WriteFailure};

use crate::messages::StoreError;

/// The duplicate-key error. Match the number: SecantusDB (and some proxies) send no `codeName`.
pub(super) const DUPLICATE_KEY: i32 = 11000;

/// Server error codes of a node or network in trouble rather than of a bad request: host
/// unreachable / not found, time limits, write concern failed, network timeout, shutdown, write
/// conflict, read preference unsatisfiable, majority read not available yet, primary stepped
/// down, socket error, not primary / recovering.
const TRANSIENT_CODES: [i32; 18] =
    [6, 7, 50, 64, 89, 91, 112, 133, 134, 189, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436];

pub(super) fn is_transient_code(code: i32) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// A write the server refused in a reply we parse ourselves (the `update` command).
#[derive(Debug, thiserror::Error)]
#[error("{collection}: write refused with code {code}: {message}")]
pub(super) struct WriteRefused {
    pub collection: &'static str,
    pub code: i32,
    pub message: String,
}

impl From<WriteRefused> for StoreError {
    fn from(refused: WriteRefused) -> Self {
        if is_transient_code(refused.code) {
            StoreError::Unavailable(Box::new(refused))
        } else {
            StoreError::Internal(Box::new(refused))
        }
    }
}

/// The server could not satisfy the write concern: the write may not be durable yet.
#[derive(Debug, thiserror::Error)]
#[error("{collection}: write concern not satisfied: {message}")]
pub(super) struct WriteConcernFailed {
    pub collection: &'static str,
    pub message: String,
}

impl From<WriteConcernFailed> for StoreError {
    fn from(failed: WriteConcernFailed) -> Self {
        StoreError::Unavailable(Box::new(failed))
    }
}

pub(super) fn mongo_error(error: Error) -> StoreError {
    if is_unavailable(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Internal(Box::new(error))
    }
}

fn is_unavailable(error: &Error) -> bool {
    const LABELS: [&str; 3] = ["RetryableWriteError", "RetryableError", "TransientTransactionError"];
    if LABELS.iter().any(|label| error.contains_label(label)) {
        return true;
    }
    match &*error.kind {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(command) => is_transient_code(command.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => true,
        ErrorKind::Write(WriteFailure::WriteError(write)) => is_transient_code(write.code),
        ErrorKind::InsertMany(insert) => {
            insert.write_concern_error.is_some()
                || insert.write_errors.iter().flatten().any(|e| is_transient_code(e.code))
        }
        _ => false,
    }
}
