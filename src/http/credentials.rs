//! Credential parsing: the `Authorization` header in each form latchkey
//! accepts, turned into `Credentials`, then checked into a `Caller`.
//!
//! - `Basic base64(username:password)` (RFC 7617, UTF-8);
//! - `Basic base64(token:anything)`: a token (opaque or signed) in the
//!   username field;
//! - `Bearer <token>` (RFC 6750; the scheme is case-insensitive);
//! - a bare token with no scheme.

use super::Request;
use crate::auth::{Caller, Credentials, TokenShape};
use crate::error::ApiError;
use crate::model::{Email, Username};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use warp::http::{HeaderMap, header};

/// Reads the credentials a request carries, if any. Malformed headers are
/// 400s, never 500s; an unknown scheme is simply not credentials we accept.
pub fn parse(headers: &HeaderMap) -> Result<Option<Credentials>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad("send one Authorization header, not several"));
    }
    let value = value
        .to_str()
        .map_err(|_| bad("the Authorization header must be visible ASCII"))?
        .trim();
    // Byte searches, not `str` patterns: this runs on every request, and
    // the scheme is a few bytes in.
    let Some(space) = value.bytes().position(|b| b == b' ') else {
        if value.is_empty()
            || value.eq_ignore_ascii_case("basic")
            || value.eq_ignore_ascii_case("bearer")
        {
            return Err(bad("the Authorization header has no credentials"));
        }
        return Ok(Some(Credentials::Token(value.to_owned())));
    };
    let (scheme, rest) = (&value[..space], value[space + 1..].trim());
    if scheme.eq_ignore_ascii_case("basic") {
        basic(rest).map(Some)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.as_bytes().contains(&b' ') {
            return Err(bad("a Bearer credential is one token"));
        }
        Ok(Some(Credentials::Token(rest.to_owned())))
    } else {
        Err(ApiError::InvalidCredentials { presented: true })
    }
}

