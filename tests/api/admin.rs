//! Roles: the `admin` role and what it may do to other accounts, disabling
//! accounts, revoking a user's tokens; the guard that keeps one enabled
//! admin.

use crate::support::{
    ADMIN, ADMIN_EMAIL, FORBIDDEN, INSUFFICIENT_SCOPE, INVALID_CREDENTIALS,
    INVALID_CURRENT_PASSWORD, INVALID_REQUEST, INVALID_TOKEN, NOT_FOUND, PASSWORD, TestServer,
    assert_user_shape, path_of, secret,
};
use serde_json::json;

#[tokio::test]
async fn every_user_shows_a_role_and_a_registered_user_is_a_plain_user() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    assert_eq!(alice["role"], "user", "{alice}");
    let me = app.me(&alice_token).await;
    assert_eq!(me["role"], "user", "{me}");
    let admin = app.me_basic(ADMIN, PASSWORD).await;
    assert_eq!(admin["role"], "admin", "{admin}");
    assert_user_shape(&admin, Some(ADMIN_EMAIL));
    // The role is public: other users see it too.
    let seen = app
        .get_as(&path_of(&admin), &alice_token)
        .expect_json()
        .await;
    assert_eq!(seen["role"], "admin", "{seen}");
}

#[tokio::test]
async fn registration_cannot_ask_for_the_admin_role() {
    let app = TestServer::spawn().await;
    app.post("/api/users")
        .json(&json!({ "username": "mallory", "password": PASSWORD, "role": "admin" }))
        .refused(INVALID_REQUEST)
        .await;
    let mallory = app.register("mallory", PASSWORD).await;
    assert_eq!(mallory["role"], "user");
}

#[tokio::test]
async fn an_admin_may_patch_another_users_email_and_password() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    let admin = app.admin_token().await;
    let updated = app
        .patch_as(&path_of(&alice), &admin)
        .json(&json!({ "email": "changed@example.com", "password": "set by the admin" }))
        .expect_json()
        .await;
    assert_eq!(updated["id"], alice["id"]);
    assert_eq!(updated["email"], "changed@example.com");
    // Another's new password revokes all their tokens: none was the admin's.
    app.assert_token_refused(&alice_token).await;
    app.assert_password_refused("alice", PASSWORD).await;
    let me = app.me_basic("alice", "set by the admin").await;
    assert_eq!(me["email"], "changed@example.com");
}

#[tokio::test]
async fn an_admin_changing_their_own_password_needs_the_current_password() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let admin = app.admin_token().await;
    let me = app.me(&admin).await;
    app.patch_as(&path_of(&me), &admin)
        .json(&json!({ "password": "taken over by a thief" }))
        .refused(INVALID_CURRENT_PASSWORD)
        .await;
    app.patch_as(&path_of(&me), &admin)
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
}

#[tokio::test]
async fn an_admin_may_delete_any_account() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    let admin = app.admin_token().await;
    let response = app.delete_as(&path_of(&alice), &admin).expect(204).await;
    assert!(response.body.is_empty());
    app.assert_token_refused(&alice_token).await;
    app.get_as(&path_of(&alice), &admin)
        .refused(NOT_FOUND)
        .await;
    app.delete_as("/api/users/999999", &admin)
        .refused(NOT_FOUND)
        .await;
}

#[tokio::test]
async fn a_non_admin_may_not_change_role_disabled_or_confirmed_even_on_their_own_account() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    let (bob, _) = app.user_with_token("bob").await;
    for target in [&alice, &bob] {
        for patch in [
            json!({ "role": "admin" }),
            json!({ "role": "user" }),
            json!({ "disabled": true }),
            json!({ "disabled": false }),
            json!({ "confirmed": true }),
            // An allowed field does not carry an admin-only one through.
            json!({ "email": "alice2@example.com", "role": "admin" }),
        ] {
            app.patch_as(&path_of(target), &alice_token)
                .json(&patch)
                .refused(FORBIDDEN)
                .await;
        }
    }
    app.assert_admin_refused(&alice_token).await;
    let me = app.me(&alice_token).await;
    assert_eq!(me["role"], "user");
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn an_unknown_role_is_400_invalid_request() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, _) = app.user_with_token("alice").await;
    let admin = app.admin_token().await;
    for role in [json!("root"), json!("Admin"), json!(""), json!(1)] {
        app.patch_as(&path_of(&alice), &admin)
            .json(&json!({ "role": role }))
            .refused(INVALID_REQUEST)
            .await;
    }
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_users_next_request_without_a_new_login() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    let admin = app.admin_token().await;
    app.assert_admin_refused(&bob_token).await;

    let promoted = app.set_role(&admin, &path_of(&bob), "admin").await;
    assert_eq!(promoted["role"], "admin", "{promoted}");
    let resource = app
        .get_as("/api/admin/resource", &bob_token)
        .expect_json()
        .await;
    assert_eq!(resource, json!({ "data": "Hello, admin bob!" }));

    let demoted = app.set_role(&admin, &path_of(&bob), "user").await;
    assert_eq!(demoted["role"], "user", "{demoted}");
    app.assert_admin_refused(&bob_token).await;
    // The token itself was never touched.
    app.assert_token_accepted(&bob_token).await;
}

