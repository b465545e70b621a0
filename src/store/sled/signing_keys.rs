//! Signing keys for access tokens.

use super::{StoreResult, Trees, codec, flatten};
use crate::model::SigningKey;

impl Trees {
    /// Every stored signing key, in no particular order.
    pub fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        self.inner
            .signing_keys
            .iter()
            .values()
            .map(|v| Ok(codec::decode(&v?)?))
            .collect()
    }

    /// Adds `key` as the current key and marks every other current key as
    /// superseded at the new key's creation time, in one transaction.
    pub fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let others = self.signing_keys()?;
        let gate = self.writing();
        let outcome = self.inner.signing_keys.transaction(|keys| {
            for other in others.iter().filter(|k| k.superseded_at.is_none()) {
                let superseded = SigningKey {
                    superseded_at: Some(key.created_at),
                    ..other.clone()
                };
                keys.insert(other.kid.as_bytes(), codec::encode(&superseded)?)?;
            }
            keys.insert(key.kid.as_bytes(), codec::encode(key)?)?;
            Ok(())
        });
        // Released before the caller waits for the flush: a backup need not
        // wait for it.
        drop(gate);
        flatten(outcome)?.map_err(|_| super::StoreError::Corrupt("signing key conflict"))
    }
}
