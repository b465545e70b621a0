//! Recently read user records, kept in memory so that a token check costs
//! one sled read (the token) instead of two (the token, then its user).
//!
//! Every write to the `users` tree is a `Trees` method, and each calls
//! [`UserCache::forget`] once its transaction is over and before it
//! returns, so before the write is acknowledged: a request that starts after
//! a disable, a role change or a delete was answered never sees the old
//! record.
//!
//! A read that misses must not put back a record that a write replaced
//! while the read was under way. Each forget bumps a count of writes under
//! the map's lock; a read notes the count before it reads the tree and
//! keeps what it read only if the count has not moved since. Either the
//! write's forget comes after the keep and removes it, or it came before and
//! the keep sees the moved count.

use crate::model::{User, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// How many records are kept. Past it the map starts over: clearing costs
/// nothing per read, unlike tracking recency, and a token-checked workload
/// refills it from the users it actually sees. About 300 bytes a record.
const CAPACITY: usize = 4096;

/// The records, and the count of writes that have forgotten one.
#[derive(Debug, Default)]
pub(super) struct UserCache {
    /// Shared, not copied: a token check takes a counter bump, where a
    /// copy would allocate the name and the password hash on every request.
    users: RwLock<HashMap<UserId, Arc<User>>>,
    writes: AtomicU64,
}

impl UserCache {
    /// The kept record of `id`, if any.
    pub(super) fn get(&self, id: UserId) -> Option<Arc<User>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(&id).cloned()
    }

    /// The count to hand to [`keep`](Self::keep): take it before reading
    /// the tree.
    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Keeps `user`, read from the tree after `writes` was taken, unless a
    /// write has forgotten a record since.
    pub(super) fn keep(&self, user: &Arc<User>, writes: u64) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if self.writes.load(Ordering::SeqCst) != writes {
            return;
        }
        if users.len() >= CAPACITY && !users.contains_key(&user.id) {
            users.clear();
        }
        users.insert(user.id, Arc::clone(user));
    }

    /// Drops `id`'s record: call after every write to it, committed or not.
    pub(super) fn forget(&self, id: UserId) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        self.writes.fetch_add(1, Ordering::SeqCst);
        users.remove(&id);
    }

    /// Drops every record: for writes that touch many users at once.
    pub(super) fn forget_all(&self) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        self.writes.fetch_add(1, Ordering::SeqCst);
        users.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Role, Username};

    fn user(id: u64, disabled: bool) -> Arc<User> {
        Arc::new(User {
            id: UserId(id),
            username: Username::parse(&format!("user{id}")).unwrap(),
            email: None,
            password_hash: "$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaA".into(),
            created_at: 0,
            role: Role::User,
            disabled,
            confirmed: true,
        })
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = UserCache::default();
        let before = cache.writes();
        // A disable lands between this read of the tree and its keep.
        cache.forget(UserId(1));
        cache.keep(&user(1, false), before);
        assert_eq!(cache.get(UserId(1)), None);
        cache.keep(&user(1, true), cache.writes());
        assert_eq!(cache.get(UserId(1)), Some(user(1, true)));
    }

    #[test]
    fn a_forget_drops_the_record_and_a_full_map_starts_over() {
        let cache = UserCache::default();
        for id in 0..CAPACITY as u64 {
            cache.keep(&user(id, false), cache.writes());
        }
        cache.forget(UserId(7));
        assert_eq!(cache.get(UserId(7)), None);
        assert!(cache.get(UserId(8)).is_some());
        cache.keep(&user(7, false), cache.writes());
        cache.keep(&user(u64::MAX, false), cache.writes());
        assert_eq!(cache.get(UserId(8)), None);
        assert!(cache.get(UserId(u64::MAX)).is_some());
        cache.forget_all();
        assert_eq!(cache.get(UserId(u64::MAX)), None);
    }
}
