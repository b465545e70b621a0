//! Token records, keyed by digest, and the per-user and expiry indexes.

use super::users::bump;
use super::{
    Abort, Conflict, LAST_TOKEN_ID, Store, StoreError, StoreResult, codec, flatten, time_key,
};
use crate::model::{SecretDigest, TokenId, TokenRecord, UnixTime, UserId};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree, abort};

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

/// Removes tokens from all three token trees inside a caller's transaction.
pub(super) fn remove_tokens(
    by_digest: &TransactionalTree,
    by_user: &TransactionalTree,
    by_expiry: &TransactionalTree,
    tokens: &[(UserTokenKey, SecretDigest)],
) -> Result<(), ConflictableTransactionError<Abort>> {
    for (user_key, digest) in tokens {
        by_user.remove(user_key.as_slice())?;
        if let Some(record) = by_digest.remove(digest.0.as_slice())? {
            let record: TokenRecord = codec::decode(&record)?;
            by_expiry.remove(expiry_key(record.expires_at, digest).as_slice())?;
        }
    }
    Ok(())
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
        let i = &*self.inner;
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

    /// The index keys of a user's tokens, leaving out `keep`.
    pub(super) fn token_keys_of(
        &self,
        user: UserId,
        keep: Option<SecretDigest>,
    ) -> StoreResult<Vec<(UserTokenKey, SecretDigest)>> {
        let mut out = Vec::new();
        for entry in self.inner.tokens_by_user.scan_prefix(user.to_key()) {
            let (key, digest) = entry?;
            let key: UserTokenKey = key
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("tokens by user key"))?;
            let digest = read_digest(&digest)?;
            if Some(digest) != keep {
                out.push((key, digest));
            }
        }
        Ok(out)
    }

    /// Revokes one token by digest. Returns its record if it existed.
    pub fn revoke_token(&self, digest: &SecretDigest) -> StoreResult<Option<TokenRecord>> {
        let i = &*self.inner;
        let outcome = (
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
        )
            .transaction(|(by_digest, by_user, by_expiry)| {
                let Some(record) = by_digest.remove(digest.0.as_slice())? else {
                    return Ok(None);
                };
                let record: TokenRecord = codec::decode(&record)?;
                by_user.remove(user_token_key(record.user_id, record.id).as_slice())?;
                by_expiry.remove(expiry_key(record.expires_at, digest).as_slice())?;
                Ok(Some(record))
            });
        Ok(flatten(outcome)?.unwrap_or(None))
    }

    /// Revokes the token with public id `token` if it belongs to `user`.
    /// Returns false when the user has no such token.
    pub fn revoke_token_of(&self, user: UserId, token: TokenId) -> StoreResult<bool> {
        let Some(digest) = self.inner.tokens_by_user.get(user_token_key(user, token))? else {
            return Ok(false);
        };
        Ok(self.revoke_token(&read_digest(&digest)?)?.is_some())
    }

    /// Revokes every token of `user` except `keep`, in one transaction.
    /// Returns how many were revoked.
    pub fn revoke_all_tokens(
        &self,
        user: UserId,
        keep: Option<SecretDigest>,
    ) -> StoreResult<usize> {
        let i = &*self.inner;
        let tokens = self.token_keys_of(user, keep)?;
        if tokens.is_empty() {
            return Ok(0);
        }
        let outcome = (
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
        )
            .transaction(|(by_digest, by_user, by_expiry)| {
                remove_tokens(by_digest, by_user, by_expiry, &tokens)
            });
        flatten(outcome)?.map_err(|_| StoreError::Corrupt("token revocation conflict"))?;
        Ok(tokens.len())
    }

    /// Deletes tokens that expired at or before `now`. Returns how many.
    pub fn sweep_expired(&self, now: UnixTime) -> StoreResult<usize> {
        let mut swept = 0;
        // Inclusive of `now`: a token is dead at its expiry second.
        let end = time_key(now.saturating_add(1));
        for entry in self.inner.token_digest_by_expiry.range(..end.as_slice()) {
            let (key, _) = entry?;
            let digest = read_digest(key.get(8..).unwrap_or_default())?;
            if self.revoke_token(&digest)?.is_some() {
                swept += 1;
            } else {
                // An expiry entry with no token: remove the stray entry.
                self.inner.token_digest_by_expiry.remove(key)?;
            }
        }
        Ok(swept)
    }
}