fn basic(encoded: &str) -> Result<Credentials, ApiError> {
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| bad("Basic credentials must be base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("Basic credentials must be UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad("Basic credentials must be username:password"))?;
    // No username starts with white space, and auth decides what is a
    // token. Either kind is then a token in every way, never a name to log.
    let candidate = username.trim();
    if TokenShape::of(candidate).is_some() {
        return Ok(Credentials::Token(candidate.to_owned()));
    }
    Ok(Credentials::Password {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// A presented login name as the log may show it: as given when it could
/// be a username or an email, else only the first 8 hex digits of its
/// SHA-256. A name that breaks the rules is most likely something typed
/// into the wrong field (a password, a token), and no secret is logged;
/// the fingerprint still lets an operator see one name tried many times.
/// A failed attempt's name that no account has is logged the same way (see
/// [`authenticate`]): a password typed as the name usually passes the rules.
enum LoggedName<'a> {
    AsGiven(&'a str),
    Fingerprint(String),
}

impl<'a> LoggedName<'a> {
    fn of(name: &'a str) -> Self {
        if Username::parse(name).is_ok() || Email::parse(name).is_ok() {
            return Self::AsGiven(name);
        }
        Self::fingerprint_of(name)
    }

    fn fingerprint_of(name: &str) -> Self {
        let digest = Sha256::digest(name.as_bytes());
        Self::Fingerprint(digest[..4].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The `username` field: the name as given, if it may be shown.
    fn as_given(&self) -> Option<&str> {
        match self {
            Self::AsGiven(name) => Some(name),
            Self::Fingerprint(_) => None,
        }
    }

    /// The `username_sha256_prefix` field, when the name is not shown.
    fn fingerprint(&self) -> Option<&str> {
        match self {
            Self::AsGiven(_) => None,
            Self::Fingerprint(hex) => Some(hex),
        }
    }
}

fn bad(detail: &str) -> ApiError {
    ApiError::InvalidRequest(detail.to_owned())
}

/// Authenticates the request's credentials, logging the outcome (never the
/// secret), and refuses an unconfirmed account where confirmation is
/// required. No credentials at all is a 401 without an `error` attribute.
pub async fn caller(req: &Request) -> Result<Caller, ApiError> {
    let caller = caller_even_unconfirmed(req).await?;
    req.state.auth.require_confirmed(&caller)?;
    Ok(caller)
}

/// As [`caller`], but lets an unconfirmed account through: for the
/// endpoints it needs to manage its tokens and get confirmed.
pub async fn caller_even_unconfirmed(req: &Request) -> Result<Caller, ApiError> {
    let credentials =
        parse(&req.headers)?.ok_or(ApiError::InvalidCredentials { presented: false })?;
    authenticate(req, credentials).await
}

/// As [`caller`], and the caller must be an admin.
pub async fn admin(req: &Request) -> Result<Caller, ApiError> {
    let caller = caller(req).await?;
    req.state.auth.require_admin(&caller)?;
    Ok(caller)
}

/// The client address as logs show it, `-` when unknown. Formatted only if
/// the event is enabled: token checks run on every request.
pub struct ClientLog(Option<std::net::IpAddr>);

impl std::fmt::Display for ClientLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Logs the outcome of an attempt that authenticates with something other
/// than the Authorization header (a refresh token, a single-use code), so
/// every attempt leaves a line with its outcome and client, never the secret.
pub fn log_attempt<T>(
    req: &Request,
    method: &'static str,
    outcome: &Result<T, crate::auth::AuthError>,
) {
    let client = ClientLog(req.client);
    match outcome {
        Ok(_) => tracing::info!(method, %client, "authentication succeeded"),
        Err(e) => tracing::info!(method, %client, outcome = %e, "authentication failed"),
    }
}

/// Checks credentials that were read from a header or a body.
pub async fn authenticate(req: &Request, credentials: Credentials) -> Result<Caller, ApiError> {
    let (method, username) = match &credentials {
        Credentials::Password { username, .. } => ("password", Some(username.clone())),
        Credentials::Token(_) => ("token", None),
    };
    let name = username.as_deref().map(LoggedName::of);
    let client = ClientLog(req.client);
    let attempt = req.state.auth.attempt(credentials, req.client).await;
    match attempt.outcome {
        Ok(caller) => {
            let shown = name.as_ref().and_then(LoggedName::as_given);
            let fingerprint = name.as_ref().and_then(LoggedName::fingerprint);
            // Token checks succeed on every request; their log would be the
            // access log again. Password logins are the events worth keeping.
            if username.is_some() {
                tracing::info!(method, username = shown, username_sha256_prefix = fingerprint, user_id = %caller.id(), %client, "authentication succeeded");
            } else {
                tracing::debug!(method, user_id = %caller.id(), %client, "authentication succeeded");
            }
            Ok(caller)
        }
        Err(e) => {
            let name = match name {
                Some(LoggedName::AsGiven(n)) if !attempt.named_an_account => {
                    Some(LoggedName::fingerprint_of(n))
                }
                other => other,
            };
            let shown = name.as_ref().and_then(LoggedName::as_given);
            let fingerprint = name.as_ref().and_then(LoggedName::fingerprint);
            tracing::info!(method, username = shown, username_sha256_prefix = fingerprint, %client, outcome = %e, "authentication failed");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn basic_of(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_splits_at_the_first_colon() {
        match parse(&with(&basic_of("alice:pa:ss"))).unwrap() {
            Some(Credentials::Password { username, password }) => {
                assert_eq!(username, "alice");
                assert_eq!(password, "pa:ss");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn token_in_basic_username_is_a_token() {
        let c = parse(&with(&basic_of("lk_abc:unused"))).unwrap();
        assert!(matches!(c, Some(Credentials::Token(t)) if t == "lk_abc"));
    }

    #[test]
    fn a_token_with_white_space_around_it_in_basic_username_is_a_token() {
        let c = parse(&with(&basic_of(" lk_abc\t:unused"))).unwrap();
        assert!(matches!(c, Some(Credentials::Token(t)) if t == "lk_abc"));
    }

    #[test]
    fn a_signed_token_in_basic_username_is_a_token_and_a_dotted_name_is_not() {
        let jws = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        let c = parse(&with(&basic_of(&format!("{jws}:unused")))).unwrap();
        assert!(matches!(c, Some(Credentials::Token(t)) if t == jws));
        for name in [
            "jane.q.public",
            "a.b.c",
            "eyJ.x",
            "x.eyJhbGciOiJFZERTQSJ9.y",
        ] {
            let c = parse(&with(&basic_of(&format!("{name}:pw")))).unwrap();
            assert!(
                matches!(c, Some(Credentials::Password { ref username, .. }) if username == name),
                "{name}"
            );
        }
    }

    #[test]
    fn only_a_name_that_breaks_the_rules_is_logged_as_a_fingerprint() {
        for name in ["alice", "Zoë 100%", "alice@example.com"] {
            assert_eq!(LoggedName::of(name).as_given(), Some(name));
        }
        let long = "x".repeat(65);
        for name in [" padded", "lk_abc", long.as_str(), "tab\there"] {
            let logged = LoggedName::of(name);
            assert_eq!(logged.as_given(), None, "{name}");
            let hex = logged.fingerprint().unwrap().to_owned();
            assert_eq!(hex.len(), 8);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hex}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_bare_token_works() {
        for v in ["Bearer lk_x", "bEaReR lk_x", "lk_x"] {
            let c = parse(&with(v)).unwrap();
            assert!(
                matches!(c, Some(Credentials::Token(t)) if t == "lk_x"),
                "{v}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        for v in ["Basic !!!", "Basic bm9jb2xvbg==", "Bearer ", "Bearer a b"] {
            let e = parse(&with(v)).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{v}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Basic \xff").unwrap(),
        );
        assert_eq!(parse(&h).unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let mut h = with("Bearer lk_a");
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer lk_b"),
        );
        assert_eq!(parse(&h).unwrap_err().code(), "invalid_request");
    }
}
