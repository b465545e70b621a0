//! The storage seam: everything `auth` may ask of the store, as async
//! operations whose writes return only once the data is durable, and a
//! backend-neutral [`StoreError`].
//!
//! A backend sits in a module of its own beside this one (`sled`, the
//! embedded default) and answers every operation below under the same name.
//! [`Store`] is an enum of the backends, not a trait object: a call is one
//! `match` and the backend's own future, with no boxing on the token check.
//! A new backend adds a variant, one arm in `dispatch!`, and one line in the
//! conformance suite that every backend passes (`conformance`).

mod error;
mod settings;
mod sled;

#[cfg(test)]
mod conformance;

pub use self::sled::codec;
pub use self::sled::{BackupError, CheckReport, Restored, SeedReport, SeedUser, Snapshot};
pub use error::{Conflict, StoreError, StoreResult};
pub use settings::Settings;

use crate::model::{
    CodeRecord, SecretDigest, SigningKey, SpentRefresh, TokenId, TokenRecord, UnixTime, User,
    UserId, Username,
};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The store, on whichever backend was configured. Cheap to clone; clones
/// share one backend.
#[derive(Clone, Debug)]
pub enum Store {
    /// sled in the data dir: one process, no setup.
    Sled(self::sled::SledStore),
}

/// Calls the same operation on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sled($backend) => $call,
        }
    };
}

/// What [`Store::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes on disk.
    pub size_on_disk: u64,
    /// Registered users, from the counter kept beside them.
    pub users: u64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was live: here is its successor's record (same session id).
    Rotated(TokenRecord),
    /// It was already spent: its session is now revoked.
    Reused(SpentRefresh),
    /// Unknown, expired, or not a refresh token.
    Refused,
}

/// A change to an existing user, applied in one transaction.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    /// The record the change was computed from. If the stored record is no
    /// longer this one, nothing is written (`Conflict::Stale`): writing
    /// `user` would silently undo whatever changed it.
    pub expected: User,
    /// The record as it should be stored.
    pub user: User,
    /// Revoke every token (and session) of the user except the one with
    /// this id (a password change, a disable). `None` leaves tokens alone.
    pub revoke_tokens_except: Option<Option<TokenId>>,
    /// Spend this single-use code, and every other code of its kind the
    /// user holds, in the same transaction; if it is already spent the
    /// update fails with `Conflict::Gone`, so a code works once.
    pub consume_code: Option<SecretDigest>,
}

impl Store {
    /// Opens (creating if needed) the embedded store in `dir`. Fails with
    /// [`StoreError::Locked`] if another process holds it.
    pub fn open(dir: &Path, options: &Settings) -> StoreResult<Self> {
        self::sled::Trees::open(dir, options).map(|t| Self::Sled(self::sled::SledStore::new(t)))
    }

    /// Restores a backup into `target`, an empty or missing data dir for
    /// the embedded store, and checks it; on any failure nothing is left.
    pub fn restore(
        source: impl Read,
        target: &Path,
        options: &Settings,
    ) -> Result<Restored, BackupError> {
        self::sled::Trees::restore(source, target, options)
    }

    /// Waits until every write made before this call is durable. The
    /// operations below already do; this is for a caller that must spend
    /// the time a write would have (so that a refusal does not answer
    /// faster than a success).
    pub async fn durable(&self) -> StoreResult<()> {
        dispatch!(self, s => s.durable().await)
    }

    /// Makes everything durable before the process exits.
    pub async fn flush(&self) -> StoreResult<()> {
        dispatch!(self, s => s.flush().await)
    }

    // Users.

    /// Adds a user under the next id; `UsernameTaken` or `EmailTaken` if
    /// another account holds its name (or a look-alike) or email.
    pub async fn insert_user(&self, user: User) -> StoreResult<Result<User, Conflict>> {
        dispatch!(self, s => s.insert_user(user).await)
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        dispatch!(self, s => s.user(id).await)
    }

