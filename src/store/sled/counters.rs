//! The `counters` tree: counter name (UTF-8) → u64 BE, kept in the same
//! transactions as the records they count, so `total_items` and the
//! last-admin guard need no full scan.

use super::{Abort, StoreResult, Trees, keys};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

/// The number of users.
pub(super) const USER_COUNT: &[u8] = b"users";
/// The number of enabled admins.
pub(super) const ADMIN_COUNT: &[u8] = b"active_admins";
/// The last user id handed out.
pub(super) const LAST_USER_ID: &[u8] = b"last_user_id";
/// The last token id handed out.
pub(super) const LAST_TOKEN_ID: &[u8] = b"last_token_id";

/// Adds `delta` to a counter inside a transaction; returns the new value.
pub(super) fn bump(
    counters: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> Result<u64, ConflictableTransactionError<Abort>> {
    let count = match counters.get(key)? {
        Some(v) => keys::read_u64(&v, "counter")?,
        None => 0,
    };
    let count = count.saturating_add_signed(delta);
    counters.insert(key, &keys::counter(count))?;
    Ok(count)
}

impl Trees {
    /// One value of the `counters` tree; 0 before its first write.
    pub(super) fn counter(&self, key: &[u8]) -> StoreResult<u64> {
        match self.inner.counters.get(key)? {
            Some(v) => keys::read_u64(&v, "counter"),
            None => Ok(0),
        }
    }
}
