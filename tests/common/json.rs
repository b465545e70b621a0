//! Readers for the JSON the API answers, and the shapes the spec promises.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::BTreeSet;

/// The `items` of a list response.
pub fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
}

/// The `token` field of a token response.
pub fn secret(issued: &Value) -> String {
    issued["token"].as_str().unwrap().to_owned()
}

/// The `id` field of a user or token.
pub fn id_of(value: &Value) -> u64 {
    value["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer id in {value}"))
}

/// The path of a user, `/api/users/{id}`.
pub fn path_of(user: &Value) -> String {
    format!("/api/users/{}", id_of(user))
}

/// `Basic` credentials for `user:pass`, UTF-8 encoded.
pub fn basic_header(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

/// The keys of a JSON object.
pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// A set of keys from a list, to compare with [`keys`].
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Asserts `value` is an object holding at least `required` keys. Later
/// versions may add fields, so exact key sets are not pinned.
#[track_caller]
pub fn assert_has_keys(value: &Value, required: &[&str]) {
    let missing: Vec<_> = set(required).difference(&keys(value)).cloned().collect();
    assert!(missing.is_empty(), "{missing:?} missing from {value}");
}

/// Asserts `user` is a user as the spec shows it: `id`, `username`,
/// `created_at` (RFC 3339 UTC) and `_links.self`, never a password or its
/// hash, and `email` exactly when `email` is `Some` (the viewer's own record).
#[track_caller]
pub fn assert_user_shape(user: &Value, email: Option<&str>) {
    assert_has_keys(user, &["id", "username", "created_at", "_links"]);
    let id = id_of(user);
    assert!(user["username"].is_string(), "{user}");
    assert_rfc3339_utc(&user["created_at"]);
    assert_eq!(user["_links"]["self"], format!("/api/users/{id}"), "{user}");
    for key in keys(user) {
        let key = key.to_lowercase();
        assert!(
            !key.contains("password") && !key.contains("hash"),
            "{key} in {user}"
        );
    }
    assert!(!user.to_string().contains("$scrypt$"), "{user}");
    match email {
        Some(email) => assert_eq!(user["email"], email, "{user}"),
        None => assert!(user.get("email").is_none(), "email shown: {user}"),
    }
}

/// Asserts `value` is an RFC 3339 timestamp in UTC and returns it parsed.
#[track_caller]
pub fn assert_rfc3339_utc(value: &Value) -> time::OffsetDateTime {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"));
    assert!(t.offset().is_utc(), "{s:?} is not UTC");
    t
}

/// Asserts `token` is `lk_` followed by 43 base64url characters.
#[track_caller]
pub fn assert_token_shape(token: &str) {
    let body = token
        .strip_prefix("lk_")
        .unwrap_or_else(|| panic!("{token:?} lacks the lk_ prefix"));
    assert_eq!(body.len(), 43, "{token:?}");
    assert!(
        body.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token:?} is not base64url"
    );
}

/// The header and payload of a compact JWS, decoded. Panics unless it is
/// three base64url parts whose first two are JSON objects.
#[track_caller]
pub fn jws_parts(token: &str) -> (Value, Value) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token:?} is not three dot-separated parts");
    for part in &parts {
        assert!(
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{part:?} of {token:?} is not base64url without padding"
        );
    }
    let decode = |part: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("{part:?}: {e}"));
        let value: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{part:?} is not JSON: {e}"));
        assert!(value.is_object(), "not an object: {value}");
        value
    };
    (decode(parts[0]), decode(parts[1]))
}

/// The `refresh_token` field of a token response.
pub fn refresh_secret(issued: &Value) -> String {
    issued["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {issued}"))
        .to_owned()
}
