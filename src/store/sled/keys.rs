//! Every key (and integer value) layout of the sled trees, as typed
//! builders and parsers: no other module slices bytes at offsets.
//!
//! Integers are big-endian, so byte order is numeric order: prefix scans
//! find one user's entries, and range scans walk ids and times in order.

use super::{StoreError, StoreResult};
use crate::model::{SecretDigest, TokenId, UnixTime, UserId};

/// A `users` key, and the id prefix of `tokens_by_user` and
/// `codes_by_user`: the user id, u64 BE.
pub(super) fn user(id: UserId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// The user id in a `users` key or an index value; `None` if malformed.
pub(super) fn parse_user(bytes: &[u8]) -> Option<UserId> {
    Some(UserId(u64::from_be_bytes(bytes.try_into().ok()?)))
}

/// A `tokens_by_user` key: user id (u64 BE) ++ token id (u64 BE).
pub(super) type UserTokenKey = [u8; 16];

pub(super) fn user_token(user: UserId, token: TokenId) -> UserTokenKey {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&self::user(user));
    key[8..].copy_from_slice(&token.0.to_be_bytes());
    key
}

/// A `tokens_by_user` key as read back, and the token id in it.
pub(super) fn parse_user_token(bytes: &[u8]) -> StoreResult<(UserTokenKey, TokenId)> {
    let key: UserTokenKey = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("tokens by user key"))?;
    let (_, token) = key.split_at(8);
    Ok((key, TokenId(read_u64(token, "tokens by user key")?)))
}

/// A `token_digest_by_expiry` key: expires_at (u64 BE) ++ digest.
pub(super) fn expiry(expires_at: UnixTime, digest: &SecretDigest) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&time(expires_at));
    key[8..].copy_from_slice(&digest.0);
    key
}

/// The digest in a `token_digest_by_expiry` key.
pub(super) fn digest_of_expiry(key: &[u8]) -> StoreResult<SecretDigest> {
    read_digest(key.get(8..).unwrap_or_default(), "token expiry key")
}

/// A `codes_by_user` key: user id (u64 BE) ++ digest of the code.
pub(super) fn user_code(user: UserId, digest: &SecretDigest) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&self::user(user));
    key[8..].copy_from_slice(&digest.0);
    key
}

/// A `revoked_session_at` key: the session (its first token's id), u64 BE.
pub(super) fn session(id: TokenId) -> [u8; 8] {
    id.0.to_be_bytes()
}

pub(super) fn read_session(bytes: &[u8]) -> StoreResult<TokenId> {
    Ok(TokenId(read_u64(bytes, "revoked session id")?))
}

/// A time as a key or value: Unix seconds, u64 BE; times before 1970 sort
/// as 0.
pub(super) fn time(t: UnixTime) -> [u8; 8] {
    u64::try_from(t).unwrap_or(0).to_be_bytes()
}

pub(super) fn read_time(bytes: &[u8], what: &'static str) -> StoreResult<UnixTime> {
    Ok(i64::try_from(read_u64(bytes, what)?).unwrap_or(0))
}

/// A digest stored as a key or an index value (32 bytes), or
/// `Corrupt(what)`.
pub(super) fn read_digest(bytes: &[u8], what: &'static str) -> StoreResult<SecretDigest> {
    Ok(SecretDigest(
        bytes.try_into().map_err(|_| StoreError::Corrupt(what))?,
    ))
}

/// A `counters` value: u64 BE.
pub(super) fn counter(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A u64 BE value (a counter, an id), or `Corrupt(what)`.
pub(super) fn read_u64(bytes: &[u8], what: &'static str) -> StoreResult<u64> {
    Ok(u64::from_be_bytes(
        bytes.try_into().map_err(|_| StoreError::Corrupt(what))?,
    ))
}
