//! The records latchkey stores, and the parsed values that guard them.
//!
//! Constructors are the validation: a `Username` or `Email` that exists has
//! already passed every rule, so nothing past the HTTP edge re-checks them.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

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

/// Why a username or email was refused; the text is safe to show a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidField(pub &'static str);

/// A username that satisfies every rule: RFC 8265's UsernameCasePreserved
/// profile on each space-separated part (NFC, full-width forms mapped to
/// their usual width, no default-ignorable, bidi-control, private-use,
/// compatibility or symbol characters, the bidi rule), no part starting with
/// a combining mark, 1 to 64 characters, no `:` or `@`, no control
/// characters, no surrounding white space, no token prefix.
///
/// `Deserialize` does not re-check: a stored record keeps the name it was
/// registered with, even one that an older release allowed (an `@`, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    /// The longest name, in characters (after NFC normalization).
    pub const MAX_CHARS: usize = 64;

    /// Normalizes `raw` (NFC, width mapping) and checks it.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let name: String = raw.nfc().collect();
        // The plain rules first, so their messages win over PRECIS's; again
        // after, since width mapping can make a `:` or `@` of its own.
        Self::check_shape(&name)?;
        let name = precis_username(&name)?;
        Self::check_shape(&name)?;
        Ok(Self(name))
    }

    fn check_shape(name: &str) -> Result<(), InvalidField> {
        let chars = name.chars().count();
        if chars == 0 {
            return Err(InvalidField("username must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidField("username must be at most 64 characters"));
        }
        if name.contains(':') {
            return Err(InvalidField("username must not contain ':'"));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidField("username must not contain control characters"));
        }
        if name.trim() != name {
            return Err(InvalidField(
                "username must not start or end with white space",
            ));
        }
        if name.contains('@') {
            // Logins with an `@` are emails; names without one are usernames.
            return Err(InvalidField(
                "username must not contain '@' (an identifier with '@' is an email)",
            ));
        }
        if starts_with_token_prefix(name) {
            return Err(InvalidField("username must not start with 'lk_'"));
        }
        Ok(())
    }

    /// The name as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The login index key: NFC and Unicode lowercase, so `Alice` and
    /// `alice` are one login. Kept as earlier releases wrote it, so stores
    /// they wrote still find every name.
    pub fn key(&self) -> String {
        login_key(&self.0)
    }

    /// The confusable key: the UTS #39 skeleton of the NFC, fully
    /// case-folded name. Two names with one skeleton look alike (`paypal`
    /// and Cyrillic `раураl`) or fold alike (`ſam` and `sam`), so only one
    /// of them may be registered.
    pub fn skeleton(&self) -> String {
        let folded = caseless::default_case_fold_str(&self.0);
        let folded: String = folded.nfc().collect();
        unicode_security::skeleton(&folded).collect()
    }
}

/// Applies RFC 8265's UsernameCasePreserved profile to each part of `name`
/// between ASCII spaces (RFC 8265 section 3.5 lets an application allow
/// spaces between "userparts"); returns the enforced name.
fn precis_username(name: &str) -> Result<String, InvalidField> {
    use precis_profiles::UsernameCasePreserved;
    use precis_profiles::precis_core::profile::PrecisFastInvocation;
    let mut parts = Vec::new();
    for part in name.split(' ') {
        if part
            .chars()
            .next()
            .is_some_and(unicode_normalization::char::is_combining_mark)
        {
            return Err(InvalidField(
                "username must not start a word with a combining mark",
            ));
        }
        let enforced = UsernameCasePreserved::enforce(part).map_err(|_| {
            InvalidField(
                "username may hold only letters, digits and ASCII punctuation \
                 (RFC 8265): no invisible, bidi-control, private-use, \
                 compatibility or symbol characters, and single spaces between words",
            )
        })?;
        parts.push(enforced.into_owned());
    }
    Ok(parts.join(" "))
}

/// True when `s` starts with the token prefix, ignoring ASCII case.
fn starts_with_token_prefix(s: &str) -> bool {
    s.get(..TOKEN_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(TOKEN_PREFIX))
}

/// The lookup key for a login name or email as a client typed it: NFC, then
/// Unicode lowercase. Both registration and login go through here, so they
/// cannot disagree about which names are the same.
pub fn login_key(raw: &str) -> String {
    raw.nfc().collect::<String>().to_lowercase()
}

