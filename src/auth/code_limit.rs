//! How often one account may be sent a code: at most one of each kind per
//! `accounts.code_min_interval_seconds`. In memory and bounded, like the
//! lockouts in `throttle`: a restart forgets it, which costs at most one
//! extra code per account.
//!
//! Without it, a hundred reset requests for one account took a second and
//! mailed a hundred codes, each one (then) making the one before it stale.
//! A request over the limit is answered exactly like one that sends a
//! code, so the limit says nothing about the account.

use crate::model::{CodeKind, UserId};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// An account and a kind of code.
type Key = (UserId, &'static str);

/// When each recently served account was last sent a code of each kind.
pub struct CodeLimit {
    interval: Duration,
    sent: Mutex<LruCache<Key, Instant>>,
}

impl std::fmt::Debug for CodeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeLimit")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// A code admitted and not yet issued. Call [`Admitted::issued`] once it
/// is stored; dropped before that (a store failure), it gives the slot
/// back, so a failure does not cost the owner a minute.
#[must_use]
pub struct Admitted<'a> {
    limit: &'a CodeLimit,
    key: Key,
    at: Option<Instant>,
}

impl Admitted<'_> {
    /// The code was stored: it counts against the interval.
    pub fn issued(mut self) {
        self.at = None;
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let Some(at) = self.at else { return };
        let mut sent = self.limit.sent();
        // Only our own mark: a later admission may have replaced it.
        if sent.peek(&self.key) == Some(&at) {
            sent.pop(&self.key);
        }
    }
}

impl CodeLimit {
    /// At most one code per account and kind per `interval`; accounts
    /// tracked at most `capacity`, the least recently served dropped first.
    pub fn new(interval: Duration, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            interval,
            sent: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn sent(&self) -> MutexGuard<'_, LruCache<Key, Instant>> {
        // Entries are plain instants; a panic mid-update leaves them usable.
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a code of `kind` for `user`, or `None` if one was admitted
    /// less than the interval ago. Check and mark are one step under the
    /// lock, so of many simultaneous requests exactly one is admitted.
    pub fn admit(&self, user: UserId, kind: CodeKind) -> Option<Admitted<'_>> {
        let key = (user, kind.as_str());
        if self.interval.is_zero() {
            return Some(Admitted {
                limit: self,
                key,
                at: None,
            });
        }
        let now = Instant::now();
        let mut sent = self.sent();
        if sent
            .get(&key)
            .is_some_and(|last| now.duration_since(*last) < self.interval)
        {
            return None;
        }
        sent.put(key, now);
        Some(Admitted {
            limit: self,
            key,
            at: Some(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: UserId = UserId(1);

    #[test]
    fn one_code_per_account_and_kind_per_interval() {
        let limit = CodeLimit::new(Duration::from_secs(60), 10);
        limit
            .admit(ALICE, CodeKind::PasswordReset)
            .unwrap()
            .issued();
        assert!(limit.admit(ALICE, CodeKind::PasswordReset).is_none());
        // Another kind, another account: their own allowance.
        assert!(limit.admit(ALICE, CodeKind::Confirmation).is_some());
        assert!(limit.admit(UserId(2), CodeKind::PasswordReset).is_some());
    }

    #[test]
    fn a_code_that_was_not_issued_gives_its_slot_back() {
        let limit = CodeLimit::new(Duration::from_secs(60), 10);
        drop(limit.admit(ALICE, CodeKind::PasswordReset).unwrap());
        assert!(limit.admit(ALICE, CodeKind::PasswordReset).is_some());
    }

    #[test]
    fn a_zero_interval_admits_every_code() {
        let limit = CodeLimit::new(Duration::ZERO, 10);
        for _ in 0..3 {
            limit
                .admit(ALICE, CodeKind::PasswordReset)
                .unwrap()
                .issued();
        }
    }
}
