//! The records latchkey stores, and the parsed values that guard them.
//!
//! Constructors are the validation: a `Username` or `Email` that exists has
//! already passed every rule, so nothing past the HTTP edge re-checks them.

mod names;

pub use names::{Email, InvalidField, Username, login_key};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The prefix every opaque token carries; usernames may not start with it so
/// that a Basic username beginning with it is always read as a token.
pub const TOKEN_PREFIX: &str = "lk_";

/// A user's numeric id. How a backend stores it is the backend's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A token's numeric id, shown to clients so they can revoke one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenId(pub u64);

/// Seconds since the Unix epoch, UTC: the one time unit in stored records.
pub type UnixTime = i64;

/// The current time as stored.
pub fn unix_now() -> UnixTime {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A stored time as RFC 3339 UTC, the form every response uses. Values out
/// of `time`'s range (never stored) fall back to the epoch rather than fail.
pub fn rfc3339(t: UnixTime) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// What an account may do beyond its own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account (the default).
    #[default]
    User,
    /// May manage every account.
    Admin,
}

impl Role {
    /// The name used in JSON, config and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses `user` or `admin`.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        match raw {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(InvalidField("role must be 'user' or 'admin'")),
        }
    }
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Assigned at registration, never reused.
    pub id: UserId,
    /// The name as registered.
    pub username: Username,
    /// Optional contact address, unique across users.
    pub email: Option<Email>,
    /// A PHC string: `$scrypt$ln=..,r=..,p=..$salt$hash`.
    pub password_hash: String,
    /// When the account was made.
    pub created_at: UnixTime,
    /// `user` or `admin`.
    pub role: Role,
    /// A disabled account cannot authenticate; its tokens were revoked.
    pub disabled: bool,
    /// Whether the account's owner proved they receive its codes.
    pub confirmed: bool,
}

impl User {
    /// An admin whose account is enabled: the ones the last-admin guard counts.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && !self.disabled
    }
}

/// What a single-use code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// Proves the account's owner receives its codes.
    Confirmation,
    /// Lets the owner set a new password without the old one.
    PasswordReset,
}

impl CodeKind {
    /// The name used in delivery payloads and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A single-use code, stored under the SHA-256 digest of the code itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// What the code does.
    pub kind: CodeKind,
    /// Whose account it acts on.
    pub user_id: UserId,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
}

/// What an opaque token is good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A bearer token for API requests (opaque mode).
    Access,
    /// A refresh token: buys new access tokens for its session (jwt mode),
    /// never accepted as a credential itself.
    Refresh,
}

/// What the store keeps for a live token; the secret itself is never stored,
/// only its SHA-256 digest, which is the key this record sits under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's public id, for listing and revoking one token. For a
    /// refresh token it is the session id, kept across rotations and carried
    /// as `sid` by the session's signed access tokens.
    pub id: TokenId,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Whose token this is.
    pub user_id: UserId,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
}

/// A refresh token that was rotated away. Presenting it again means it was
/// stolen (or replayed), so its whole session is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentRefresh {
    /// The session it belonged to.
    pub session: TokenId,
    /// Whose session.
    pub user_id: UserId,
    /// When it would have expired; the entry is kept until then.
    pub expires_at: UnixTime,
}

/// An Ed25519 key for signing access tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Published as the JWK `kid` and carried in each token's header.
    pub kid: String,
    /// The 64-byte Ed25519 key pair (seed ++ public key).
    pub key_pair: Vec<u8>,
    /// When it was made; the newest key signs.
    pub created_at: UnixTime,
    /// When a newer key replaced it; it verifies until every token it
    /// signed has expired.
    pub superseded_at: Option<UnixTime>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("superseded_at", &self.superseded_at)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 digest of a token or single-use code: the only form in which
/// either is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretDigest(pub [u8; 32]);

impl fmt::Debug for SecretDigest {
    // A digest is not a secret, but keeping it out of logs costs nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