/// An email address, checked only for shape: delivery is what proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit on a forward path.
    pub const MAX_LEN: usize = 254;

    /// Checks `raw` has one `@` with text on both sides, a dot in the domain,
    /// and no white space or control characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidField> {
        let email: String = raw.nfc().collect();
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(InvalidField("email must be 1 to 254 bytes"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidField("email must not contain white space"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(InvalidField("email must contain '@'"));
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(InvalidField("email must look like name@example.com"));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(InvalidField("email must look like name@example.com"));
        }
        Ok(Self(email))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: lowercased, as mail systems treat addresses in practice.
    pub fn key(&self) -> String {
        login_key(&self.0)
    }
}

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

    #[test]
    fn username_is_normalized_to_nfc() {
        let decomposed = "Jose\u{301}";
        let name = Username::parse(decomposed).unwrap();
        assert_eq!(name.as_str(), "Jos\u{e9}");
    }

    #[test]
    fn username_rules_refuse_each_bad_shape() {
        for bad in [
            "",
            " alice",
            "alice ",
            "al:ice",
            "al\u{7}ice",
            "lk_alice",
            "LK_alice",
            "alice@example.com",
            "@alice",
            &"a".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse(&"\u{e9}".repeat(64)).is_ok());
        assert!(Username::parse("al ice").is_ok());
        assert!(Username::parse("zo\u{eb} 100%").is_ok());
    }

    #[test]
    fn username_key_ignores_case_across_scripts() {
        let a = Username::parse("ÅSA").unwrap();
        let b = Username::parse("åsa").unwrap();
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn invisible_bidi_private_and_compatibility_characters_are_refused() {
        for bad in [
            "pay\u{200d}pal",                                         // zero-width joiner
            "pay\u{200b}pal",                                         // zero-width space
            "pay\u{ad}pal",                                           // soft hyphen
            "\u{202e}lapyap",                                         // right-to-left override
            "pay\u{2066}pal",                                         // left-to-right isolate
            "pay\u{e000}pal",                                         // private use
            "paypal\u{e0041}",                                        // tag character
            "\u{301}paypal",   // a lone leading combining mark
            "jo \u{301}smith", // ... at the start of a later word
            "\u{1d429}\u{1d41a}\u{1d432}\u{1d429}\u{1d41a}\u{1d425}", // math bold
            "pay\u{fe0f}pal",  // variation selector
            "jo  smith",       // two spaces make an empty part
            "🐎",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn full_width_forms_are_mapped_to_their_usual_width() {
        let name = Username::parse("\u{ff50}\u{ff41}\u{ff59}\u{ff50}\u{ff41}\u{ff4c}").unwrap();
        assert_eq!(name.as_str(), "paypal");
        assert!(
            Username::parse("al\u{ff1a}ice").is_err(),
            "a full-width colon"
        );
        assert!(
            Username::parse("al\u{ff20}ice").is_err(),
            "a full-width at sign"
        );
    }

    #[test]
    fn confusable_names_share_a_skeleton() {
        let paypal = Username::parse("paypal").unwrap().skeleton();
        for lookalike in ["\u{440}\u{430}\u{443}\u{440}\u{430}l", "PayPal", "PAYPAL"] {
            let other = Username::parse(lookalike).unwrap().skeleton();
            assert_eq!(other, paypal, "{lookalike:?}");
        }
        // Greek omicron and Latin o.
        assert_eq!(
            Username::parse("b\u{3bf}b").unwrap().skeleton(),
            Username::parse("bob").unwrap().skeleton()
        );
        // Full case folding: long s folds to s (lowercasing keeps it).
        assert_eq!(
            caseless::default_case_fold_str("\u{17f}am"),
            "sam",
            "the fold the skeleton starts from"
        );
        let sam = Username::parse("sam").unwrap().skeleton();
        // If PRECIS does not refuse it outright, the fold makes it collide.
        if let Ok(long_s) = Username::parse("\u{17f}am") {
            assert_eq!(long_s.skeleton(), sam);
        }
        assert_ne!(
            Username::parse("bob").unwrap().skeleton(),
            Username::parse("rob").unwrap().skeleton()
        );
    }

    #[test]
    fn email_needs_at_and_dotted_domain() {
        assert!(Email::parse("a@example.com").is_ok());
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b@c.d", "a@.c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
