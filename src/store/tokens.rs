//! Token records, keyed by digest, and the per-user and expiry indexes.

use super::users::bump;
use super::{
    Abort, Conflict, LAST_TOKEN_ID, Store, StoreError, StoreResult, codec, flatten, time_key,
};
use crate::model::{
    SecretDigest, SpentRefresh, TokenId, TokenKind, TokenRecord, UnixTime, UserId, unix_now,
};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree, abort};
use std::collections::HashSet;

/// A `tokens_by_user` key: user id (u64 BE) ++ token id (u64 BE).
pub(super) type UserTokenKey = [u8; 16];

pub(super) fn user_token_key(user: UserId, token: TokenId) -> UserTokenKey {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&user.to_key());
    key[8..].copy_from_slice(&token.0.to_be_bytes());
    key
}

/// A `token_digest_by_expiry` key: expires_at (u64 BE) ++ digest.
pub(super) fn expiry_key(expires_at: UnixTime, digest: &SecretDigest) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&time_key(expires_at));
    key[8..].copy_from_slice(&digest.0);
    key
}

fn read_digest(bytes: &[u8]) -> StoreResult<SecretDigest> {
    Ok(SecretDigest(
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("token digest index"))?,
    ))
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

/// The token trees as seen inside one transaction.
pub(super) struct TokenTrees<'a> {
    pub(super) by_digest: &'a TransactionalTree,
    pub(super) by_user: &'a TransactionalTree,
    pub(super) by_expiry: &'a TransactionalTree,
    /// `revoked_session_at`; `None` where the sessions' user is being
    /// deleted, which kills their signed tokens anyway.
    pub(super) revoked: Option<&'a TransactionalTree>,
}

/// Removes tokens from the token trees inside a caller's transaction, and
/// records each removed refresh token's session as revoked at `now` so its
/// signed access tokens die too. Returns those sessions.
pub(super) fn remove_tokens(
    trees: &TokenTrees<'_>,
    tokens: &[(UserTokenKey, SecretDigest)],
    now: UnixTime,
) -> Result<Vec<TokenId>, ConflictableTransactionError<Abort>> {
    let mut sessions = Vec::new();
    for (user_key, digest) in tokens {
        trees.by_user.remove(user_key.as_slice())?;
        if let Some(record) = trees.by_digest.remove(digest.0.as_slice())? {
            let record: TokenRecord = codec::decode(&record)?;
            trees
                .by_expiry
                .remove(expiry_key(record.expires_at, digest).as_slice())?;
            if record.kind == TokenKind::Refresh {
                if let Some(revoked) = trees.revoked {
                    revoked.insert(&record.id.0.to_be_bytes(), &time_key(now))?;
                }
                sessions.push(record.id);
            }
        }
    }
    Ok(sessions)
}

impl Store {
    /// Stores a token under its digest with its index entries and the next
    /// token id (whatever `record.id` says), provided the user still exists
    /// (`Conflict::Gone` otherwise): checking inside the transaction means a
    /// deleted user can never gain a token.
    pub fn insert_token(
        &self,
        digest: &SecretDigest,
        record: TokenRecord,
    ) -> StoreResult<Result<TokenRecord, Conflict>> {
        let _writes = self.token_writes();
        let i = &*self.inner;
        let _gate = self.writing();
        let outcome = (
            &i.users,
            &i.counters,
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
        )
            .transaction(|(users, counters, by_digest, by_user, by_expiry)| {
                if users.get(record.user_id.to_key())?.is_none() {
                    return abort(Ok(Conflict::Gone));
                }
                let record = TokenRecord {
                    id: TokenId(bump(counters, LAST_TOKEN_ID, 1)?),
                    ..record.clone()
                };
                let user_key = user_token_key(record.user_id, record.id);
                by_digest.insert(digest.0.as_slice(), codec::encode(&record)?)?;
                by_user.insert(user_key.as_slice(), digest.0.as_slice())?;
                by_expiry.insert(expiry_key(record.expires_at, digest).as_slice(), &[])?;
                Ok(record)
            });
        flatten(outcome)
    }

