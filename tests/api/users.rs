//! `/api/users`, `/api/users/{id}` and `/api/me`: registration, reading,
//! changing and deleting accounts, and the password length rules.

use crate::support::{
    EMAIL_TAKEN, FORBIDDEN, INVALID_CREDENTIALS, INVALID_REQUEST, NOT_FOUND, PASSWORD, TestServer,
    assert_problems, assert_rfc3339_utc, assert_user_shape, id_of, path_of,
};
use serde_json::{Value, json};

/// The password the change tests move alice to.
const NEW_PASSWORD: &str = "a brand new secret";

/// A PATCH body that changes the password from [`PASSWORD`] to
/// [`NEW_PASSWORD`].
fn password_change() -> Value {
    json!({ "password": NEW_PASSWORD, "current_password": PASSWORD })
}

/// Passwords from 10 to 12 characters, where the defaults allow 8 to 1024.
fn passwords_of_10_to_12_characters(cfg: &mut latchkey::config::Config) {
    cfg.password.min_length = 10;
    cfg.password.max_length = 12;
}

/// A server where alice is registered without email and holds `N` tokens;
/// returns it, alice's path and the tokens.
async fn alice_with_tokens<const N: usize>() -> (TestServer, String, [String; N]) {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let mut tokens = Vec::new();
    for _ in 0..N {
        tokens.push(app.token_for("alice", PASSWORD).await);
    }
    (app, path_of(&alice), tokens.try_into().unwrap())
}

#[tokio::test]
async fn registration_returns_201_with_the_user_and_its_location() {
    let app = TestServer::spawn().await;
    let response = app
        .try_register_with_email("alice", PASSWORD, "alice@example.com")
        .await
        .assert_status(201);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let user = response.json();
    let id = id_of(&user);
    assert_user_shape(&user, Some("alice@example.com"));
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    let created = assert_rfc3339_utc(&user["created_at"]);
    let age = time::OffsetDateTime::now_utc() - created;
    assert!(
        age.whole_seconds().abs() < 60,
        "created_at {created} is not now"
    );
    let location = format!("/api/users/{id}");
    assert_eq!(response.header("location"), Some(location.as_str()));
    assert_eq!(user["_links"]["self"], location);
}

#[tokio::test]
async fn registration_without_email_is_accepted() {
    let app = TestServer::spawn().await;
    let user = app.register("alice", PASSWORD).await;
    assert_eq!(user["username"], "alice");
    assert!(user["email"].is_null(), "{user}");
}

#[tokio::test]
async fn user_seen_by_another_user_has_no_email() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    app.register("bob", PASSWORD).await;
    let seen = app.get_json_with_password(&path_of(&alice), "bob").await;
    assert_user_shape(&seen, None);
    assert_eq!(seen["id"], alice["id"]);
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["created_at"], alice["created_at"]);
    assert_eq!(seen["_links"]["self"], alice["_links"]["self"]);
}

#[tokio::test]
async fn user_seen_by_themselves_includes_email() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    let seen = app.get_as(&path_of(&alice), &token).expect_json().await;
    assert_eq!(seen, alice);
}

#[tokio::test]
async fn me_returns_the_caller_with_email_for_password_and_token() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    let by_password = app.me_basic("alice", PASSWORD).await;
    let by_token = app.me(&token).await;
    assert_user_shape(&by_password, Some("alice@example.com"));
    assert_eq!(by_password, alice);
    assert_eq!(by_token, alice);
}

