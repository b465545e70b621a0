//! What the store answers when it cannot do what was asked, and the expected
//! refusals it returns as values. Neither names a backend's own error type.

use super::codec::CodecError;

/// Why the store could not do what was asked. Every variant is a server-side
/// fault; expected outcomes (a taken name, a missing record) are values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store: the embedded backend allows one
    /// process per data dir.
    #[error("the store is held by another process")]
    Locked,
    /// Reading or writing the backing files failed (a full disk, say).
    #[error("storage I/O: {0}")]
    Io(#[source] std::io::Error),
    /// The storage engine refused or failed in a way of its own: corruption
    /// it detected, or a bug it reports.
    #[error("storage engine: {0}")]
    Engine(String),
    /// A stored value did not decode.
    #[error("stored record: {0}")]
    Codec(#[from] CodecError),
    /// Making a write durable failed (flush or fsync).
    #[error("making writes durable: {0}")]
    Durability(#[source] std::io::Error),
    /// Spooling a backup to a temporary file failed.
    #[error("spooling a backup: {0}")]
    Spool(#[source] std::io::Error),
    /// An index holds a value of the wrong shape.
    #[error("corrupt index: {0}")]
    Corrupt(&'static str),
    /// A combined write's batch ended without answering this request.
    #[error("a combined write was abandoned")]
    Abandoned,
    /// The blocking task running a store operation failed (panicked or was
    /// cancelled at shutdown).
    #[error("a store task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when the fault is a full disk or quota: the caller may retry once
    /// space is freed, so it deserves a 503 rather than a 500.
    pub fn is_out_of_space(&self) -> bool {
        let io = match self {
            Self::Io(e) | Self::Durability(e) | Self::Spool(e) => e,
            _ => return false,
        };
        // ENOSPC and EDQUOT: std has no stable ErrorKind for quota yet.
        matches!(io.raw_os_error(), Some(28 | 122)) || io.kind() == std::io::ErrorKind::StorageFull
    }
}

/// An expected reason a write was refused; returned as a value, never as a
/// `StoreError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Another account holds the lowercased username, or one that looks
    /// like it (the same skeleton).
    UsernameTaken,
    /// Another account holds the lowercased email.
    EmailTaken,
    /// The user (or single-use code) the write is about no longer exists.
    Gone,
    /// The write would leave no enabled admin.
    LastAdmin,
    /// The record changed since the caller read it; re-read and retry.
    Stale,
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
