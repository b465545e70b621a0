//! The seam's operations on sled: reads run in place (a sled read is a
//! lookup in its page cache, cheaper than a hop to another thread), writes
//! run on the blocking pool and return once group commit has made them
//! durable.
//!
//! Why writes leave the executor: a sled write can wait on its log buffers
//! while the flusher writes them, and token writes queue on one lock; on the
//! executor, a waiting write would stall every request sharing its worker
//! thread, including the ones whose flush has landed.

use super::{CheckReport, SeedReport, SeedUser, Snapshot, Trees};
use crate::model::{
    CodeRecord, SecretDigest, SigningKey, TokenId, TokenRecord, UnixTime, User, UserId, Username,
};
use crate::store::{Conflict, Rotation, StoreError, StoreResult, StoreStats, UserUpdate};
use std::sync::Arc;

/// The embedded backend, as the seam sees it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SledStore {
    trees: Trees,
}

impl SledStore {
    pub(in crate::store) fn new(trees: Trees) -> Self {
        Self { trees }
    }

    /// Runs `f` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Trees) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let trees = self.trees.clone();
        tokio::task::spawn_blocking(move || f(&trees))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs the write `f` on the blocking pool, then waits until it is
    /// durable.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Trees) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let out = self.blocking(f).await?;
        self.trees.durable().await?;
        Ok(out)
    }

    /// As `write`, for writes that may be refused: a refusal wrote nothing,
    /// so it does not wait for a flush.
    async fn write_unless_refused<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Trees) -> StoreResult<Result<T, Conflict>> + Send + 'static,
    ) -> StoreResult<Result<T, Conflict>> {
        let out = self.blocking(f).await?;
        if out.is_ok() {
            self.trees.durable().await?;
        }
        Ok(out)
    }

    pub async fn durable(&self) -> StoreResult<()> {
        self.trees.durable().await
    }

    pub async fn flush(&self) -> StoreResult<()> {
        self.blocking(Trees::flush_blocking).await
    }

    pub async fn insert_user(&self, user: User) -> StoreResult<Result<User, Conflict>> {
        self.write_unless_refused(move |t| t.insert_user(user))
            .await
    }

    pub async fn user(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        self.trees.user(id)
    }

    pub async fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        self.trees.user_by_login(key)
    }

    pub async fn username_taken(&self, name: &Username) -> StoreResult<bool> {
        self.trees.username_taken(name)
    }

    pub async fn user_count(&self) -> StoreResult<u64> {
        self.trees.user_count()
    }

    pub async fn admin_count(&self) -> StoreResult<u64> {
        self.trees.admin_count()
    }

    pub async fn users_page(&self, offset: u64, limit: usize) -> StoreResult<Vec<User>> {
        self.trees.users_page(offset, limit)
    }

    pub async fn update_user(&self, update: &UserUpdate) -> StoreResult<Result<(), Conflict>> {
        let update = update.clone();
        self.write_unless_refused(move |t| t.update_user(&update))
            .await
    }

    pub async fn delete_user(&self, id: UserId) -> StoreResult<Result<(), Conflict>> {
        self.write_unless_refused(move |t| t.delete_user(id)).await
    }

    pub async fn replace_password_hash(
        &self,
        id: UserId,
        old: &str,
        new: &str,
    ) -> StoreResult<Option<User>> {
        let (old, new) = (old.to_owned(), new.to_owned());
        let out = self
            .blocking(move |t| t.replace_password_hash(id, &old, &new))
            .await?;
        if out.is_some() {
            self.trees.durable().await?;
        }
        Ok(out)
    }

    pub async fn insert_token(
        &self,
        digest: &SecretDigest,
        record: TokenRecord,
    ) -> StoreResult<Result<TokenRecord, Conflict>> {
        let digest = *digest;
        self.write_unless_refused(move |t| t.insert_token(&digest, record))
            .await
    }

    pub async fn token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        self.trees.token(digest)
    }

    pub async fn tokens_of(&self, user: UserId) -> StoreResult<Vec<(SecretDigest, TokenRecord)>> {
        self.trees.tokens_of(user)
    }

    pub async fn revoke_token_of(&self, user: UserId, token: TokenId) -> StoreResult<bool> {
        // Batched with concurrent revocations, and durable on return.
        self.trees.revoke_token_of(user, token).await
    }

    pub async fn revoke_all_tokens(
        &self,
        user: UserId,
        keep: Option<TokenId>,
    ) -> StoreResult<usize> {
        self.write(move |t| t.revoke_all_tokens(user, keep)).await
    }

    pub async fn rotate_refresh(
        &self,
        old: &SecretDigest,
        new: &SecretDigest,
        new_expires_at: UnixTime,
    ) -> StoreResult<Rotation> {
        let (old, new) = (*old, *new);
        // Durable whatever the outcome: a reuse revokes the session.
        self.write(move |t| t.rotate_refresh(&old, &new, new_expires_at))
            .await
    }

    pub async fn is_session_revoked(&self, session: TokenId) -> StoreResult<bool> {
        Ok(self.trees.is_session_revoked(session))
    }

    pub async fn insert_code(
        &self,
        digest: &SecretDigest,
        record: &CodeRecord,
        keep: usize,
    ) -> StoreResult<Result<(), Conflict>> {
        let (digest, record) = (*digest, record.clone());
        self.write_unless_refused(move |t| t.insert_code(&digest, &record, keep))
            .await
    }

    pub async fn code(&self, digest: &SecretDigest) -> StoreResult<Option<CodeRecord>> {
        self.trees.code(digest)
    }

    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        self.trees.signing_keys()
    }

    pub async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |t| t.add_signing_key(&key)).await
    }

    // Sweeps reclaim space only: what a crash undoes, the next sweep redoes,
    // so they do not wait for a flush.

    pub async fn sweep_expired_tokens(&self, now: UnixTime) -> StoreResult<usize> {
        self.blocking(move |t| t.sweep_expired(now)).await
    }

    pub async fn sweep_expired_codes(&self, now: UnixTime) -> StoreResult<usize> {
        self.blocking(move |t| t.sweep_expired_codes(now)).await
    }

    pub async fn sweep_sessions(&self, now: UnixTime, horizon: i64) -> StoreResult<usize> {
        self.blocking(move |t| t.sweep_sessions(now, horizon)).await
    }

    pub async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.blocking(Trees::snapshot).await
    }

    pub async fn stats(&self) -> StoreResult<StoreStats> {
        self.blocking(Trees::stats).await
    }

    pub async fn check(&self) -> StoreResult<CheckReport> {
        self.blocking(Trees::check).await
    }

    pub async fn seed_bulk<I>(&self, users: I, batch_size: usize) -> StoreResult<SeedReport>
    where
        I: IntoIterator<Item = SeedUser> + Send + 'static,
    {
        self.blocking(move |t| t.seed_bulk(users, batch_size)).await
    }
}
