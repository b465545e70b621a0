//! Token records, keyed by digest, and the per-user and expiry indexes.

use super::counters::LAST_TOKEN_ID;
use super::counters::bump;
use super::keys::UserTokenKey;
use super::{Abort, Conflict, StoreError, StoreResult, Trees, codec, flatten, keys};
use crate::model::{SecretDigest, TokenId, TokenKind, TokenRecord, UnixTime, UserId, unix_now};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree, abort};
use std::collections::HashSet;

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
                .remove(keys::expiry(record.expires_at, digest).as_slice())?;
            if record.kind == TokenKind::Refresh {
                if let Some(revoked) = trees.revoked {
                    revoked.insert(&keys::session(record.id), &keys::time(now))?;
                }
                sessions.push(record.id);
            }
        }
    }
    Ok(sessions)
}

impl Trees {
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
                if users.get(keys::user(record.user_id))?.is_none() {
                    return abort(Ok(Conflict::Gone));
                }
                let record = TokenRecord {
                    id: TokenId(bump(counters, LAST_TOKEN_ID, 1)?),
                    ..record.clone()
                };
                let user_key = keys::user_token(record.user_id, record.id);
                by_digest.insert(digest.0.as_slice(), codec::encode(&record)?)?;
                by_user.insert(user_key.as_slice(), digest.0.as_slice())?;
                by_expiry.insert(keys::expiry(record.expires_at, digest).as_slice(), &[])?;
                Ok(record)
            });
        flatten(outcome)
    }

    /// The live or expired record for a token digest; expiry is the caller's
    /// call, so the sweep can lag without letting an expired token in.
    pub fn token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        super::read(&self.inner.token_by_digest, &digest.0)
    }

    /// Every token of a user, in issue order.
    pub fn tokens_of(&self, user: UserId) -> StoreResult<Vec<(SecretDigest, TokenRecord)>> {
        let mut out = Vec::new();
        for entry in self.inner.tokens_by_user.scan_prefix(keys::user(user)) {
            let (_, digest) = entry?;
            let digest = keys::read_digest(&digest, "token digest index")?;
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
        for entry in self.inner.tokens_by_user.scan_prefix(keys::user(user)) {
            let (key, digest) = entry?;
            let (key, id) = keys::parse_user_token(&key)?;
            let digest = keys::read_digest(&digest, "token digest index")?;
            if Some(id) != keep {
                out.push((key, digest));
            }
        }
        Ok(out)
    }

    /// Revokes one token by digest (a refresh token: its whole session).
    /// Returns its record if it existed.
    #[cfg(test)]
    pub fn revoke_token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        let _writes = self.token_writes();
        self.remove_token(digest, true)
    }

    /// Removes one token; `revoke` records a refresh token's session as
    /// revoked (not wanted when it merely expired). Callers hold
    /// `token_writes`.
    pub(super) fn remove_token(
        &self,
        digest: &SecretDigest,
        revoke: bool,
    ) -> StoreResult<Option<TokenRecord>> {
        // A digest's owner and id never change, so the keys read here are the
        // ones the transaction removes.
        let Some(record) = self.token(digest)? else {
            return Ok(None);
        };
        let key = keys::user_token(record.user_id, record.id);
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
            let key = keys::user_token(user, token);
            let answer = match self.inner.tokens_by_user.get(key) {
                Ok(None) => Ok(false),
                Err(e) => Err(e.into()),
                // Asked twice in one batch: the first one revokes it.
                Ok(Some(_)) if !seen.insert(key) => Ok(false),
                Ok(Some(digest)) => {
                    keys::read_digest(&digest, "token digest index").map(|digest| {
                        doomed_at.push(answers.len());
                        doomed.push((key, digest));
                        true
                    })
                }
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
}
