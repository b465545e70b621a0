//! Bulk seeding for benchmarks and migrations: many users and tokens written
//! in large sled batches instead of one transaction each.

use super::counters::{ADMIN_COUNT, LAST_TOKEN_ID, LAST_USER_ID, USER_COUNT};
use super::{StoreError, StoreResult, Trees, codec, keys};
use crate::model::{SecretDigest, TokenId, TokenRecord, User, UserId};
use sled::{Batch, Tree};
use std::collections::{BTreeMap, HashSet};

/// One user to seed, with the digests and expiry times of its access tokens.
#[derive(Debug, Clone)]
pub struct SeedUser {
    /// The record; its `id` is ignored (ids are assigned, as on insert).
    pub user: User,
    /// `(digest, expires_at)` of each access token to give the user.
    pub tokens: Vec<(SecretDigest, crate::model::UnixTime)>,
}

/// What [`Trees::seed_bulk`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Users written.
    pub users: u64,
    /// Tokens written.
    pub tokens: u64,
}

/// The pending writes of one batch, one `Batch` per tree.
#[derive(Default)]
struct Pending {
    users: Batch,
    by_name: Batch,
    by_email: Batch,
    /// Skeleton → ids of this batch, appended to the stored ids on apply
    /// (look-alike seeds are kept, as at a rebuild; `check` lists them).
    by_skeleton: BTreeMap<String, Vec<u8>>,
    by_digest: Batch,
    by_user: Batch,
    by_expiry: Batch,
    /// Name keys taken in this batch: not yet visible in the tree.
    names: HashSet<String>,
    /// Email keys taken in this batch.
    emails: HashSet<String>,
    len: usize,
}

impl Trees {
    /// Writes `users` and their tokens with every index and counter, in
    /// batches of about `batch_size` users (sled `apply_batch` per tree):
    /// orders of magnitude faster than one transaction per record. Meant for
    /// an offline store (a benchmark, a migration): batches are not atomic
    /// across trees, so a crash part-way can leave index entries that
    /// `latchkey check` reports; records are written before the indexes
    /// that point at them and counters last. A name or email already taken
    /// (in the store or earlier in `users`) is a `StoreError::Corrupt` and
    /// stops the seed. Call [`Trees::flush_blocking`] afterwards.
    pub fn seed_bulk(
        &self,
        users: impl IntoIterator<Item = SeedUser>,
        batch_size: usize,
    ) -> StoreResult<SeedReport> {
        let i = &*self.inner;
        let mut last_user = self.counter(LAST_USER_ID)?;
        let mut last_token = self.counter(LAST_TOKEN_ID)?;
        let mut user_count = self.counter(USER_COUNT)?;
        let mut admin_count = self.counter(ADMIN_COUNT)?;
        let mut report = SeedReport::default();
        let mut pending = Pending::default();
        // The index stays current only if it was current to begin with.
        let skeletons_current = self.skeletons_current()?;
        for seed in users {
            let name = seed.user.username.key();
            let email = seed.user.email.as_ref().map(|e| e.key());
            claim(&i.user_id_by_name, &mut pending.names, &name)?;
            if let Some(email) = &email {
                claim(&i.user_id_by_email, &mut pending.emails, email)?;
            }
            last_user += 1;
            let user = User {
                id: UserId(last_user),
                ..seed.user
            };
            let id = keys::user(user.id);
            pending.users.insert(&id, codec::encode(&user)?);
            pending.by_name.insert(name.as_bytes(), &id);
            pending
                .by_skeleton
                .entry(user.username.skeleton())
                .or_default()
                .extend_from_slice(&id);
            if let Some(email) = &email {
                pending.by_email.insert(email.as_bytes(), &id);
            }
            user_count += 1;
            admin_count += u64::from(user.is_active_admin());
            for (digest, expires_at) in seed.tokens {
                last_token += 1;
                let record = TokenRecord {
                    id: TokenId(last_token),
                    kind: crate::model::TokenKind::Access,
                    user_id: user.id,
                    created_at: user.created_at,
                    expires_at,
                };
                pending
                    .by_digest
                    .insert(digest.0.as_slice(), codec::encode(&record)?);
                pending.by_user.insert(
                    keys::user_token(user.id, record.id).as_slice(),
                    digest.0.as_slice(),
                );
                pending
                    .by_expiry
                    .insert(keys::expiry(expires_at, &digest).as_slice(), &[]);
                report.tokens += 1;
            }
            report.users += 1;
            pending.len += 1;
            if pending.len >= batch_size {
                self.apply(std::mem::take(&mut pending))?;
                self.write_counters(last_user, last_token, user_count, admin_count)?;
                self.seeded_skeletons(skeletons_current, last_user)?;
            }
        }
        self.apply(pending)?;
        self.write_counters(last_user, last_token, user_count, admin_count)?;
        self.seeded_skeletons(skeletons_current, last_user)?;
        Ok(report)
    }

    /// Records first, then the indexes that point at them.
    fn apply(&self, pending: Pending) -> StoreResult<()> {
        let i = &*self.inner;
        i.users.apply_batch(pending.users)?;
        i.token_by_digest.apply_batch(pending.by_digest)?;
        i.user_id_by_name.apply_batch(pending.by_name)?;
        i.user_id_by_email.apply_batch(pending.by_email)?;
        let mut by_skeleton = Batch::default();
        for (skeleton, ids) in pending.by_skeleton {
            let mut value = i
                .user_id_by_skeleton
                .get(skeleton.as_bytes())?
                .map(|v| v.to_vec())
                .unwrap_or_default();
            value.extend_from_slice(&ids);
            by_skeleton.insert(skeleton.as_bytes(), value);
        }
        i.user_id_by_skeleton.apply_batch(by_skeleton)?;
        i.tokens_by_user.apply_batch(pending.by_user)?;
        i.token_digest_by_expiry.apply_batch(pending.by_expiry)?;
        // Seeding makes new users only, but a batch is not a transaction:
        // forget everything rather than reason about what a reader saw.
        i.user_cache.forget_all();
        Ok(())
    }

    /// Moves the skeleton index's marker past the seeded ids, if it was
    /// current before the seed.
    fn seeded_skeletons(&self, current: bool, last_user: u64) -> StoreResult<()> {
        if current {
            self.inner.counters.insert(
                super::skeletons::SKELETONS_THROUGH,
                &last_user.to_be_bytes(),
            )?;
        }
        Ok(())
    }

    fn write_counters(
        &self,
        last_user: u64,
        last_token: u64,
        users: u64,
        admins: u64,
    ) -> StoreResult<()> {
        let mut batch = Batch::default();
        for (key, value) in [
            (LAST_USER_ID, last_user),
            (LAST_TOKEN_ID, last_token),
            (USER_COUNT, users),
            (ADMIN_COUNT, admins),
        ] {
            batch.insert(key, &value.to_be_bytes());
        }
        Ok(self.inner.counters.apply_batch(batch)?)
    }
}

/// Refuses a key already in `index` or taken earlier in this batch.
fn claim(index: &Tree, taken: &mut HashSet<String>, key: &str) -> StoreResult<()> {
    if index.contains_key(key.as_bytes())? || !taken.insert(key.to_owned()) {
        return Err(StoreError::Corrupt("seed: a name or email is taken twice"));
    }
    Ok(())
}
