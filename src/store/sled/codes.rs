//! Single-use codes (confirmation, password reset), keyed by digest, with a
//! per-user index so a user's codes of a kind can be bounded, spent
//! together, and deleted with the user.

use super::{Abort, Conflict, StoreError, StoreResult, Trees, codec, flatten, keys};
use crate::model::{CodeRecord, SecretDigest, UserId};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree, abort};
use std::sync::{MutexGuard, PoisonError};

/// The two keys a code is stored under.
#[derive(Debug, Clone, Copy)]
pub(super) struct CodeKeys {
    /// `code_by_digest` key.
    pub(super) digest: [u8; 32],
    /// `codes_by_user` key: user id (u64 BE) ++ digest.
    pub(super) by_user: [u8; 40],
}

impl CodeKeys {
    pub(super) fn of(user: UserId, digest: &SecretDigest) -> Self {
        Self {
            digest: digest.0,
            by_user: keys::user_code(user, digest),
        }
    }
}

/// Removes codes from both code trees inside a caller's transaction.
pub(super) fn remove_codes(
    codes: &TransactionalTree,
    codes_by_user: &TransactionalTree,
    keys: &[CodeKeys],
) -> Result<(), ConflictableTransactionError<Abort>> {
    for key in keys {
        codes.remove(key.digest.as_slice())?;
        codes_by_user.remove(key.by_user.as_slice())?;
    }
    Ok(())
}

/// Spends `code` and, with it, every other code of its kind among
/// `siblings` (the user's codes, listed before the transaction), inside a
/// caller's transaction: once one code has done its work, the others of
/// its kind must not do it again. `Conflict::Gone` if `code` is spent.
pub(super) fn spend_code(
    codes: &TransactionalTree,
    codes_by_user: &TransactionalTree,
    code: CodeKeys,
    siblings: &[CodeKeys],
) -> Result<(), ConflictableTransactionError<Abort>> {
    let Some(spent) = codes.remove(code.digest.as_slice())? else {
        return abort(Ok(Conflict::Gone));
    };
    codes_by_user.remove(code.by_user.as_slice())?;
    let kind = codec::decode::<CodeRecord>(&spent)?.kind;
    for sibling in siblings {
        let Some(record) = codes.get(sibling.digest.as_slice())? else {
            continue;
        };
        if codec::decode::<CodeRecord>(&record)?.kind == kind {
            remove_codes(codes, codes_by_user, std::slice::from_ref(sibling))?;
        }
    }
    Ok(())
}

impl Trees {
    /// Serializes code writes with the scans they rely on: sled
    /// transactions cannot scan, so two codes stored at once would each
    /// miss the other when bounding the user's live codes.
    fn code_writes(&self) -> MutexGuard<'_, ()> {
        self.inner
            .code_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a code, provided the user still exists (`Conflict::Gone`).
    /// The user keeps at most `keep` codes of its kind, this one included:
    /// the oldest beyond that, and any expired ones of the kind, are
    /// removed in the same transaction.
    pub fn insert_code(
        &self,
        digest: &SecretDigest,
        record: &CodeRecord,
        keep: usize,
    ) -> StoreResult<Result<(), Conflict>> {
        let i = &*self.inner;
        let value = codec::encode(record)?;
        let keys = CodeKeys::of(record.user_id, digest);
        let _writes = self.code_writes();
        let earlier = self.code_keys_of(record.user_id)?;
        let _gate = self.writing();
        let outcome = (&i.users, &i.code_by_digest, &i.codes_by_user).transaction(
            |(users, codes, codes_by_user)| {
                if users.get(keys::user(record.user_id))?.is_none() {
                    return abort(Ok(Conflict::Gone));
                }
                let mut live = Vec::new();
                for old in &earlier {
                    let Some(old_record) = codes.get(old.digest.as_slice())? else {
                        continue;
                    };
                    let old_record: CodeRecord = codec::decode(&old_record)?;
                    if old_record.kind != record.kind {
                        continue;
                    }
                    if old_record.expires_at <= record.created_at {
                        remove_codes(codes, codes_by_user, std::slice::from_ref(old))?;
                    } else {
                        live.push((old_record.created_at, *old));
                    }
                }
                // Newest first; everything after the newest `keep - 1` goes.
                live.sort_by_key(|(created_at, _)| std::cmp::Reverse(*created_at));
                for (_, old) in live.iter().skip(keep.saturating_sub(1)) {
                    remove_codes(codes, codes_by_user, std::slice::from_ref(old))?;
                }
                codes.insert(keys.digest.as_slice(), value.as_slice())?;
                codes_by_user.insert(keys.by_user.as_slice(), &[])?;
                Ok(())
            },
        );
        flatten(outcome)
    }

    /// The record of a code, spent codes excluded (they are deleted).
    pub fn code(&self, digest: &SecretDigest) -> StoreResult<Option<CodeRecord>> {
        super::read(&self.inner.code_by_digest, &digest.0)
    }

    /// The keys of every code a user holds.
    pub(super) fn code_keys_of(&self, user: UserId) -> StoreResult<Vec<CodeKeys>> {
        let mut out = Vec::new();
        for entry in self.inner.codes_by_user.scan_prefix(keys::user(user)) {
            let (key, _) = entry?;
            let digest = key
                .get(8..)
                .and_then(|d| <[u8; 32]>::try_from(d).ok())
                .ok_or(StoreError::Corrupt("codes by user key"))?;
            out.push(CodeKeys::of(user, &SecretDigest(digest)));
        }
        Ok(out)
    }
}