    /// The user a login identifier names (`key` is its
    /// [`crate::model::login_key`]): with an `@` it is an email, without one
    /// a username. Names stored by earlier releases can hold an `@`; an
    /// identifier with one falls back to them when no account has it as its
    /// email.
    pub async fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        dispatch!(self, s => s.user_by_login(key).await)
    }

    /// Whether `name`, or a name that looks like it, is taken.
    pub async fn username_taken(&self, name: &Username) -> StoreResult<bool> {
        dispatch!(self, s => s.username_taken(name).await)
    }

    /// How many users there are.
    pub async fn user_count(&self) -> StoreResult<u64> {
        dispatch!(self, s => s.user_count().await)
    }

    /// How many enabled admins there are.
    pub async fn admin_count(&self) -> StoreResult<u64> {
        dispatch!(self, s => s.admin_count().await)
    }

    /// Users in id order, skipping `offset`, at most `limit`.
    pub async fn users_page(&self, offset: u64, limit: usize) -> StoreResult<Vec<User>> {
        dispatch!(self, s => s.users_page(offset, limit).await)
    }

    /// Applies `update` in one transaction: `Stale` if the stored record is
    /// not `update.expected`, `UsernameTaken`/`EmailTaken` for a taken
    /// email, `LastAdmin` if it would leave no enabled admin, `Gone` if the
    /// user or the code to spend is gone.
    pub async fn update_user(&self, update: &UserUpdate) -> StoreResult<Result<(), Conflict>> {
        dispatch!(self, s => s.update_user(update).await)
    }

    /// Deletes a user with its tokens, sessions and codes; `LastAdmin` or
    /// `Gone` refuse it.
    pub async fn delete_user(&self, id: UserId) -> StoreResult<Result<(), Conflict>> {
        dispatch!(self, s => s.delete_user(id).await)
    }

    /// Replaces the password hash `old` with `new` (a rehash at current
    /// parameters); `None` if the hash is no longer `old`.
    pub async fn replace_password_hash(
        &self,
        id: UserId,
        old: &str,
        new: &str,
    ) -> StoreResult<Option<User>> {
        dispatch!(self, s => s.replace_password_hash(id, old, new).await)
    }

    // Tokens and sessions.

    /// Stores a token under its digest with the next token id; `Gone` if
    /// its user no longer exists.
    pub async fn insert_token(
        &self,
        digest: &SecretDigest,
        record: TokenRecord,
    ) -> StoreResult<Result<TokenRecord, Conflict>> {
        dispatch!(self, s => s.insert_token(digest, record).await)
    }

    /// The token stored under `digest`, expired or not.
    pub async fn token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        dispatch!(self, s => s.token(digest).await)
    }

    /// Every stored token of a user, with its digest, in id order.
    pub async fn tokens_of(&self, user: UserId) -> StoreResult<Vec<(SecretDigest, TokenRecord)>> {
        dispatch!(self, s => s.tokens_of(user).await)
    }

    /// Revokes one of a user's tokens (and its session); false if the user
    /// has no such token.
    pub async fn revoke_token_of(&self, user: UserId, token: TokenId) -> StoreResult<bool> {
        dispatch!(self, s => s.revoke_token_of(user, token).await)
    }

    /// Revokes every token (and session) of a user but `keep`; returns how
    /// many.
    pub async fn revoke_all_tokens(
        &self,
        user: UserId,
        keep: Option<TokenId>,
    ) -> StoreResult<usize> {
        dispatch!(self, s => s.revoke_all_tokens(user, keep).await)
    }

    /// Spends the refresh token `old` and stores its successor under `new`
    /// in the same session. Presenting a spent one revokes the session.
    pub async fn rotate_refresh(
        &self,
        old: &SecretDigest,
        new: &SecretDigest,
        new_expires_at: UnixTime,
    ) -> StoreResult<Rotation> {
        dispatch!(self, s => s.rotate_refresh(old, new, new_expires_at).await)
    }

    /// Whether a session was revoked (its signed tokens must be refused).
    pub async fn is_session_revoked(&self, session: TokenId) -> StoreResult<bool> {
        dispatch!(self, s => s.is_session_revoked(session).await)
    }

    // Single-use codes.

    /// Stores a code, keeping at most `keep` live codes of its kind for
    /// its user (the oldest go); `Gone` if the user no longer exists.
    pub async fn insert_code(
        &self,
        digest: &SecretDigest,
        record: &CodeRecord,
        keep: usize,
    ) -> StoreResult<Result<(), Conflict>> {
        dispatch!(self, s => s.insert_code(digest, record, keep).await)
    }

    /// The code stored under `digest`, expired or not. Spending one is part
    /// of the update it allows ([`UserUpdate::consume_code`]).
    pub async fn code(&self, digest: &SecretDigest) -> StoreResult<Option<CodeRecord>> {
        dispatch!(self, s => s.code(digest).await)
    }

    // Signing keys.

    /// Every stored signing key, in no particular order.
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        dispatch!(self, s => s.signing_keys().await)
    }

    /// Adds a signing key.
    pub async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        dispatch!(self, s => s.add_signing_key(key).await)
    }

    // Maintenance.

    /// Deletes tokens expired at `now`; returns how many.
    pub async fn sweep_expired_tokens(&self, now: UnixTime) -> StoreResult<usize> {
        dispatch!(self, s => s.sweep_expired_tokens(now).await)
    }

    /// Deletes codes expired at `now`; returns how many.
    pub async fn sweep_expired_codes(&self, now: UnixTime) -> StoreResult<usize> {
        dispatch!(self, s => s.sweep_expired_codes(now).await)
    }

    /// Drops spent refresh tokens past their expiry, and revoked-session
    /// entries older than `horizon` seconds (by then every access token of
    /// the session has expired); returns how many.
    pub async fn sweep_sessions(&self, now: UnixTime, horizon: i64) -> StoreResult<usize> {
        dispatch!(self, s => s.sweep_sessions(now, horizon).await)
    }

    /// A consistent copy of everything, ready to read out.
    pub async fn snapshot(&self) -> StoreResult<Snapshot> {
        dispatch!(self, s => s.snapshot().await)
    }

    /// The store's size and user count.
    pub async fn stats(&self) -> StoreResult<StoreStats> {
        dispatch!(self, s => s.stats().await)
    }

    /// An integrity walk. Meant for a quiescent store.
    pub async fn check(&self) -> StoreResult<CheckReport> {
        dispatch!(self, s => s.check().await)
    }

    /// Writes many users and tokens fast, for an offline store (a benchmark,
    /// a migration); see the backend for what a crash part-way leaves.
    pub async fn seed_bulk<I>(&self, users: I, batch_size: usize) -> StoreResult<SeedReport>
    where
        I: IntoIterator<Item = SeedUser> + Send + 'static,
    {
        dispatch!(self, s => s.seed_bulk(users, batch_size).await)
    }
}
