//! Signed access tokens (`tokens.format = "jwt"`): what a login returns,
//! the claims, using them everywhere, switching modes, the JWKS and key
//! rotation, forged tokens, and an independent verifier.

use crate::support::{
    ADMIN, INVALID_TOKEN, PASSWORD, SESSION_KEYS, TestServer, assert_has_keys, assert_rfc3339_utc,
    assert_token_shape, id_of, jws_parts, jwt_mode, path_of, refresh_secret, secret,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The clock, in the Unix seconds that JWT claims use.
pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// base64url without padding, as JWS uses.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON value as a JWS part.
pub(crate) fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// The three encoded parts of a compact JWS.
pub(crate) fn parts(token: &str) -> [&str; 3] {
    let mut it = token.split('.');
    let parts = [it.next(), it.next(), it.next()].map(Option::unwrap);
    assert!(it.next().is_none(), "{token:?} has more than three parts");
    parts
}

/// Registers `alice` and logs her in; returns the token response.
pub(crate) async fn alice_session(app: &TestServer) -> Value {
    app.register("alice", PASSWORD).await;
    app.issue_token("alice", PASSWORD).await
}

/// The one key of a JWKS with this `kid`.
#[track_caller]
pub(crate) fn jwk<'a>(jwks: &'a Value, kid: &str) -> &'a Value {
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array in {jwks}"))
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {jwks}"))
}

/// Asserts `token` is refused as a bearer credential, on a plain and an
/// admin-only endpoint alike.
pub(crate) async fn assert_refused(app: &TestServer, token: &str) {
    for path in ["/api/resource", "/api/me", "/api/admin/resource"] {
        app.get_as(path, token).refused(INVALID_TOKEN).await;
    }
}

/// The kid in `keys rotate`'s "new signing key KID is current".
#[track_caller]
fn new_kid(stdout: &str) -> String {
    stdout
        .trim()
        .strip_prefix("new signing key ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no kid in {stdout:?}"))
        .to_owned()
}

/// Runs `latchkey keys rotate` on a stopped server's data dir, from an empty
/// working dir so no `config.toml` is read; returns its stdout.
fn rotate_keys(data_dir: &Path) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["keys", "rotate", "--data-dir"])
        .arg(data_dir)
        .current_dir(cwd.path())
        .env("LATCHKEY_PASSWORD__SCRYPT_LOG_N", "4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keys rotate failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_login_in_jwt_mode_returns_a_signed_access_token_and_a_refresh_token() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let response = app.register_and_log_in("alice").await;
    let issued = response.json();
    assert_has_keys(&issued, SESSION_KEYS);
    assert_eq!(issued["token_type"], "Bearer");
    id_of(&issued);
    let expires_in = issued["expires_in"].as_i64().unwrap();
    assert!((899..=900).contains(&expires_in), "{issued}");
    let expires_at = assert_rfc3339_utc(&issued["expires_at"]).unix_timestamp();
    assert!(
        (now() + 895..=now() + 901).contains(&expires_at),
        "{issued}"
    );
    assert_token_shape(&refresh_secret(&issued));
    let refresh_expires_at = assert_rfc3339_utc(&issued["refresh_expires_at"]).unix_timestamp();
    let thirty_days = 2_592_000;
    assert!(
        (now() + thirty_days - 5..=now() + thirty_days + 1).contains(&refresh_expires_at),
        "{issued}"
    );
    let (header, _) = jws_parts(&secret(&issued));
    assert_eq!(header["alg"], "EdDSA", "{header}");
    assert_eq!(header["typ"], "JWT", "{header}");
    assert!(
        header["kid"].as_str().is_some_and(|kid| !kid.is_empty()),
        "{header}"
    );
}

