//! Usernames and emails: parsed at the edge, so that only valid ones exist
//! past it, and keyed so that registration and login agree on which names
//! are the same.

use super::TOKEN_PREFIX;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

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

#[cfg(test)]
mod tests {
    use super::*;

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
