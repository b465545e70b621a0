//! Sweeps: deleting what has expired. Expired records are refused whether
//! or not a sweep has run; sweeping only reclaims their space.

use super::codes::{CodeKeys, remove_codes};
use super::{StoreError, StoreResult, Trees, codec, flatten, keys};
use crate::model::{CodeRecord, SpentRefresh, UnixTime};
use sled::Transactional;

impl Trees {
    /// Deletes tokens that expired at or before `now`. Returns how many.
    pub fn sweep_expired(&self, now: UnixTime) -> StoreResult<usize> {
        let mut swept = 0;
        // Inclusive of `now`: a token is dead at its expiry second.
        let end = keys::time(now.saturating_add(1));
        for entry in self.inner.token_digest_by_expiry.range(..end.as_slice()) {
            let (key, _) = entry?;
            let digest = keys::digest_of_expiry(&key)?;
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
            let at = keys::read_time(&at, "revoked session time")?;
            if at.saturating_add(horizon) < now {
                let _gate = self.writing();
                i.revoked_session_at.remove(&sid)?;
                forgotten.push(keys::read_session(&sid)?);
            }
        }
        swept += forgotten.len();
        self.forget_revoked(&forgotten);
        Ok(swept)
    }

    /// Deletes codes that expired at or before `now`. Codes are few and
    /// short-lived, so a full walk is cheaper than another index.
    pub fn sweep_expired_codes(&self, now: UnixTime) -> StoreResult<usize> {
        let i = &*self.inner;
        let mut expired = Vec::new();
        for entry in i.code_by_digest.iter() {
            let (digest, value) = entry?;
            let record: CodeRecord = codec::decode(&value)?;
            if record.expires_at <= now {
                let digest = keys::read_digest(&digest, "code digest key")?;
                expired.push(CodeKeys::of(record.user_id, &digest));
            }
        }
        if expired.is_empty() {
            return Ok(0);
        }
        let _gate = self.writing();
        let outcome = (&i.code_by_digest, &i.codes_by_user)
            .transaction(|(codes, codes_by_user)| remove_codes(codes, codes_by_user, &expired));
        flatten(outcome)?.map_err(|_| StoreError::Corrupt("code sweep conflict"))?;
        Ok(expired.len())
    }
}