#[tokio::test]
async fn the_access_tokens_claims_name_issuer_user_audience_times_session_and_role() {
    let app = TestServer::spawn_with(|cfg| {
        jwt_mode(cfg);
        cfg.tokens.access_ttl_seconds = 120;
    })
    .await;
    let alice = app.register("alice", PASSWORD).await;
    let before = now();
    let issued = app.issue_token("alice", PASSWORD).await;
    let after = now();
    assert_eq!(issued["expires_in"], 120, "{issued}");
    let (_, claims) = jws_parts(&secret(&issued));
    assert_eq!(claims["iss"], "latchkey", "{claims}");
    assert_eq!(claims["sub"], id_of(&alice).to_string(), "{claims}");
    assert!(
        claims["aud"] == "latchkey" || claims["aud"] == json!(["latchkey"]),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat), "{claims}");
    assert_eq!(claims["nbf"].as_i64(), Some(iat), "{claims}");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 120), "{claims}");
    assert_eq!(
        assert_rfc3339_utc(&issued["expires_at"]).unix_timestamp(),
        iat + 120
    );
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "{claims}"
    );
    assert_eq!(claims["sid"], id_of(&issued).to_string(), "{claims}");
    assert_eq!(claims["role"], "user", "{claims}");
    // Each login is its own session with its own token id.
    let second = app.issue_token("alice", PASSWORD).await;
    let (_, second_claims) = jws_parts(&secret(&second));
    assert_ne!(second_claims["jti"], claims["jti"]);
    assert_ne!(second_claims["sid"], claims["sid"]);
}

#[tokio::test]
async fn the_configured_issuer_and_audience_are_the_tokens_iss_and_aud() {
    let app = TestServer::spawn_with(|cfg| {
        jwt_mode(cfg);
        cfg.tokens.issuer = "https://auth.example".into();
        cfg.tokens.audience = "api.example".into();
    })
    .await;
    let issued = alice_session(&app).await;
    let (_, claims) = jws_parts(&secret(&issued));
    assert_eq!(claims["iss"], "https://auth.example", "{claims}");
    assert!(
        claims["aud"] == "api.example" || claims["aud"] == json!(["api.example"]),
        "{claims}"
    );
    app.assert_token_accepted(&secret(&issued)).await;
}

#[tokio::test]
async fn a_signed_access_token_works_as_bearer_on_every_protected_endpoint() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let other = app.issue_token("alice", PASSWORD).await;
    let token = secret(&issued);
    let me = path_of(&alice);
    for path in ["/api/users", &me, "/api/me", "/api/tokens", "/api/resource"] {
        app.get_as(path, &token).expect(200).await;
    }
    let hello = app.get_as("/api/resource", &token).send().await.json();
    assert_eq!(hello, json!({ "data": "Hello, alice!" }));
    // The other ways of sending a token work too.
    for authorization in [format!("bearer {token}"), token.clone()] {
        app.get("/api/me")
            .authorization(&authorization)
            .expect(200)
            .await;
    }
    let patched = app
        .patch_as(&me, &token)
        .json(&json!({ "email": "alice@example.com", "current_password": PASSWORD }))
        .expect_json()
        .await;
    assert_eq!(patched["email"], "alice@example.com");
    app.delete_as(&format!("/api/tokens/{}", id_of(&other)), &token)
        .expect(204)
        .await;
    app.delete_as("/api/tokens", &token).expect(204).await;
    let last = app.token_for("alice", PASSWORD).await;
    app.delete_as(&me, &last).expect(204).await;
}

#[tokio::test]
async fn a_role_change_counts_at_once_although_the_tokens_role_claim_is_stale() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    let token = app.token_for("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    app.assert_admin_refused(&token).await;
    let path = path_of(&alice);
    app.set_role(&admin, &path, "admin").await;
    let (_, claims) = jws_parts(&token);
    assert_eq!(claims["role"], "user", "{claims}");
    app.get_as("/api/admin/resource", &token).expect(200).await;
    app.set_role(&admin, &path, "user").await;
    app.assert_admin_refused(&token).await;
    // The same holds the other way: a demoted admin's "admin" claim buys nothing.
    let (_, admin_claims) = jws_parts(&admin);
    assert_eq!(admin_claims["role"], "admin", "{admin_claims}");
    let root = app.user_named(&admin, ADMIN).await;
    app.set_role(&admin, &path, "admin").await;
    app.set_role(&token, &path_of(&root), "user").await;
    app.assert_admin_refused(&admin).await;
}