    /// The live or expired record for a token digest; expiry is the caller's
    /// call, so the sweep can lag without letting an expired token in.
    pub fn token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        self.inner
            .token_by_digest
            .get(digest.0)?
            .map(|v| codec::decode(&v))
            .transpose()
            .map_err(Into::into)
    }

    /// Every token of a user, in issue order.
    pub fn tokens_of(&self, user: UserId) -> StoreResult<Vec<(SecretDigest, TokenRecord)>> {
        let mut out = Vec::new();
        for entry in self.inner.tokens_by_user.scan_prefix(user.to_key()) {
            let (_, digest) = entry?;
            let digest = read_digest(&digest)?;
            // Missing means revoked between the two reads: skip it.
            if let Some(record) = self.token(&digest)? {
                out.push((digest, record));
            }
        }
        Ok(out)
    }

    /// The index keys of a user's tokens, leaving out the one with id `keep`.
    pub(super) fn token_keys_of(
        &self,
        user: UserId,
        keep: Option<TokenId>,
    ) -> StoreResult<Vec<(UserTokenKey, SecretDigest)>> {
        let mut out = Vec::new();
        for entry in self.inner.tokens_by_user.scan_prefix(user.to_key()) {
            let (key, digest) = entry?;
            let key: UserTokenKey = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("tokens by user key"))?;
            let digest = read_digest(&digest)?;
            let id = TokenId(u64::from_be_bytes([
                key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
            ]));
            if Some(id) != keep {
                out.push((key, digest));
            }
        }
        Ok(out)
    }

    /// Revokes one token by digest (a refresh token: its whole session).
    /// Returns its record if it existed.
    pub fn revoke_token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        let _writes = self.token_writes();
        self.remove_token(digest, true)
    }

    /// Removes one token; `revoke` records a refresh token's session as
    /// revoked (not wanted when it merely expired). Callers hold
    /// `token_writes`.
    fn remove_token(
        &self,
        digest: &SecretDigest,
        revoke: bool,
    ) -> StoreResult<Option<TokenRecord>> {
        // A digest's owner and id never change, so the keys read here are the
        // ones the transaction removes.
        let Some(record) = self.token(digest)? else {
            return Ok(None);
        };
        let key = user_token_key(record.user_id, record.id);
        self.remove_now(&[(key, *digest)], revoke)?;
        Ok(Some(record))
    }

    /// Removes tokens in one transaction, recording removed refresh tokens'
    /// sessions as revoked (in the tree and its mirror) when `revoke` is set.
    /// Callers hold `token_writes`.
    fn remove_now(&self, tokens: &[(UserTokenKey, SecretDigest)], revoke: bool) -> StoreResult<()> {
        let i = &*self.inner;
        let now = unix_now();
        let _gate = self.writing();
        let outcome = (
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
            &i.revoked_session_at,
        )
            .transaction(|(by_digest, by_user, by_expiry, revoked)| {
                let trees = TokenTrees {
                    by_digest,
                    by_user,
                    by_expiry,
                    revoked: revoke.then_some(revoked),
                };
                remove_tokens(&trees, tokens, now)
            });
        let sessions =
            flatten(outcome)?.map_err(|_| StoreError::Corrupt("token removal conflict"))?;
        if revoke {
            self.mark_revoked(&sessions, now);
            crate::metrics::tokens_revoked(tokens.len());
        }
        Ok(())
    }

    /// Revokes the token (or session) with public id `token` if it belongs
    /// to `user`. Returns false when the user has no such token.
    ///
    /// Resolves once the revocation is on disk: no `durable` call needed.
    ///
    /// Concurrent calls share one transaction and one fsync (see `batch`):
    /// sled writes its log at every transaction, one at a time, so 64
    /// clients revoking one by one would be little faster than one.
    pub async fn revoke_token_of(&self, user: UserId, token: TokenId) -> StoreResult<bool> {
        self.inner
            .revocations
            .run((user, token))
            .await
            .unwrap_or(Err(StoreError::Abandoned))
    }

    /// The revocation writer's batch: `revoke_batch`, then one flush and
    /// fsync for all of it. Flushing here, not through the group-commit
    /// thread, is what makes batches grow under load: requests queue while
    /// the writer waits on the disk, and the next batch takes them all.
    /// (Two other shapes were measured and were slower: handing the flush
    /// to the group-commit thread, where batches stayed tiny and each paid
    /// sled's log writes, and overlapping one batch's fsync with the next
    /// batch's transaction.)
    pub(super) fn revoke_batch_durably(
        &self,
        requests: &[(UserId, TokenId)],
    ) -> Vec<StoreResult<bool>> {
        let mut answers = self.revoke_batch(requests);
        if answers.iter().any(|a| matches!(a, Ok(true)))
            && let Err(e) = self.inner.group_commit.flush_now()
        {
            tracing::error!(error = %e, "flush failed; revocations waiting on it were refused");
            for answer in &mut answers {
                if matches!(answer, Ok(true)) {
                    *answer = Err(StoreError::Durability(super::durability::copy_error(&e)));
                }
            }
        }
        answers
    }

    /// Revokes each (user, token id) that exists, all in one transaction;
    /// one answer per request, in order. If the transaction fails, each
    /// revocation is retried alone, so each answer is that request's own.
    pub(super) fn revoke_batch(&self, requests: &[(UserId, TokenId)]) -> Vec<StoreResult<bool>> {
        let _writes = self.token_writes();
        let mut answers = Vec::with_capacity(requests.len());
        let mut doomed = Vec::new();
        let mut doomed_at = Vec::new();
        let mut seen = HashSet::new();
        for &(user, token) in requests {
            let key = user_token_key(user, token);
            let answer = match self.inner.tokens_by_user.get(key) {
                Ok(None) => Ok(false),
                Err(e) => Err(e.into()),
                // Asked twice in one batch: the first one revokes it.
                Ok(Some(_)) if !seen.insert(key) => Ok(false),
                Ok(Some(digest)) => read_digest(&digest).map(|digest| {
                    doomed_at.push(answers.len());
                    doomed.push((key, digest));
                    true
                }),
            };
            answers.push(answer);
        }
        if doomed.is_empty() {
            return answers;
        }
        match self.remove_now(&doomed, true) {
            Ok(()) => {}
            Err(e) if doomed.len() == 1 => {
                if let Some(answer) = doomed_at.first().and_then(|&at| answers.get_mut(at)) {
                    *answer = Err(e);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, n = doomed.len(), "combined revocation failed; retrying one by one");
                for (item, at) in doomed.iter().zip(doomed_at) {
                    if let (Err(e), Some(answer)) = (
                        self.remove_now(std::slice::from_ref(item), true),
                        answers.get_mut(at),
                    ) {
                        *answer = Err(e);
                    }
                }
            }
        }
        answers
    }

    /// Revokes every token of `user` except the one with id `keep`, in one
    /// transaction. Returns how many were revoked.
    pub fn revoke_all_tokens(&self, user: UserId, keep: Option<TokenId>) -> StoreResult<usize> {
        let _writes = self.token_writes();
        let tokens = self.token_keys_of(user, keep)?;
        if !tokens.is_empty() {
            self.remove_now(&tokens, true)?;
        }
        Ok(tokens.len())
    }

    /// Spends refresh token `old` and stores `new` in its place for the same
    /// session, in one transaction. A spent token presented again revokes its
    /// whole session (it was stolen or replayed).
    pub fn rotate_refresh(
        &self,
        old: &SecretDigest,
        new: &SecretDigest,
        new_expires_at: UnixTime,
    ) -> StoreResult<Rotation> {
        let _writes = self.token_writes();
        let i = &*self.inner;
        let now = unix_now();
        let _gate = self.writing();
        let outcome = (
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
            &i.revoked_session_at,
            &i.spent_refresh_by_digest,
        )
            .transaction(|(by_digest, by_user, by_expiry, revoked, spent)| {
                let trees = TokenTrees {
                    by_digest,
                    by_user,
                    by_expiry,
                    revoked: Some(revoked),
                };
                if let Some(current) = by_digest.get(old.0.as_slice())? {
                    let current: TokenRecord = codec::decode(&current)?;
                    if current.kind != TokenKind::Refresh || current.expires_at <= now {
                        return Ok(Rotation::Refused);
                    }
                    let key = user_token_key(current.user_id, current.id);
                    // Not `remove_tokens`: the session lives on, only its
                    // refresh token changes (the index entry is overwritten).
                    by_digest.remove(old.0.as_slice())?;
                    by_expiry.remove(expiry_key(current.expires_at, old).as_slice())?;
                    let next = TokenRecord {
                        created_at: now,
                        expires_at: new_expires_at,
                        ..current.clone()
                    };
                    by_digest.insert(new.0.as_slice(), codec::encode(&next)?)?;
                    by_user.insert(key.as_slice(), new.0.as_slice())?;
                    by_expiry.insert(expiry_key(next.expires_at, new).as_slice(), &[])?;
                    let spent_record = SpentRefresh {
                        session: current.id,
                        user_id: current.user_id,
                        expires_at: current.expires_at,
                    };
                    spent.insert(old.0.as_slice(), codec::encode(&spent_record)?)?;
                    return Ok(Rotation::Rotated(next));
                }
                let Some(was) = spent.get(old.0.as_slice())? else {
                    return Ok(Rotation::Refused);
                };
                let was: SpentRefresh = codec::decode(&was)?;
                let key = user_token_key(was.user_id, was.session);
                if let Some(live) = by_user.get(key)? {
                    let live = SecretDigest(
                        <[u8; 32]>::try_from(live.as_ref())
                            .map_err(|_| StoreError::Corrupt("tokens by user value"))?,
                    );
                    remove_tokens(&trees, &[(key, live)], now)?;
                }
                revoked.insert(&was.session.0.to_be_bytes(), &time_key(now))?;
                Ok(Rotation::Reused(was))
            });
        let rotation =
            flatten(outcome)?.map_err(|_| StoreError::Corrupt("refresh rotation conflict"))?;
        if let Rotation::Reused(was) = &rotation {
            self.mark_revoked(&[was.session], now);
            crate::metrics::tokens_revoked(1);
        }
        Ok(rotation)
    }

    /// Deletes tokens that expired at or before `now`. Returns how many.
    pub fn sweep_expired(&self, now: UnixTime) -> StoreResult<usize> {
        let mut swept = 0;
        // Inclusive of `now`: a token is dead at its expiry second.
        let end = time_key(now.saturating_add(1));
        for entry in self.inner.token_digest_by_expiry.range(..end.as_slice()) {
            let (key, _) = entry?;
            let digest = read_digest(key.get(8..).unwrap_or_default())?;
            let removed = {
                let _writes = self.token_writes();
                self.remove_token(&digest, false)?
            };
            if removed.is_some() {
                swept += 1;
            } else {
                // An expiry entry with no token: remove the stray entry.
                let _gate = self.writing();
                self.inner.token_digest_by_expiry.remove(key)?;
            }
        }
        Ok(swept)
    }

    /// Drops spent refresh tokens past their expiry, and revoked-session
    /// entries older than `horizon` seconds (by then every access token of
    /// the session has expired, so there is nothing left to refuse).
    pub fn sweep_sessions(&self, now: UnixTime, horizon: i64) -> StoreResult<usize> {
        let i = &*self.inner;
        let mut swept = 0;
        for entry in i.spent_refresh_by_digest.iter() {
            let (digest, value) = entry?;
            let spent: SpentRefresh = codec::decode(&value)?;
            if spent.expires_at <= now {
                let _gate = self.writing();
                i.spent_refresh_by_digest.remove(digest)?;
                swept += 1;
            }
        }
        let mut forgotten = Vec::new();
        for entry in i.revoked_session_at.iter() {
            let (sid, at) = entry?;
            let at = i64::try_from(super::read_u64(&at, "revoked session time")?).unwrap_or(0);
            if at.saturating_add(horizon) < now {
                let _gate = self.writing();
                i.revoked_session_at.remove(&sid)?;
                forgotten.push(TokenId(super::read_u64(&sid, "revoked session id")?));
            }
        }
        swept += forgotten.len();
        self.forget_revoked(&forgotten);
        Ok(swept)
    }
}
