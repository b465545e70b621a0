//! Forged signed tokens: every way to make a JWS the server did not issue
//! as it issued it (no algorithm, a MAC keyed with the public key, altered
//! signatures or payloads, unknown keys, other audiences, a stolen key
//! signing for too long) is refused.

use crate::jwt::{alice_session, assert_refused, b64, b64_json, jwk, now, parts};
use crate::support::{ADMIN, TestServer, id_of, jws_parts, jwt_mode, secret};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{
    Claims, Duration as JwtDuration, Ed25519KeyPair, EdDSAKeyPairLike, HS256Key, MACLike,
};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

// The rule that drops a replaced key (from the JWKS and from verification)
// once access_ttl_seconds + 60 s have passed since its replacement is not
// tested here: even with access_ttl_seconds = 1 that is a 62 s wait.

/// A jwt-mode server where alice has logged in; returns her access token.
async fn jwt_app_with_alices_token() -> (TestServer, String) {
    let app = TestServer::spawn_with(jwt_mode).await;
    let token = secret(&alice_session(&app).await);
    (app, token)
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let (app, token) = jwt_app_with_alices_token().await;
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
    let (app, token) = jwt_app_with_alices_token().await;
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
    let (app, token) = jwt_app_with_alices_token().await;
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
    let (app, token) = jwt_app_with_alices_token().await;
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
    let (mut app, token) = jwt_app_with_alices_token().await;
    let other_claims: [fn(&mut latchkey::config::Config); 2] = [
        |cfg| cfg.tokens.audience = "someone-else".into(),
        |cfg| cfg.tokens.issuer = "https://impostor.example".into(),
    ];
    for other in other_claims {
        let dir = app.shutdown().await;
        app = TestServer::spawn_in(dir, |cfg| {
            jwt_mode(cfg);
            other(cfg);
        })
        .await;
        assert_refused(&app, &token).await;
    }
    // Back to the settings it was issued under, it is good again: the
    // refusals were the claims, not the restarts.
    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, jwt_mode).await;
    app.assert_token_accepted(&token).await;
}

/// The server's own signing key, read from its stopped store: what a
/// leaked backup would give an attacker.
async fn server_signing_key(data_dir: &Path) -> Ed25519KeyPair {
    let store =
        latchkey::store::Store::open(data_dir, &latchkey::store::Settings::default()).unwrap();
    let keys = store.signing_keys().await.unwrap();
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
    let key = server_signing_key(dir.path()).await;
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