#[tokio::test]
async fn no_response_ever_contains_the_password_or_its_hash() {
    let app = TestServer::spawn().await;
    let created = app
        .try_register_with_email("alice", PASSWORD, "a@example.com")
        .await
        .assert_status(201);
    let id = id_of(&created.json());
    let path = format!("/api/users/{id}");
    let token = app.token_for("alice", PASSWORD).await;
    let responses = [
        created,
        app.get_as("/api/me", &token).send().await,
        app.get_as(&path, &token).send().await,
        app.get_as("/api/users", &token).send().await,
        app.patch_as(&path, &token)
            .json(&json!({ "email": "b@example.com", "current_password": PASSWORD }))
            .send()
            .await,
    ];
    for response in responses {
        let text = response.assert_status_in(&[200, 201]).text();
        assert!(!text.contains("scrypt"), "{text}");
        assert!(!text.contains("password"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[tokio::test]
async fn get_of_an_unknown_user_is_404() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let unknown = app.get("/api/users/999999").password("alice");
    unknown.refused(NOT_FOUND).await;
}

#[tokio::test]
async fn patch_changes_the_email_and_returns_the_user() {
    let app = TestServer::spawn().await;
    let alice = app
        .register_with_email("alice", PASSWORD, "old@example.com")
        .await;
    let path = path_of(&alice);
    let updated = app
        .patch(&path)
        .password("alice")
        .json(&json!({ "email": "new@example.com", "current_password": PASSWORD }))
        .expect_json()
        .await;
    assert_eq!(updated["email"], "new@example.com");
    assert_eq!(updated["id"], alice["id"]);
    assert_eq!(updated["username"], "alice");
    assert_user_shape(&updated, Some("new@example.com"));
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["email"], "new@example.com");
    // The new email logs in; the old one no longer does.
    app.post("/api/tokens")
        .json(&json!({ "username": "new@example.com", "password": PASSWORD }))
        .expect(200)
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": "old@example.com", "password": PASSWORD }))
        .refused(INVALID_CREDENTIALS)
        .await;
}

#[tokio::test]
async fn patch_changes_the_password() {
    let (app, path, []) = alice_with_tokens().await;
    let change = app.patch(&path).password("alice").json(&password_change());
    change.expect(200).await;
    app.assert_password_refused("alice", PASSWORD).await;
    app.me_basic("alice", NEW_PASSWORD).await;
}

#[tokio::test]
async fn password_change_with_a_token_keeps_that_token_and_revokes_the_others() {
    let (app, path, [kept, other, third]) = alice_with_tokens().await;
    let change = app.patch_as(&path, &kept).json(&password_change());
    change.expect(200).await;
    app.assert_token_accepted(&kept).await;
    for dead in [other, third] {
        app.assert_token_refused(&dead).await;
    }
    let listed = app.get_as("/api/tokens", &kept).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["current"], true);
}

#[tokio::test]
async fn password_change_with_basic_auth_revokes_every_token() {
    let (app, path, [first, second]) = alice_with_tokens().await;
    let change = app.patch(&path).password("alice").json(&password_change());
    change.expect(200).await;
    for dead in [first, second] {
        app.assert_token_refused(&dead).await;
    }
    let listed = app.get("/api/tokens").basic("alice", NEW_PASSWORD);
    assert_eq!(listed.expect_json().await["items"], json!([]));
}

#[tokio::test]
async fn changing_only_the_email_keeps_every_token() {
    let (app, path, [first, second]) = alice_with_tokens().await;
    let email = json!({ "email": "alice@example.com", "current_password": PASSWORD });
    app.patch_as(&path, &first).json(&email).expect(200).await;
    for live in [first, second] {
        app.assert_token_accepted(&live).await;
    }
}

#[tokio::test]
async fn patch_of_another_users_account_is_forbidden() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let bob_token = app.register_and_issue_token("bob").await;
    let path = path_of(&alice);
    let password = json!({ "password": "taken over by bob" });
    let email = json!({ "email": "bob@example.com" });
    assert_problems([
        (app.patch(&path).password("bob").json(&password), FORBIDDEN),
        (app.patch_as(&path, &bob_token).json(&email), FORBIDDEN),
    ])
    .await;
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn delete_of_another_users_account_is_forbidden() {
    let (app, path, [alice_token]) = alice_with_tokens().await;
    let bob_token = app.register_and_issue_token("bob").await;
    assert_problems([
        (app.delete(&path).password("bob"), FORBIDDEN),
        (app.delete_as(&path, &bob_token), FORBIDDEN),
    ])
    .await;
    app.me(&alice_token).await;
}

#[tokio::test]
async fn patch_and_delete_of_a_nonexistent_user_are_404() {
    let (app, token) = TestServer::with_token("alice").await;
    let unknown = "/api/users/999999";
    let email = json!({ "email": "x@example.com" });
    assert_problems([
        (app.patch_as(unknown, &token).json(&email), NOT_FOUND),
        (app.delete_as(unknown, &token), NOT_FOUND),
    ])
    .await;
}

#[tokio::test]
async fn deleting_your_account_returns_204_and_kills_its_tokens_and_password() {
    let (app, path, [used, other]) = alice_with_tokens().await;
    let response = app.delete_as(&path, &used).expect(204).await;
    assert!(response.body.is_empty());
    for dead in [used, other] {
        app.assert_token_refused(&dead).await;
    }
    app.assert_password_refused("alice", PASSWORD).await;
}

#[tokio::test]
async fn deleting_your_account_with_a_password_works_too() {
    let (app, path, [token]) = alice_with_tokens().await;
    app.delete(&path).password("alice").expect(204).await;
    app.assert_token_refused(&token).await;
}

#[tokio::test]
async fn a_deleted_user_is_404_to_others() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    app.register("bob", PASSWORD).await;
    let path = path_of(&alice);
    app.delete(&path).password("alice").expect(204).await;
    assert_problems([
        (app.get(&path).password("bob"), NOT_FOUND),
        (app.delete(&path).password("bob"), NOT_FOUND),
    ])
    .await;
}

