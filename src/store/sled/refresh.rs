//! Refresh rotation: a live refresh token is spent and replaced in one
//! transaction; a spent one presented again revokes its whole session.

use super::tokens::{TokenTrees, remove_tokens};
use super::{StoreError, StoreResult, Trees, codec, flatten, keys};
use crate::model::{SecretDigest, SpentRefresh, TokenKind, TokenRecord, UnixTime, unix_now};
use crate::store::Rotation;
use sled::Transactional;

impl Trees {
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
                    let key = keys::user_token(current.user_id, current.id);
                    // Not `remove_tokens`: the session lives on, only its
                    // refresh token changes (the index entry is overwritten).
                    by_digest.remove(old.0.as_slice())?;
                    by_expiry.remove(keys::expiry(current.expires_at, old).as_slice())?;
                    let next = TokenRecord {
                        created_at: now,
                        expires_at: new_expires_at,
                        ..current.clone()
                    };
                    by_digest.insert(new.0.as_slice(), codec::encode(&next)?)?;
                    by_user.insert(key.as_slice(), new.0.as_slice())?;
                    by_expiry.insert(keys::expiry(next.expires_at, new).as_slice(), &[])?;
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
                let key = keys::user_token(was.user_id, was.session);
                if let Some(live) = by_user.get(key)? {
                    let live = keys::read_digest(&live, "tokens by user value")?;
                    remove_tokens(&trees, &[(key, live)], now)?;
                }
                revoked.insert(&keys::session(was.session), &keys::time(now))?;
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
}
