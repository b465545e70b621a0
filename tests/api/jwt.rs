//! Signed access tokens (`tokens.format = "jwt"`): what a login returns,
//! the claims, using them everywhere, switching modes, the JWKS and key
//! rotation, forged tokens, and an independent verifier.

use crate::support::{
    ADMIN, PASSWORD, SESSION_KEYS, TestServer, assert_has_keys, assert_rfc3339_utc,
    assert_token_shape, id_of, jws_parts, jwt_mode, path_of, refresh_secret, secret,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{
    Claims, Duration as JwtDuration, Ed25519KeyPair, EdDSAKeyPairLike, HS256Key, MACLike,
};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The clock, in the Unix seconds that JWT claims use.
fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// base64url without padding, as JWS uses.
fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON value as a JWS part.
fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// The three encoded parts of a compact JWS.
fn parts(token: &str) -> [&str; 3] {
    let mut it = token.split('.');
    let parts = [it.next(), it.next(), it.next()].map(Option::unwrap);
    assert!(it.next().is_none(), "{token:?} has more than three parts");
    parts
}

/// Registers `alice` and logs her in; returns the token response.
async fn alice_session(app: &TestServer) -> Value {
    app.register("alice", PASSWORD).await;
    app.issue_token("alice", PASSWORD).await
}

/// The one key of a JWKS with this `kid`.
#[track_caller]
fn jwk<'a>(jwks: &'a Value, kid: &str) -> &'a Value {
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array in {jwks}"))
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("no key {kid} in {jwks}"))
}

