//! Sessions in jwt mode: refresh-token rotation and reuse detection,
//! instant revocation of signed access tokens, listing sessions, and RFC 7662
//! introspection.

use crate::support::{
    ADMIN, INSUFFICIENT_SCOPE, INVALID_CREDENTIALS, INVALID_TOKEN, PASSWORD, Resp, SESSION_KEYS,
    TestServer, assert_has_keys, assert_token_shape, id_of, jws_parts, jwt_mode, path_of,
    refresh_secret, secret,
};
use serde_json::{Value, json};

/// Asserts `token` works as a bearer token.
async fn assert_works(app: &TestServer, token: &str) {
    app.assert_token_accepted(token).await;
}

/// Asserts `token` is refused as a bearer token with `invalid_token`.
async fn assert_dead(app: &TestServer, token: &str) {
    app.assert_token_refused(token).await;
}

/// Refreshes `refresh_token`, which must succeed; returns the response.
async fn refreshed(app: &TestServer, refresh_token: &str) -> Value {
    app.post_refresh(refresh_token)
        .await
        .assert_status(200)
        .json()
}

/// A jwt-mode server with `alice` registered.
async fn jwt_app_with_alice() -> (TestServer, Value) {
    let app = TestServer::spawn_with(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    (app, alice)
}

/// POST /api/tokens/introspect, form-encoded, as `bearer`.
async fn introspect(app: &TestServer, bearer: &str, token: &str) -> Resp {
    app.post_as("/api/tokens/introspect", bearer)
        .body_as(
            "application/x-www-form-urlencoded",
            format!("token={token}"),
        )
        .send()
        .await
}

/// Asserts the introspection answer is exactly `{"active": false}`.
async fn assert_inactive(app: &TestServer, admin: &str, token: &str) {
    let answer = introspect(app, admin, token)
        .await
        .assert_status(200)
        .json();
    assert_eq!(answer, json!({ "active": false }), "{token}");
}

#[tokio::test]
async fn a_refresh_returns_a_new_access_and_refresh_token_for_the_same_session() {
    let (app, _) = jwt_app_with_alice().await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let response = app
        .post_refresh(&refresh_secret(&issued))
        .await
        .assert_status(200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let next = response.json();
    assert_has_keys(&next, SESSION_KEYS);
    assert_eq!(next["token_type"], "Bearer");
    assert_eq!(id_of(&next), id_of(&issued), "same session");
    assert_ne!(secret(&next), secret(&issued));
    assert_ne!(refresh_secret(&next), refresh_secret(&issued));
    assert_token_shape(&refresh_secret(&next));
    let (_, claims) = jws_parts(&secret(&next));
    let (_, old_claims) = jws_parts(&secret(&issued));
    assert_eq!(claims["sid"], id_of(&issued).to_string(), "{claims}");
    assert_eq!(claims["sub"], old_claims["sub"]);
    assert_ne!(claims["jti"], old_claims["jti"]);
    assert_works(&app, &secret(&next)).await;
    // The old refresh token is spent.
    app.post_refresh(&refresh_secret(&issued))
        .await
        .refused(INVALID_TOKEN);
}

#[tokio::test]
async fn a_chain_of_refreshes_keeps_one_session_alive() {
    let (app, _) = jwt_app_with_alice().await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let session = id_of(&issued);
    let mut refresh = refresh_secret(&issued);
    for _ in 0..3 {
        let next = refreshed(&app, &refresh).await;
        assert_eq!(id_of(&next), session);
        assert_ne!(refresh_secret(&next), refresh);
        refresh = refresh_secret(&next);
        assert_works(&app, &secret(&next)).await;
        let listed = app
            .get_as("/api/tokens", &secret(&next))
            .expect_json()
            .await;
        assert_eq!(
            listed["items"],
            json!([listed["items"][0].clone()]),
            "one session: {listed}"
        );
        assert_eq!(id_of(&listed["items"][0]), session, "{listed}");
        assert_eq!(listed["items"][0]["current"], true, "{listed}");
    }
}

#[tokio::test]
async fn a_spent_refresh_token_presented_again_kills_its_whole_session_and_no_other() {
    let (app, _) = jwt_app_with_alice().await;
    let stolen = app.issue_token("alice", PASSWORD).await;
    let other = app.issue_token("alice", PASSWORD).await;
    let first = refreshed(&app, &refresh_secret(&stolen)).await;
    let second = refreshed(&app, &refresh_secret(&first)).await;
    for token in [&stolen, &first, &second] {
        assert_works(&app, &secret(token)).await;
    }
    // The thief (or the victim) replays the spent first refresh token.
    app.post_refresh(&refresh_secret(&stolen))
        .await
        .refused(INVALID_TOKEN);
    app.post_refresh(&refresh_secret(&second))
        .await
        .refused(INVALID_TOKEN);
    for token in [&stolen, &first, &second] {
        assert_dead(&app, &secret(token)).await;
    }
    // Another session of the same user is untouched.
    assert_works(&app, &secret(&other)).await;
    let renewed = refreshed(&app, &refresh_secret(&other)).await;
    assert_works(&app, &secret(&renewed)).await;
    let listed = app
        .get_as("/api/tokens", &secret(&renewed))
        .expect_json()
        .await;
    let ids: Vec<u64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, vec![id_of(&other)], "{listed}");
}

#[tokio::test]
async fn a_refresh_token_never_works_as_an_access_token() {
    let (app, _) = jwt_app_with_alice().await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let refresh = refresh_secret(&issued);
    for path in ["/api/resource", "/api/me", "/api/tokens"] {
        app.get_as(path, &refresh).refused(INVALID_TOKEN).await;
    }
    app.get("/api/me")
        .basic(&refresh, "unused")
        .refused(INVALID_TOKEN)
        .await;
    app.post_as("/api/tokens", &refresh)
        .refused(INVALID_CREDENTIALS)
        .await;
    // Refused as a credential, it is still a good refresh token.
    refreshed(&app, &refresh).await;
}

#[tokio::test]
async fn an_access_token_never_works_as_a_refresh_token() {
    let (app, _) = jwt_app_with_alice().await;
    let issued = app.issue_token("alice", PASSWORD).await;
    app.post_refresh(&secret(&issued))
        .await
        .refused(INVALID_TOKEN);
    assert_works(&app, &secret(&issued)).await;
    refreshed(&app, &refresh_secret(&issued)).await;
    // Nor does an opaque access token, nor garbage.
    let app = TestServer::spawn().await;
    let opaque = app.register_and_issue_token("alice").await;
    for bogus in [opaque.as_str(), "lk_garbage", "not a token", ""] {
        app.post_refresh(bogus).await.refused(INVALID_TOKEN);
    }
    assert_works(&app, &opaque).await;
}

#[tokio::test]
async fn deleting_api_tokens_with_a_signed_token_revokes_its_session_at_once() {
    let (app, _) = jwt_app_with_alice().await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let other = app.issue_token("alice", PASSWORD).await;
    app.delete_as("/api/tokens", &secret(&issued))
        .expect(204)
        .await;
    assert_dead(&app, &secret(&issued)).await;
    app.post_refresh(&refresh_secret(&issued))
        .await
        .refused(INVALID_TOKEN);
    assert_works(&app, &secret(&other)).await;
}

#[tokio::test]
async fn deleting_a_session_by_id_revokes_it_at_once() {
    let (app, _) = jwt_app_with_alice().await;
    let keeper = app.issue_token("alice", PASSWORD).await;
    let victim = app.issue_token("alice", PASSWORD).await;
    // A refreshed access token of the session dies with it too.
    let victim_next = refreshed(&app, &refresh_secret(&victim)).await;
    app.delete_as(&format!("/api/tokens/{}", id_of(&victim)), &secret(&keeper))
        .expect(204)
        .await;
    assert_dead(&app, &secret(&victim)).await;
    assert_dead(&app, &secret(&victim_next)).await;
    app.post_refresh(&refresh_secret(&victim_next))
        .await
        .refused(INVALID_TOKEN);
    assert_works(&app, &secret(&keeper)).await;
    refreshed(&app, &refresh_secret(&keeper)).await;
}

#[tokio::test]
async fn a_password_change_revokes_every_other_session_and_keeps_the_current_one() {
    let (app, alice) = jwt_app_with_alice().await;
    let current = app.issue_token("alice", PASSWORD).await;
    let other = app.issue_token("alice", PASSWORD).await;
    let third = app.issue_token("alice", PASSWORD).await;
    app.patch_as(&path_of(&alice), &secret(&current))
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
    assert_works(&app, &secret(&current)).await;
    for gone in [&other, &third] {
        assert_dead(&app, &secret(gone)).await;
        app.post_refresh(&refresh_secret(gone))
            .await
            .refused(INVALID_TOKEN);
    }
    let next = refreshed(&app, &refresh_secret(&current)).await;
    assert_works(&app, &secret(&next)).await;
    let listed = app
        .get_as("/api/tokens", &secret(&next))
        .expect_json()
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["current"], true, "{listed}");
}