#[tokio::test]
async fn registering_a_taken_email_is_409_email_taken() {
    let app = TestServer::spawn().await;
    app.register_with_email("alice", PASSWORD, "shared@example.com")
        .await;
    app.post("/api/users")
        .json(&json!({ "username": "bob", "password": PASSWORD, "email": "shared@example.com" }))
        .refused(EMAIL_TAKEN)
        .await;
    // The failed registration left no trace: bob is still free.
    app.register("bob", PASSWORD).await;
}

#[tokio::test]
async fn changing_to_a_taken_email_is_409_email_taken() {
    let app = TestServer::spawn().await;
    app.register_with_example_email("alice").await;
    let bob = app.register_with_example_email("bob").await;
    let email = json!({ "email": "alice@example.com", "current_password": PASSWORD });
    let change = app.patch(&path_of(&bob)).password("bob").json(&email);
    change.refused(EMAIL_TAKEN).await;
    let me = app.me_basic("bob", PASSWORD).await;
    assert_eq!(me["email"], "bob@example.com");
}

#[tokio::test]
async fn passwords_outside_the_length_limits_are_refused_at_registration() {
    let app = TestServer::spawn().await;
    let too_long = "x".repeat(1025);
    for bad in ["", "short", "7 chars", too_long.as_str()] {
        app.post("/api/users")
            .json(&json!({ "username": "alice", "password": bad }))
            .refused(INVALID_REQUEST)
            .await;
    }
    app.register("alice", "8 chars!").await;
    app.register("bob", &"x".repeat(1024)).await;
}

#[tokio::test]
async fn configured_password_limits_are_enforced() {
    let app = TestServer::spawn_with(passwords_of_10_to_12_characters).await;
    for bad in ["k7#mQ2vR9", "k7#mQ2vR9pZz1"] {
        app.post("/api/users")
            .json(&json!({ "username": "alice", "password": bad }))
            .refused(INVALID_REQUEST)
            .await;
    }
    app.register("alice", "k7#mQ2vR9p").await;
    app.register("bob", "k7#mQ2vR9pZz").await;
}

#[tokio::test]
async fn passwords_outside_the_length_limits_are_refused_on_change() {
    let (app, path, []) = alice_with_tokens().await;
    for bad in ["short", &"x".repeat(1025)] {
        let change = json!({ "password": bad, "current_password": PASSWORD });
        let refused = app.patch(&path).password("alice").json(&change);
        refused.refused(INVALID_REQUEST).await;
    }
    app.me_basic("alice", PASSWORD).await;
}
