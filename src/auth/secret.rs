//! Opaque secrets: bearer tokens (`lk_` + 43 base64url characters, 32
//! random bytes) and single-use codes, with the digests that are stored.
//!
//! Only the SHA-256 digest of a token is stored. Looking a presented token up
//! by its digest leaks no timing about the secret: an attacker who does not
//! know a token cannot choose inputs whose digests share a prefix with it.

use super::AuthError;
use crate::model::{SecretDigest, TOKEN_PREFIX};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use sha2::{Digest, Sha256};

/// Length of the base64url part: 32 bytes, unpadded.
const SECRET_CHARS: usize = 43;

/// A freshly minted token: the secret to hand out once, and its digest to keep.
pub struct NewToken {
    /// `lk_...`: shown to the client once, never stored or logged.
    pub secret: String,
    /// What the store keeps.
    pub digest: SecretDigest,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken(..)")
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AuthError::Internal(format!("OS random source: {e}")))?;
    Ok(bytes)
}

/// Mints a token from 32 bytes of OS randomness.
pub fn generate() -> Result<NewToken, AuthError> {
    let secret = format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
    );
    let digest = digest(&secret);
    Ok(NewToken { secret, digest })
}

/// Mints a single-use code: 32 random bytes, base64url, no prefix (it is
/// typed or pasted, never sent as a credential header).
pub fn generate_code() -> Result<(String, SecretDigest), AuthError> {
    let code = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
    let digest = digest(&code);
    Ok((code, digest))
}

/// The digest of a presented code, or `None` unless it is exactly 43
/// base64url characters: no white space is trimmed, so a code means one
/// string, as a token does.
pub fn parse_code(presented: &str) -> Option<SecretDigest> {
    is_base64url(presented).then(|| digest(presented))
}

fn is_base64url(s: &str) -> bool {
    s.len() == SECRET_CHARS && s.bytes().all(|b| BASE64URL[usize::from(b)])
}

/// Which bytes the base64url alphabet has. A table, because this runs on
/// every token check: the three range tests per byte it replaces cost 2% of
/// a `GET /api/resource` (callgrind).
const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// The digest of a presented token, or `None` if it is not shaped like one
/// of ours (then no store lookup is needed to refuse it).
pub fn parse(presented: &str) -> Option<SecretDigest> {
    let body = presented.strip_prefix(TOKEN_PREFIX)?;
    is_base64url(body).then(|| digest(presented))
}

fn digest(token: &str) -> SecretDigest {
    SecretDigest(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_has_prefix_and_43_url_safe_characters() {
        let t = generate().unwrap();
        assert!(t.secret.starts_with("lk_"));
        assert_eq!(t.secret.len(), 3 + 43);
        assert_eq!(parse(&t.secret), Some(t.digest));
    }

    #[test]
    fn code_round_trips_and_is_not_a_token() {
        let (code, digest) = generate_code().unwrap();
        assert_eq!(parse_code(&code), Some(digest));
        assert!(parse(&code).is_none());
    }

    #[test]
    fn a_code_with_anything_around_it_parses_to_nothing() {
        let (code, _) = generate_code().unwrap();
        for deviant in [
            format!("{code} "),
            format!(" {code}"),
            format!("{code}\n"),
            format!("{code}\t"),
            code.replacen(|_| true, "=", 1),
        ] {
            assert!(parse_code(&deviant).is_none(), "{deviant:?}");
        }
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(generate().unwrap().secret, generate().unwrap().secret);
    }

    #[test]
    fn the_alphabet_table_holds_exactly_base64url() {
        let mut expected: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(*b"-_")
            .collect();
        expected.sort_unstable();
        let held: Vec<u8> = (0..=255u8).filter(|&b| BASE64URL[usize::from(b)]).collect();
        assert_eq!(held, expected);
    }

    #[test]
    fn malformed_tokens_parse_to_nothing() {
        let good = generate().unwrap().secret;
        assert!(parse(&good[..good.len() - 1]).is_none());
        assert!(parse(&format!("{good}A")).is_none());
        assert!(parse(&good.replacen("lk_", "xx_", 1)).is_none());
        assert!(parse(&format!("lk_{}", "+".repeat(43))).is_none());
    }
}