#[tokio::test]
async fn deleting_the_account_kills_its_sessions() {
    let (app, alice) = jwt_app_with_alice().await;
    let first = app.issue_token("alice", PASSWORD).await;
    let second = app.issue_token("alice", PASSWORD).await;
    app.delete_as(&path_of(&alice), &secret(&first))
        .expect(204)
        .await;
    for session in [&first, &second] {
        assert_dead(&app, &secret(session)).await;
        app.post_refresh(&refresh_secret(session))
            .await
            .refused(INVALID_TOKEN);
    }
    // A new account of the same name does not inherit them.
    app.register("alice", PASSWORD).await;
    assert_dead(&app, &secret(&first)).await;
}

#[tokio::test]
async fn listing_tokens_shows_each_session_and_marks_the_one_in_use() {
    let (app, _) = jwt_app_with_alice().await;
    let first = app.issue_token("alice", PASSWORD).await;
    let second = app.issue_token("alice", PASSWORD).await;
    for (mine, theirs) in [(&first, &second), (&second, &first)] {
        let response = app.get_as("/api/tokens", &secret(mine)).expect(200).await;
        let listed = response.json();
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{listed}");
        let item = |id| items.iter().find(|i| id_of(i) == id).unwrap();
        assert_eq!(item(id_of(mine))["current"], true, "{listed}");
        assert_eq!(item(id_of(theirs))["current"], false, "{listed}");
        // Metadata only: never a secret.
        for secret_text in [secret(mine), refresh_secret(mine)] {
            assert!(!response.text().contains(&secret_text), "{listed}");
        }
    }
}