#[tokio::test]
async fn a_promoted_user_may_act_on_other_accounts_at_once() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    let (carol, _) = app.user_with_token("carol").await;
    let admin = app.admin_token().await;
    app.patch_as(&path_of(&carol), &bob_token)
        .json(&json!({ "email": "c@example.com" }))
        .refused(FORBIDDEN)
        .await;
    app.set_role(&admin, &path_of(&bob), "admin").await;
    app.patch_as(&path_of(&carol), &bob_token)
        .json(&json!({ "email": "c@example.com" }))
        .expect(200)
        .await;
}

#[tokio::test]
async fn the_admin_resource_is_200_for_an_admin() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let token = app.admin_token().await;
    for response in [
        app.get_as("/api/admin/resource", &token).send().await,
        app.get("/api/admin/resource").password(ADMIN).send().await,
    ] {
        let body = response.assert_status(200).json();
        assert_eq!(body, json!({ "data": "Hello, admin root!" }));
    }
}

#[tokio::test]
async fn the_admin_resource_is_403_insufficient_scope_with_a_bearer_challenge_for_others() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (_, token) = app.user_with_token("alice").await;
    for response in [
        app.get_as("/api/admin/resource", &token).send().await,
        app.get("/api/admin/resource")
            .password("alice")
            .send()
            .await,
    ] {
        let challenge = response.header_all("www-authenticate").join(", ");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "WWW-Authenticate: {challenge:?}"
        );
        let problem = response.refused(INSUFFICIENT_SCOPE);
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{problem}");
    }
    // Without credentials it is a 401 like any protected resource.
    app.get("/api/admin/resource")
        .refused(INVALID_CREDENTIALS)
        .await;
}

#[tokio::test]
async fn admins_see_every_users_email_in_the_list_and_others_only_their_own() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    let (bob, _) = app.user_with_token("bob").await;
    let admin = app.admin_token().await;

    let as_admin = app.get_as("/api/users", &admin).expect_json().await;
    let items = as_admin["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{as_admin}");
    for user in items {
        let name = user["username"].as_str().unwrap();
        assert_user_shape(user, Some(&format!("{name}@example.com")));
    }

    let as_alice = app.get_as("/api/users", &alice_token).expect_json().await;
    let items = as_alice["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{as_alice}");
    for user in items {
        if user["id"] == alice["id"] {
            assert_user_shape(user, Some("alice@example.com"));
        } else {
            assert_user_shape(user, None);
        }
    }

    let bob_to_admin = app.get_as(&path_of(&bob), &admin).expect_json().await;
    assert_user_shape(&bob_to_admin, Some("bob@example.com"));
    let bob_to_alice = app.get_as(&path_of(&bob), &alice_token).expect_json().await;
    assert_user_shape(&bob_to_alice, None);
}

#[tokio::test]
async fn disabling_an_account_revokes_its_tokens_at_once() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    let second = app.token_for("bob", PASSWORD).await;
    let admin = app.admin_token().await;
    let disabled = app
        .patch_as(&path_of(&bob), &admin)
        .json(&json!({ "disabled": true }))
        .expect_json()
        .await;
    assert_eq!(disabled["disabled"], true, "{disabled}");
    for dead in [&bob_token, &second] {
        app.assert_token_refused(dead).await;
        app.get_as("/api/tokens", dead).refused(INVALID_TOKEN).await;
    }
    // The admin still sees the account, marked disabled.
    let seen = app.get_as(&path_of(&bob), &admin).expect_json().await;
    assert_eq!(seen["disabled"], true, "{seen}");
}

