//! Rules about credentials as presented, each decided here and nowhere
//! else: whether a string is a token (and of which kind), and that a token
//! never buys a new token.

use super::{AuthError, Credentials};
use crate::model::TOKEN_PREFIX;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The two kinds of bearer token latchkey issues, told apart by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// `lk_...`: looked up by digest in the store.
    Opaque,
    /// A compact JWS: a signed access token, checked by its signature.
    Signed,
}

impl TokenShape {
    /// Whether `s` is a token, and which kind. No username may start with
    /// the token prefix, and a JWS is no username either (see
    /// [`is_shaped_like_jws`]), so a token sent as a Basic username is told
    /// from a name without ambiguity.
    pub fn of(s: &str) -> Option<Self> {
        if s.starts_with(TOKEN_PREFIX) {
            Some(Self::Opaque)
        } else if is_shaped_like_jws(s) {
            Some(Self::Signed)
        } else {
            None
        }
    }
}

/// Whether `s` is shaped like a compact JWS: three non-empty base64url
/// parts separated by dots, the first a JSON object (`{` once decoded). The
/// header test keeps a dotted username such as `jane.q.public` a username.
fn is_shaped_like_jws(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base64url = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    base64url(header)
        && base64url(payload)
        && base64url(signature)
        && URL_SAFE_NO_PAD
            .decode(header)
            .is_ok_and(|h| h.trim_ascii_start().first() == Some(&b'{'))
}

/// Credentials that may buy a token: a username and password. A token
/// never buys a new token; this conversion is the one place that says so,
/// before any token is looked up, so a live token and a dead one are both
/// refused as invalid credentials.
#[derive(Clone)]
pub struct PasswordCredentials(Credentials);

impl TryFrom<Credentials> for PasswordCredentials {
    type Error = AuthError;

    fn try_from(credentials: Credentials) -> Result<Self, AuthError> {
        match credentials {
            Credentials::Password { .. } => Ok(Self(credentials)),
            Credentials::Token(_) => Err(AuthError::InvalidCredentials),
        }
    }
}

impl From<PasswordCredentials> for Credentials {
    fn from(login: PasswordCredentials) -> Self {
        login.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_apart_by_shape_and_dotted_names_are_no_tokens() {
        let jws = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        assert_eq!(TokenShape::of("lk_abc"), Some(TokenShape::Opaque));
        assert_eq!(TokenShape::of(jws), Some(TokenShape::Signed));
        for name in [
            "alice",
            "jane.q.public",
            "a.b.c",
            "eyJ.x",
            "x.eyJhbGciOiJFZERTQSJ9.y",
            "",
        ] {
            assert_eq!(TokenShape::of(name), None, "{name}");
        }
    }

    #[test]
    fn a_token_never_buys_a_token() {
        let token = Credentials::Token("lk_abc".into());
        assert!(matches!(
            PasswordCredentials::try_from(token),
            Err(AuthError::InvalidCredentials)
        ));
        let password = Credentials::Password {
            username: "alice".into(),
            password: "secret".into(),
        };
        assert!(PasswordCredentials::try_from(password).is_ok());
    }
}