#[tokio::test]
async fn a_disabled_users_access_token_dies_at_once() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    app.assert_token_accepted(&secret(&issued)).await;
    app.patch_as(&path_of(&alice), &admin)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;
    assert_refused(&app, &secret(&issued)).await;
    app.post_refresh(&refresh_secret(&issued))
        .await
        .refused(INVALID_TOKEN);
}

#[tokio::test]
async fn an_opaque_token_keeps_working_after_a_restart_in_jwt_mode() {
    let app = TestServer::spawn().await;
    let opaque = app.register_and_issue_token("alice").await;
    assert_token_shape(&opaque);
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    for path in ["/api/resource", "/api/me", "/api/tokens"] {
        app.get_as(path, &opaque).expect(200).await;
    }
    // New logins get the new format, and both kinds work side by side.
    let issued = app.issue_token("alice", PASSWORD).await;
    jws_parts(&secret(&issued));
    app.assert_token_accepted(&secret(&issued)).await;
    let listed = app.get_as("/api/tokens", &opaque).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test]
async fn a_signed_token_and_its_refresh_token_keep_working_after_a_restart_in_opaque_mode() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, |_| {}).await;
    for path in ["/api/resource", "/api/me", "/api/tokens"] {
        app.get_as(path, &secret(&issued)).expect(200).await;
    }
    let opaque = app.token_for("alice", PASSWORD).await;
    assert_token_shape(&opaque);
    let refreshed = app
        .post_refresh(&refresh_secret(&issued))
        .await
        .assert_status(200)
        .json();
    app.assert_token_accepted(&secret(&refreshed)).await;
}

#[tokio::test]
async fn the_jwks_publishes_the_ed25519_public_key_named_by_the_tokens_kid() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let (header, _) = jws_parts(&secret(&issued));
    let kid = header["kid"].as_str().unwrap();
    let response = app.get("/.well-known/jwks.json").expect(200).await;
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{response:?}"
    );
    let jwks = response.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    let key = jwk(&jwks, kid);
    assert_eq!(key["kty"], "OKP", "{key}");
    assert_eq!(key["crv"], "Ed25519", "{key}");
    let x = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("x is not base64url: {e}"));
    assert_eq!(x.len(), 32, "{key}");
    // Only the public half is published.
    assert!(key.get("d").is_none(), "private key published: {key}");
}