#[tokio::test]
async fn a_disabled_accounts_password_fails_exactly_like_a_wrong_password() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, _) = app.user_with_token("bob").await;
    app.register("alice", PASSWORD).await;
    let admin = app.admin_token().await;
    app.patch_as(&path_of(&bob), &admin)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;

    let disabled = app.try_issue_token("bob", PASSWORD).await;
    let wrong_password = app.try_issue_token("alice", "not alices password").await;
    let unknown_user = app.try_issue_token("nobody", PASSWORD).await;
    assert_eq!(disabled.fingerprint(), wrong_password.fingerprint());
    assert_eq!(disabled.fingerprint(), unknown_user.fingerprint());
    disabled.refused(INVALID_CREDENTIALS);

    let disabled = app.get("/api/me").password("bob").send().await;
    let wrong_password = app
        .get("/api/me")
        .basic("alice", "not alices password")
        .send()
        .await;
    assert_eq!(disabled.fingerprint(), wrong_password.fingerprint());
    disabled.refused(INVALID_CREDENTIALS);

    let disabled = app
        .post("/api/tokens")
        .json(&json!({ "username": "bob@example.com", "password": PASSWORD }))
        .send()
        .await;
    let unknown_user = app
        .post("/api/tokens")
        .json(&json!({ "username": "nobody@example.com", "password": PASSWORD }))
        .send()
        .await;
    assert_eq!(disabled.fingerprint(), unknown_user.fingerprint());
    disabled.refused(INVALID_CREDENTIALS);
}

#[tokio::test]
async fn re_enabling_an_account_lets_its_password_log_in_again() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, old_token) = app.user_with_token("bob").await;
    let admin = app.admin_token().await;
    app.patch_as(&path_of(&bob), &admin)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;
    app.try_issue_token("bob", PASSWORD)
        .await
        .refused(INVALID_CREDENTIALS);
    let enabled = app
        .patch_as(&path_of(&bob), &admin)
        .json(&json!({ "disabled": false }))
        .expect_json()
        .await;
    assert_eq!(enabled["disabled"], false, "{enabled}");
    let token = secret(&app.issue_token("bob", PASSWORD).await);
    app.assert_token_accepted(&token).await;
    // Tokens revoked by the disable stay revoked.
    app.assert_token_refused(&old_token).await;
}

#[tokio::test]
async fn an_admin_may_revoke_every_token_of_any_user() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, first) = app.user_with_token("bob").await;
    let second = app.token_for("bob", PASSWORD).await;
    let (_, alice_token) = app.user_with_token("alice").await;
    let admin = app.admin_token().await;
    let response = app
        .delete_as(&format!("{}/tokens", path_of(&bob)), &admin)
        .expect(204)
        .await;
    assert!(response.body.is_empty());
    for dead in [first, second] {
        app.assert_token_refused(&dead).await;
    }
    // Only bob's tokens: the admin's and alice's live on, and bob may log in.
    for live in [&admin, &alice_token] {
        app.assert_token_accepted(live).await;
    }
    app.issue_token("bob", PASSWORD).await;
    app.delete_as("/api/users/999999/tokens", &admin)
        .refused(NOT_FOUND)
        .await;
}

#[tokio::test]
async fn a_user_may_revoke_every_token_of_their_own() {
    let app = TestServer::spawn().await;
    let (alice, first) = app.user_with_token("alice").await;
    let second = app.token_for("alice", PASSWORD).await;
    app.delete_as(&format!("{}/tokens", path_of(&alice)), &first)
        .expect(204)
        .await;
    // Every one, the token the request was made with included.
    for dead in [first, second] {
        app.assert_token_refused(&dead).await;
    }
    let third = app.token_for("alice", PASSWORD).await;
    app.delete(&format!("{}/tokens", path_of(&alice)))
        .password("alice")
        .expect(204)
        .await;
    app.assert_token_refused(&third).await;
}

#[tokio::test]
async fn a_non_admin_may_not_revoke_another_users_tokens() {
    let app = TestServer::spawn().await;
    let (alice, alice_token) = app.user_with_token("alice").await;
    let (_, bob_token) = app.user_with_token("bob").await;
    let path = format!("{}/tokens", path_of(&alice));
    app.delete_as(&path, &bob_token).refused(FORBIDDEN).await;
    app.delete(&path).password("bob").refused(FORBIDDEN).await;
    app.assert_token_accepted(&alice_token).await;
}

#[tokio::test]
async fn revoking_with_others_true_kills_every_token_but_the_current_one() {
    let app = TestServer::spawn().await;
    let (_, kept) = app.user_with_token("alice").await;
    let others = [
        app.token_for("alice", PASSWORD).await,
        app.token_for("alice", PASSWORD).await,
    ];
    let (_, bob_token) = app.user_with_token("bob").await;
    let response = app
        .delete_as("/api/tokens?others=true", &kept)
        .expect(204)
        .await;
    assert!(response.body.is_empty());
    app.assert_token_accepted(&kept).await;
    for dead in &others {
        app.assert_token_refused(dead).await;
    }
    let listed = app.get_as("/api/tokens", &kept).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["current"], true);
    // Another user's tokens are not the caller's "others".
    app.assert_token_accepted(&bob_token).await;
}