#[tokio::test]
async fn introspection_reports_live_signed_opaque_and_refresh_tokens_as_active() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    let alice = app.register("alice", PASSWORD).await;
    let issued = app.issue_token("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    let sub = id_of(&alice).to_string();

    let (_, claims) = jws_parts(&secret(&issued));
    let answer = introspect(&app, &admin, &secret(&issued))
        .await
        .assert_status(200)
        .json();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], sub, "{answer}");
    assert_eq!(answer["exp"], claims["exp"], "{answer}");
    assert_eq!(answer["token_type"], "access_token", "{answer}");
    assert_eq!(answer["username"], "alice", "{answer}");
    assert_eq!(answer["sid"], id_of(&issued).to_string(), "{answer}");

    let answer = introspect(&app, &admin, &refresh_secret(&issued))
        .await
        .assert_status(200)
        .json();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], sub, "{answer}");
    assert_eq!(answer["token_type"], "refresh_token", "{answer}");
    assert!(answer["exp"].is_i64(), "{answer}");
    // Introspecting a refresh token does not spend it.
    refreshed(&app, &refresh_secret(&issued)).await;

    let dir = app.shutdown().await;
    let app = TestServer::spawn_in(dir, |_| {}).await;
    let opaque = app.token_for("alice", PASSWORD).await;
    assert_token_shape(&opaque);
    let admin = app.token_for(ADMIN, PASSWORD).await;
    let answer = introspect(&app, &admin, &opaque)
        .await
        .assert_status(200)
        .json();
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], sub, "{answer}");
    assert_eq!(answer["token_type"], "access_token", "{answer}");
    assert!(answer["exp"].is_i64(), "{answer}");
}

#[tokio::test]
async fn introspection_of_a_revoked_spent_or_garbage_token_says_only_inactive() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    app.register("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    let revoked = app.issue_token("alice", PASSWORD).await;
    app.delete_as("/api/tokens", &secret(&revoked))
        .expect(204)
        .await;
    let rotated = app.issue_token("alice", PASSWORD).await;
    refreshed(&app, &refresh_secret(&rotated)).await;
    let token = secret(&rotated);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signing_input}.{flipped}{}", &signature[1..]);
    for dead in [
        secret(&revoked),
        refresh_secret(&revoked),
        refresh_secret(&rotated),
        tampered,
        format!("lk_{}", "A".repeat(43)),
        "lk_garbage".to_owned(),
        "garbage".to_owned(),
        "a.b.c".to_owned(),
    ] {
        assert_inactive(&app, &admin, &dead).await;
    }
}

#[tokio::test]
async fn introspection_is_for_admins_only() {
    let app = TestServer::spawn_with_admin(jwt_mode).await;
    let alice = app.register_and_issue_token("alice").await;
    introspect(&app, &alice, &alice)
        .await
        .refused(INSUFFICIENT_SCOPE);
    app.post("/api/tokens/introspect")
        .body_as(
            "application/x-www-form-urlencoded",
            format!("token={alice}"),
        )
        .refused(INVALID_CREDENTIALS)
        .await;
}