#[tokio::test]
async fn after_keys_rotate_new_tokens_use_the_new_key_and_older_tokens_still_verify() {
    let app = TestServer::spawn_with(jwt_mode).await;
    // The first key is made at start; rotate in a later second, so this test
    // is about rotation and not about keys sharing a second (see below).
    let started = now();
    let before = alice_session(&app).await;
    let (header, _) = jws_parts(&secret(&before));
    let old_kid = header["kid"].as_str().unwrap().to_owned();
    let dir = app.shutdown().await;
    while now() <= started {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stdout = rotate_keys(dir.path());
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    let jwks = app.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    let new_kid = new_kid(&stdout);
    assert!(kids.contains(&new_kid.as_str()), "{new_kid} not in {jwks}");
    jwk(&jwks, &old_kid);
    let after = app.issue_token("alice", PASSWORD).await;
    let (header, _) = jws_parts(&secret(&after));
    assert_eq!(header["kid"], new_kid, "new tokens must use the new key");
    for token in [secret(&before), secret(&after)] {
        app.assert_token_accepted(&token).await;
    }
    // A refresh signs with the new key too.
    let refreshed = app
        .post_refresh(&refresh_secret(&before))
        .await
        .assert_status(200)
        .json();
    let (header, _) = jws_parts(&secret(&refreshed));
    assert_eq!(header["kid"], new_kid);
}

#[tokio::test]
async fn the_newest_key_signs_even_when_rotations_share_a_second() {
    // Start at the top of a second, so the first key and the rotations below
    // (about 0.1 s each) are all made within it, as scripted rotations are.
    let subsec = time::OffsetDateTime::now_utc().millisecond();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - subsec))).await;
    let started = now();
    let app = TestServer::spawn_with(jwt_mode).await;
    let before = alice_session(&app).await;
    let dir = app.shutdown().await;
    let mut kids = vec![
        jws_parts(&secret(&before)).0["kid"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    // Rotate until the newest kid does not sort first: then a tie between
    // same-second keys broken by kid order would pick an older key.
    loop {
        let kid = new_kid(&rotate_keys(dir.path()));
        let sorts_first = kids.iter().all(|k| kid < *k);
        kids.push(kid);
        if !sorts_first || kids.len() == 10 {
            break;
        }
    }
    let newest = kids.last().unwrap().clone();
    if now() != started {
        eprintln!("note: the rotations crossed a second boundary; the tie was not exercised");
    }
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    let jwks = app.jwks().await;
    for kid in &kids {
        jwk(&jwks, kid);
    }
    let after = app.issue_token("alice", PASSWORD).await;
    let (header, _) = jws_parts(&secret(&after));
    assert_eq!(
        header["kid"], newest,
        "the key made last ({newest}) must sign; keys in order made: {kids:?}"
    );
    app.assert_token_accepted(&secret(&before)).await;
}

/// Whether `python3` can import PyJWT and `cryptography`. Off CI a missing
/// PyJWT skips the test that needs it; on CI (`CI=true`) it is a failure.
fn pyjwt_available(test: &str) -> bool {
    let available = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|out| out.status.success());
    if available {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but python3 cannot import jwt and cryptography: pip install 'pyjwt[crypto]'"
        );
    }
    eprintln!(
        "SKIPPED {test}: python3 cannot import jwt and cryptography; \
         pip install 'pyjwt[crypto]' to run it (it is required when CI=true)"
    );
    false
}

/// Runs `tests/jwks_verify.py JWKS_URL TOKEN` off the runtime's thread (the
/// server it fetches from runs on that thread).
async fn run_verifier(jwks_url: String, token: String) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jwks_verify.py");
    tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(jwks_url)
            .arg(token)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_independent_verifier_accepts_the_token_against_the_published_jwks() {
    if !pyjwt_available("an_independent_verifier_accepts_the_token_against_the_published_jwks") {
        return;
    }
    let app = TestServer::spawn_with(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let token = secret(&issued);
    let jwks_url = app.url("/.well-known/jwks.json");
    let out = run_verifier(jwks_url.clone(), token.clone()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verifier failed: {stderr}");
    let claims: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verifier printed no JSON ({e}); stderr: {stderr}"));
    assert_eq!(claims["sub"], id_of(&alice).to_string(), "{claims}");
    assert_eq!(claims["sid"], id_of(&issued).to_string(), "{claims}");
    assert_eq!(claims["iss"], "latchkey", "{claims}");
    // The verifier really verifies: a flipped signature byte fails it.
    let [header, payload, signature] = parts(&token);
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 0x01;
    let forged = format!("{header}.{payload}.{}", b64(&bytes));
    let out = run_verifier(jwks_url, forged).await;
    assert!(!out.status.success(), "verifier accepted a forged token");
}

#[tokio::test]
async fn a_signed_token_as_the_basic_username_authenticates_in_both_token_modes() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let token = secret(&alice_session(&app).await);
    let as_username =
        |app: &TestServer, presented: &str| app.get("/api/resource").basic(presented, "unused");
    as_username(&app, &token).expect(200).await;
    as_username(&app, &format!(" {token}")).expect(200).await;
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, |_| {}).await;
    as_username(&app, &token).expect(200).await;
    // Refused as a token, not checked as a password.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    as_username(&app, &forged).refused(INVALID_TOKEN).await;
}
