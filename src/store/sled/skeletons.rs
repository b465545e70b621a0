//! `user_id_by_skeleton`: the confusable index that keeps look-alike names
//! (`paypal` and Cyrillic `раураl`, `ſam` and `sam`) from being registered
//! side by side. See [`crate::model::Username::skeleton`].
//!
//! Earlier releases kept no such index, so it is built when a store opens
//! without it: the `counters` key [`SKELETONS_THROUGH`] holds the last user
//! id the index covers, and every insert moves it with `last_user_id` in the
//! same transaction. When the two differ (a store written before this index
//! existed, or by such a release since), the index is rebuilt from `users`.
//! Two existing names that share a skeleton both keep working: a value holds
//! every id, and `latchkey check` lists the collision.

use super::counters::LAST_USER_ID;
use super::{StoreResult, Trees, codec, keys};
use crate::model::{User, UserId};
use sled::Batch;
use std::collections::BTreeMap;

/// The `counters` key holding the last user id `user_id_by_skeleton` covers.
pub(super) const SKELETONS_THROUGH: &[u8] = b"skeletons_through_user_id";

/// The ids in a `user_id_by_skeleton` value (u64 BE each, concatenated).
pub(super) fn ids(value: &[u8]) -> impl Iterator<Item = UserId> + '_ {
    value.chunks_exact(8).filter_map(keys::parse_user)
}

/// `value` without `id`; empty when `id` was its only one.
pub(super) fn without(value: &[u8], id: UserId) -> Vec<u8> {
    ids(value)
        .filter(|other| *other != id)
        .flat_map(keys::user)
        .collect()
}

impl Trees {
    /// Rebuilds `user_id_by_skeleton` unless it covers every user id handed
    /// out. Runs at open, before any request, so nothing writes meanwhile.
    /// A crash part-way leaves the marker behind, so the next open rebuilds.
    pub(super) fn index_skeletons(&self) -> StoreResult<()> {
        if self.skeletons_current()? {
            return Ok(());
        }
        let i = &*self.inner;
        let last = self.counter(LAST_USER_ID)?;
        let mut by_skeleton: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut skipped = 0u64;
        for value in i.users.iter().values() {
            // A record that does not decode is `latchkey check`'s to report;
            // it must not keep the store from opening.
            match codec::decode::<User>(&value?) {
                Ok(user) => by_skeleton
                    .entry(user.username.skeleton())
                    .or_default()
                    .extend_from_slice(&keys::user(user.id)),
                Err(_) => skipped += 1,
            }
        }
        let _gate = self.writing();
        i.user_id_by_skeleton.clear()?;
        let mut batch = Batch::default();
        let collisions = by_skeleton.values().filter(|ids| ids.len() > 8).count();
        for (skeleton, ids) in &by_skeleton {
            batch.insert(skeleton.as_bytes(), ids.as_slice());
        }
        i.user_id_by_skeleton.apply_batch(batch)?;
        // sled writes in order: once the marker is on disk, so is the index.
        i.counters.insert(SKELETONS_THROUGH, &last.to_be_bytes())?;
        tracing::info!(
            names = by_skeleton.len(),
            collisions,
            skipped,
            "built the confusable-name index (user_id_by_skeleton)"
        );
        Ok(())
    }

    /// Whether `user_id_by_skeleton` covers every user id handed out.
    pub(super) fn skeletons_current(&self) -> StoreResult<bool> {
        let through = self.inner.counters.get(SKELETONS_THROUGH)?;
        let last = self.counter(LAST_USER_ID)?;
        Ok(through.as_deref() == Some(&last.to_be_bytes()[..]))
    }
}