/// Asserts `token` is refused as a bearer credential, on a plain and an
/// admin-only endpoint alike.
async fn assert_refused(app: &TestServer, token: &str) {
    for path in ["/api/resource", "/api/me", "/api/admin/resource"] {
        app.get_as(path, token)
            .expect_problem(401, "invalid_token")
            .await;
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
    app.register("alice", PASSWORD).await;
    let response = app
        .try_issue_token("alice", PASSWORD)
        .await
        .assert_status(200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
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
    app.get_as("/api/admin/resource", &token)
        .expect_problem(403, "insufficient_scope")
        .await;
    let path = path_of(&alice);
    app.patch_as(&path, &admin)
        .json(&json!({ "role": "admin" }))
        .expect(200)
        .await;
    let (_, claims) = jws_parts(&token);
    assert_eq!(claims["role"], "user", "{claims}");
    app.get_as("/api/admin/resource", &token).expect(200).await;
    app.patch_as(&path, &admin)
        .json(&json!({ "role": "user" }))
        .expect(200)
        .await;
    app.get_as("/api/admin/resource", &token)
        .expect_problem(403, "insufficient_scope")
        .await;
    // The same holds the other way: a demoted admin's "admin" claim buys nothing.
    let (_, admin_claims) = jws_parts(&admin);
    assert_eq!(admin_claims["role"], "admin", "{admin_claims}");
    let root = app.user_named(&admin, ADMIN).await;
    app.patch_as(&path, &admin)
        .json(&json!({ "role": "admin" }))
        .expect(200)
        .await;
    app.patch_as(&path_of(&root), &token)
        .json(&json!({ "role": "user" }))
        .expect(200)
        .await;
    app.get_as("/api/admin/resource", &admin)
        .expect_problem(403, "insufficient_scope")
        .await;
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
        .assert_problem(401, "invalid_token");
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

// The rule that drops a replaced key (from the JWKS and from verification)
// once access_ttl_seconds + 60 s have passed since its replacement is not
// tested here: even with access_ttl_seconds = 1 that is a 62 s wait.

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let [_, payload, _] = parts(&token);
    let header = b64_json(&json!({ "alg": "none", "typ": "JWT" }));
    assert_refused(&app, &format!("{header}.{payload}.")).await;
    // Also with the server's kid, and with a signature left on.
    let (real_header, _) = jws_parts(&token);
    let header = b64_json(&json!({ "alg": "none", "typ": "JWT", "kid": real_header["kid"] }));
    assert_refused(&app, &format!("{header}.{payload}.")).await;
    let [_, _, signature] = parts(&token);
    assert_refused(&app, &format!("{header}.{payload}.{signature}")).await;
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let (real_header, _) = jws_parts(&token);
    let kid = real_header["kid"].as_str().unwrap();
    let jwks = app.jwks().await;
    let x_text = jwk(&jwks, kid)["x"].as_str().unwrap().to_owned();
    let x_bytes = URL_SAFE_NO_PAD.decode(&x_text).unwrap();
    let [_, payload, _] = parts(&token);
    // Algorithm confusion: a verifier that takes `alg` from the token would
    // use the public key as an HMAC secret. Try the raw key and its text.
    for secret_key in [x_bytes.as_slice(), x_text.as_bytes()] {
        for header in [
            json!({ "alg": "HS256", "typ": "JWT", "kid": kid }),
            json!({ "alg": "HS256", "typ": "JWT" }),
        ] {
            let signing_input = format!("{}.{payload}", b64_json(&header));
            let tag = HS256Key::from_bytes(secret_key).authentication_tag(signing_input.as_bytes());
            assert_eq!(tag.len(), 32);
            assert_refused(&app, &format!("{signing_input}.{}", b64(&tag))).await;
        }
    }
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn a_token_with_an_altered_signature_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let [header, payload, signature] = parts(&token);
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert_eq!(bytes.len(), 64, "an Ed25519 signature is 64 bytes");
    for i in [0, 31, 63] {
        let mut altered = bytes.clone();
        altered[i] ^= 0x01;
        assert_refused(&app, &format!("{header}.{payload}.{}", b64(&altered))).await;
    }
    bytes.truncate(63);
    assert_refused(&app, &format!("{header}.{payload}.{}", b64(&bytes))).await;
    assert_refused(&app, &format!("{header}.{payload}.")).await;
    assert_refused(&app, &format!("{header}.{payload}")).await;
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn a_token_naming_an_unknown_or_no_kid_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let (mut header, _) = jws_parts(&token);
    let [_, payload, signature] = parts(&token);
    header["kid"] = json!("no-such-key");
    assert_refused(
        &app,
        &format!("{}.{payload}.{signature}", b64_json(&header)),
    )
    .await;
    header.as_object_mut().unwrap().remove("kid");
    assert_refused(
        &app,
        &format!("{}.{payload}.{signature}", b64_json(&header)),
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_by_a_key_the_server_does_not_hold_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let (real_header, claims) = jws_parts(&secret(&issued));
    let server_kid = real_header["kid"].as_str().unwrap();
    let custom = json!({ "sid": claims["sid"], "role": "admin" });
    let sub = claims["sub"].as_str().unwrap().to_owned();
    // A well-formed EdDSA token from a stranger's key, under the server's
    // kid and under its own.
    for kid in [server_kid, "attacker"] {
        let forged_claims = Claims::with_custom_claims(custom.clone(), JwtDuration::from_secs(900))
            .with_issuer("latchkey")
            .with_audience("latchkey")
            .with_subject(&sub);
        let forged = Ed25519KeyPair::generate()
            .with_key_id(kid)
            .sign(forged_claims)
            .unwrap();
        assert_eq!(jws_parts(&forged).0["alg"], "EdDSA");
        assert_refused(&app, &forged).await;
    }
}

#[tokio::test]
async fn a_tampered_payload_under_the_original_signature_is_refused() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let admin = app.admin_token().await;
    let root = app.user_named(&admin, ADMIN).await;
    let [header, _, signature] = parts(&token);
    let (_, claims) = jws_parts(&token);
    let mut as_admin = claims.clone();
    as_admin["role"] = json!("admin");
    let mut as_root = claims.clone();
    as_root["sub"] = json!(id_of(&root).to_string());
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    for tampered in [as_admin, as_root, longer] {
        assert_refused(
            &app,
            &format!("{header}.{}.{signature}", b64_json(&tampered)),
        )
        .await;
    }
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn an_expired_token_is_accepted_within_the_60_second_clock_skew() {
    let app = TestServer::spawn_with(|cfg| {
        jwt_mode(cfg);
        cfg.tokens.access_ttl_seconds = 1;
    })
    .await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let (_, claims) = jws_parts(&token);
    let exp = claims["exp"].as_i64().unwrap();
    while now() <= exp + 1 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Past `exp`, but within the documented 60 s allowance for clock skew.
    app.assert_token_accepted(&token).await;
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let token = secret(&issued);
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, |cfg| {
        jwt_mode(cfg);
        cfg.tokens.audience = "someone-else".into();
    })
    .await;
    assert_refused(&app, &token).await;
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, |cfg| {
        jwt_mode(cfg);
        cfg.tokens.issuer = "https://impostor.example".into();
    })
    .await;
    assert_refused(&app, &token).await;
    // Back to the settings it was issued under, it is good again: the
    // refusals were the claims, not the restarts.
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    app.assert_token_accepted(&token).await;
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

/// The server's own signing key, read from its stopped store: what a
/// leaked backup would give an attacker.
fn server_signing_key(data_dir: &Path) -> Ed25519KeyPair {
    let store =
        latchkey::store::Store::open(data_dir, &latchkey::store::StoreOptions::default()).unwrap();
    let keys = store.signing_keys().unwrap();
    assert_eq!(keys.len(), 1, "one key before any rotation");
    Ed25519KeyPair::from_bytes(&keys[0].key_pair)
        .unwrap()
        .with_key_id(&keys[0].kid)
}

#[tokio::test]
async fn a_token_signed_with_the_servers_key_for_longer_than_the_access_lifetime_is_refused() {
    let app = TestServer::spawn_with(jwt_mode).await;
    let issued = alice_session(&app).await;
    let (_, claims) = jws_parts(&secret(&issued));
    let dir = app.shutdown().await;
    let key = server_signing_key(dir.path());
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    let custom = json!({ "sid": claims["sid"], "role": "user" });
    let sign = |lifetime: u64| {
        let forged = Claims::with_custom_claims(custom.clone(), JwtDuration::from_secs(lifetime))
            .with_issuer("latchkey")
            .with_audience("latchkey")
            .with_subject(claims["sub"].as_str().unwrap());
        key.sign(forged).unwrap()
    };
    // The default access lifetime is 900 s, and 60 s of skew is allowed.
    for lifetime in [900, 960] {
        app.assert_token_accepted(&sign(lifetime)).await;
    }
    for lifetime in [961, 86_400, 10 * 365 * 86_400] {
        assert_refused(&app, &sign(lifetime)).await;
    }
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
    as_username(&app, &forged)
        .expect_problem(401, "invalid_token")
        .await;
}
